package dev.lorastream.engine.lora;

import static dev.lorastream.engine.lora.TestAdapters.TINY;
import static dev.lorastream.engine.lora.TestAdapters.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.UnsupportedAdapterException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AdapterConfigTest {

  @TempDir Path tmp;

  private AdapterConfig load(String json) {
    return AdapterConfig.load(TestAdapters.write(tmp, json, null), TINY);
  }

  private UnsupportedAdapterException refused(String json) {
    return assertThrows(UnsupportedAdapterException.class, () -> load(json));
  }

  private void assertMentions(Throwable e, String... parts) {
    assertTrue(
        e.getMessage().contains(tmp.resolve("adapter_config.json").toString()), e.getMessage());
    for (String p : parts) {
      assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
    }
  }

  @Test
  void parsesAPlainLoraConfigWithScaleAlphaOverR() {
    AdapterConfig c = load(config(4, 16, "[\"q_proj\", \"v_proj\"]", ""));

    assertEquals(4, c.r());
    assertEquals(16.0, c.loraAlpha());
    assertEquals(EnumSet.of(Proj.Q, Proj.V), c.targets());
    assertFalse(c.useRslora());
    assertFalse(c.fanInFanOut());
    assertEquals("tiny-llama", c.baseModel());
    assertEquals(4.0, c.scale());
  }

  @Test
  void declaredReadsRankAndBaseModelWithoutAModel() {
    Path dir = TestAdapters.write(tmp, config(4, 16, "[\"q_proj\"]", ""), null);
    assertEquals(new AdapterConfig.Declared(4, "tiny-llama"), AdapterConfig.declared(dir));
  }

  @Test
  void declaredRefusesWhatLoadRefuses() {
    Path dora = TestAdapters.write(tmp, config(4, 16, "[\"q_proj\"]", "\"use_dora\": true"), null);
    assertMentions(
        assertThrows(UnsupportedAdapterException.class, () -> AdapterConfig.declared(dora)),
        "DoRA");
    Path rank0 = TestAdapters.write(tmp, config(0, 16, "[\"q_proj\"]", ""), null);
    assertMentions(
        assertThrows(UnsupportedAdapterException.class, () -> AdapterConfig.declared(rank0)),
        "r=0 must be > 0");
    Path noTargets = TestAdapters.write(tmp, "{\"r\": 4}", null);
    assertMentions(
        assertThrows(ModelFormatException.class, () -> AdapterConfig.declared(noTargets)),
        "target_modules is missing");
  }

  @Test
  void rsloraScalesByAlphaOverSqrtR() {
    AdapterConfig c = load(config(4, 16, "[\"q_proj\"]", "\"use_rslora\": true"));
    assertEquals(8.0, c.scale()); // 16 / sqrt(4)
  }

  @Test
  void regexTargetModulesAreFullMatchedAgainstModuleNames() {
    assertEquals(
        EnumSet.of(Proj.Q, Proj.V), load(config(2, 2, "\".*\\\\.(q_proj|v_proj)\"", "")).targets());
    assertEquals(
        EnumSet.of(Proj.GATE, Proj.UP, Proj.DOWN),
        load(config(2, 2, "\"model\\\\.layers\\\\.\\\\d+\\\\.mlp\\\\..*\"", "")).targets());
    // "q_proj" alone does not full-match "model.layers.0.self_attn.q_proj"
    var e = refused(config(2, 2, "\"q_proj\"", ""));
    assertMentions(e, "matches none of the model's projections", "q_proj", "down_proj");
  }

  @Test
  void allLinearTargetsEveryProjection() {
    assertEquals(EnumSet.allOf(Proj.class), load(config(2, 2, "\"all-linear\"", "")).targets());
  }

  @Test
  void listEntriesMatchByDottedSuffixAndExcludeModulesApply() {
    AdapterConfig c =
        load(
            config(
                2,
                2,
                "[\"self_attn.q_proj\", \"mlp.down_proj\", \"k_proj\"]",
                "\"exclude_modules\": [\"k_proj\"]"));
    assertEquals(Set.of(Proj.Q, Proj.DOWN), c.targets());
  }

  @Test
  void refusesTargetModuleThatDoesNotExistNamingItAndTheExistingOnes() {
    var e = refused(config(2, 2, "[\"q_proj\", \"qkv_proj\"]", ""));
    assertMentions(
        e,
        "'qkv_proj' does not exist",
        "[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]");
  }

  @Test
  void refusesDora() {
    assertMentions(
        refused(config(2, 2, "[\"q_proj\"]", "\"use_dora\": true")), "DoRA (use_dora: true)");
  }

  @Test
  void refusesLoraBias() {
    String json =
        config(2, 2, "[\"q_proj\"]", "").replace("\"bias\": \"none\"", "\"bias\": \"lora_only\"");
    assertMentions(refused(json), "LoRA bias", "lora_only");
  }

  @Test
  void refusesLmHeadAndEmbeddingTargets() {
    assertMentions(refused(config(2, 2, "[\"q_proj\", \"lm_head\"]", "")), "target module lm_head");
    assertMentions(
        refused(config(2, 2, "[\"embed_tokens\", \"q_proj\"]", "")),
        "target module model.embed_tokens");
    assertMentions(refused(config(2, 2, "\".*(q_proj|lm_head)\"", "")), "target module lm_head");
  }

  @Test
  void refusesModulesToSaveAndPerLayerPatterns() {
    assertMentions(
        refused(config(2, 2, "[\"q_proj\"]", "\"modules_to_save\": [\"lm_head\"]")),
        "modules_to_save");
    assertMentions(
        refused(config(2, 2, "[\"q_proj\"]", "\"rank_pattern\": {\"q_proj\": 8}")),
        "rank_pattern",
        "not supported yet");
    assertMentions(
        refused(config(2, 2, "[\"q_proj\"]", "\"layers_to_transform\": [0]")),
        "layers_to_transform");
    assertMentions(
        refused(config(2, 2, "[\"layers.0.self_attn.q_proj\"]", "")), "only in layers [0] of 2");
  }

  @Test
  void emptyPatternsAndNullModulesToSaveAreAccepted() {
    AdapterConfig c =
        load(
            config(
                2,
                2,
                "[\"q_proj\"]",
                "\"rank_pattern\": {}, \"alpha_pattern\": {}, \"modules_to_save\": null, \"layers_to_transform\": null"));
    assertEquals(Set.of(Proj.Q), c.targets());
  }

  @Test
  void refusesOtherPeftTypesAndNonPositiveRank() {
    String ia3 =
        config(2, 2, "[\"q_proj\"]", "")
            .replace("\"peft_type\": \"LORA\"", "\"peft_type\": \"IA3\"");
    assertMentions(refused(ia3), "peft_type IA3");
    assertMentions(refused(config(0, 2, "[\"q_proj\"]", "")), "r=0");
  }

  @Test
  void regexThatBacktracksWithoutBoundIsRefusedNamingTheField() {
    // about 3^31 steps per module name without a budget; refused after ModuleRegex.MAX_STEPS reads
    var e = assertThrows(ModelFormatException.class, () -> load(config(2, 2, "\"((.+)+)+x\"", "")));
    assertMentions(
        e,
        "target_modules regex \"((.+)+)+x\" takes more than 10000000 steps to match the model's"
            + " module names");
    var ex =
        assertThrows(
            ModelFormatException.class,
            () -> load(config(2, 2, "[\"q_proj\"]", "\"exclude_modules\": \"((.+)+)+x\"")));
    assertMentions(ex, "exclude_modules regex \"((.+)+)+x\" takes more than");
  }

  @Test
  void overlongRegexIsRefused() {
    String regex = "q_proj|".repeat(143) + "v_proj"; // 1007 characters
    var e =
        assertThrows(ModelFormatException.class, () -> load(config(2, 2, "\"" + regex + "\"", "")));
    assertMentions(e, "target_modules regex is 1007 characters long (at most 1000)");
  }

  @Test
  void invalidRegexIsRefusedNamingIt() {
    var e = assertThrows(ModelFormatException.class, () -> load(config(2, 2, "\"(q_proj\"", "")));
    assertMentions(e, "target_modules regex \"(q_proj\" is invalid: Unclosed group");
  }

  @Test
  void loraAlphaThatOverflowsToInfinityIsRefused() {
    String json =
        config(2, 2, "[\"q_proj\"]", "").replace("\"lora_alpha\": 2.0", "\"lora_alpha\": 1e999");
    var e = assertThrows(ModelFormatException.class, () -> load(json));
    assertMentions(e, "lora_alpha Infinity is not a finite number (too large for a double)");
  }

  @Test
  void configThatIsNotStrictUtf8IsRefusedInsteadOfDecodedLeniently() throws IOException {
    // C1 9F is an overlong '_': a lenient decoder reads "q_proj" and serves the adapter
    byte[] json = config(2, 2, "[\"q__proj\"]", "").getBytes(StandardCharsets.UTF_8);
    int at = new String(json, StandardCharsets.ISO_8859_1).indexOf("q__proj") + 1;
    json[at] = (byte) 0xc1;
    json[at + 1] = (byte) 0x9f;
    Path dir = TestAdapters.write(tmp, "{}", null);
    Files.write(dir.resolve(AdapterConfig.FILE_NAME), json);
    var e = assertThrows(ModelFormatException.class, () -> AdapterConfig.load(dir, TINY));
    assertMentions(e, "is not valid UTF-8: byte " + at + " (0xc1) starts a malformed sequence");
  }

  @Test
  void utf8ByteOrderMarkIsAccepted() throws IOException {
    byte[] json = config(2, 2, "[\"q_proj\"]", "").getBytes(StandardCharsets.UTF_8);
    Path dir = TestAdapters.write(tmp, "{}", null);
    byte[] withBom = new byte[json.length + 3];
    withBom[0] = (byte) 0xef;
    withBom[1] = (byte) 0xbb;
    withBom[2] = (byte) 0xbf;
    System.arraycopy(json, 0, withBom, 3, json.length);
    Files.write(dir.resolve(AdapterConfig.FILE_NAME), withBom);
    assertEquals(Set.of(Proj.Q), AdapterConfig.load(dir, TINY).targets());
  }
}
