package dev.lorastream.engine.lora;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.lorastream.engine.io.ModelFormatException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Fuzzes the {@code adapter_config.json} parser against the tiny test model: any bytes either give
 * a config the engine can serve (rank > 0, a finite alpha and scale, at least one target, bytes
 * that are strict UTF-8) or are refused with a {@link ModelFormatException} (the consumer's {@code
 * ADAPTER_INVALID}) naming the file. Anything else thrown, and a regex that runs without bound (the
 * fuzzer's timeout), is a finding.
 *
 * <p>The input is the file's bytes. Seeds and the inputs of past findings are in {@code
 * src/test/resources/dev/lorastream/engine/lora/AdapterConfigFuzzTestInputs/configParsing/}.
 * Jazzer's RegexInjection sanitizer is off in this module ({@code junit-platform.properties}):
 * {@code target_modules} is a regex by PEFT's design, and an invalid one is refused.
 */
class AdapterConfigFuzzTest {

  private static final Path FILE = Path.of("fuzz", AdapterConfig.FILE_NAME);

  @FuzzTest
  @DictionaryEntries({
    "\"peft_type\"",
    "\"LORA\"",
    "\"r\"",
    "\"lora_alpha\"",
    "\"target_modules\"",
    "\"exclude_modules\"",
    "\"all-linear\"",
    "\"q_proj\"",
    "\"v_proj\"",
    "\"down_proj\"",
    "\"lm_head\"",
    "\"embed_tokens\"",
    "\"model.layers.\"",
    "\"self_attn\"",
    "\"mlp\"",
    "\"use_rslora\"",
    "\"use_dora\"",
    "\"fan_in_fan_out\"",
    "\"bias\"",
    "\"none\"",
    "\"layers_to_transform\"",
    "\"modules_to_save\"",
    "\"base_model_name_or_path\"",
    "(.+)+",
    "1e999",
    "true"
  })
  void configParsing(byte[] input) {
    AdapterConfig c;
    try {
      c = AdapterConfig.parse(input, FILE, TestAdapters.TINY);
    } catch (ModelFormatException e) {
      assertTrue(e.getMessage().startsWith(FILE.toString()), e.getMessage());
      return;
    }
    assertTrue(c.r() > 0, "rank " + c.r());
    assertTrue(Double.isFinite(c.loraAlpha()), "lora_alpha " + c.loraAlpha());
    assertTrue(Double.isFinite(c.scale()), "scale " + c.scale());
    assertFalse(c.targets().isEmpty());
    assertTrue(isStrictUtf8(input), "an accepted config is strict UTF-8");
  }

  static boolean isStrictUtf8(byte[] bytes) {
    try {
      StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes));
      return true;
    } catch (CharacterCodingException e) {
      return false;
    }
  }
}
