package dev.lorastream.engine.config;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.UnsupportedArchitectureException;
import dev.lorastream.engine.tensor.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelConfigTest {

  /** Meta-Llama-3.1-8B's config.json. */
  static final String LLAMA31_8B =
      """
      {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
       "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096,
       "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
       "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
       "rms_norm_eps": 1e-05,
       "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                        "original_max_position_embeddings": 8192, "rope_type": "llama3"},
       "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true,
       "vocab_size": 128256}
      """;

  /** Qwen2.5-0.5B's config.json. */
  static final String QWEN25_05B =
      """
      {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
       "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
       "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
       "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
       "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
       "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936}
      """;

  /** Mistral-7B-v0.3's config.json. */
  static final String MISTRAL_V03 =
      """
      {"architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
       "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
       "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
       "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
       "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 32768}
      """;

  @TempDir Path tmp;

  private Path dirWith(String configJson) throws IOException {
    Files.writeString(tmp.resolve("config.json"), configJson);
    return tmp;
  }

  private static void assertMentions(Throwable e, String... parts) {
    for (String p : parts) {
      assertTrue(e.getMessage().contains(p), "message lacks '" + p + "': " + e.getMessage());
    }
  }

  @Test
  void parsesLlama31ConfigWithLlama3RopeScaling() throws Exception {
    ModelConfig c = ModelConfig.load(dirWith(LLAMA31_8B));

    assertEquals("LlamaForCausalLM", c.architecture());
    assertEquals(128256, c.vocabSize());
    assertEquals(4096, c.hiddenSize());
    assertEquals(14336, c.intermediateSize());
    assertEquals(32, c.numLayers());
    assertEquals(32, c.numHeads());
    assertEquals(8, c.numKvHeads());
    assertEquals(128, c.headDim());
    assertEquals(1e-5f, c.rmsNormEps());
    assertEquals(500000.0, c.ropeTheta());
    assertEquals(new RopeScaling("llama3", 8, 1, 4, 8192), c.ropeScaling());
    assertEquals(131072, c.maxPositionEmbeddings());
    assertFalse(c.tieWordEmbeddings());
    assertFalse(c.qkvBias());
    assertEquals(128000, c.bosTokenId());
    assertArrayEquals(new int[] {128001, 128008, 128009}, c.eosTokenIds());
    assertEquals(DType.BF16, c.dtype());
  }

  @Test
  void llama3RopeKeepsHighDividesLowAndSmoothsMediumFrequencies() throws Exception {
    float[] inv = ModelConfig.load(dirWith(LLAMA31_8B)).ropeInvFreq();

    // Reference values computed in double: 1/500000^(2i/128), wavelen = 2π/inv, low/high wavelens
    // 8192/2048.
    assertEquals(64, inv.length);
    assertEquals(1.0f, inv[0]); // wavelen 6.3 < 2048: unchanged
    assertEquals(0.016560440080994446, inv[20], 1e-6 * 0.01656); // wavelen 379: unchanged
    // i=30: wavelen 2948 is between 2048 and 8192, smooth = (8192/2948 - 1)/3 = 0.5928
    assertEquals(0.0013718935677611381, inv[30], 1e-6 * 0.00137);
    // i=63: wavelen 2.6e7 > 8192: 1/500000^(126/128) / 8
    assertEquals(3.068925988914511e-07, inv[63], 1e-6 * 3.07e-7);
  }

  @Test
  void parsesQwen2ConfigWithQkvBiasTiedEmbeddingsAndScalarEos() throws Exception {
    ModelConfig c = ModelConfig.load(dirWith(QWEN25_05B));

    assertEquals("Qwen2ForCausalLM", c.architecture());
    assertTrue(c.qkvBias());
    assertTrue(c.tieWordEmbeddings());
    assertEquals(64, c.headDim()); // 896 / 14
    assertEquals(2, c.numKvHeads());
    assertEquals(7, c.groupSize());
    assertArrayEquals(new int[] {151643}, c.eosTokenIds());
    assertNull(c.ropeScaling());
    float[] inv = c.ropeInvFreq();
    assertEquals(32, inv.length);
    assertEquals(0.6493816315762113, inv[1], 1e-6); // 1e6^(-2/64)
  }

  @Test
  void parsesMistralWithNullSlidingWindow() throws Exception {
    ModelConfig c = ModelConfig.load(dirWith(MISTRAL_V03));

    assertEquals("MistralForCausalLM", c.architecture());
    assertEquals(32768, c.vocabSize());
    assertEquals(1, c.bosTokenId());
    assertArrayEquals(new int[] {2}, c.eosTokenIds());
    assertFalse(c.qkvBias());
  }

  @Test
  void refusesMistralSlidingWindowSmallerThanContext() throws Exception {
    Path dir = dirWith(MISTRAL_V03.replace("\"sliding_window\": null", "\"sliding_window\": 4096"));
    var e = assertThrows(UnsupportedArchitectureException.class, () -> ModelConfig.load(dir));
    assertMentions(
        e,
        dir.resolve("config.json").toString(),
        "sliding_window=4096",
        "max_position_embeddings=32768");
  }

  @Test
  void refusesUnsupportedArchitectureNamingItAndTheSupportedOnes() throws Exception {
    Path dir = dirWith(LLAMA31_8B.replace("LlamaForCausalLM", "GPT2LMHeadModel"));
    var e = assertThrows(UnsupportedArchitectureException.class, () -> ModelConfig.load(dir));
    assertMentions(
        e,
        dir.resolve("config.json").toString(),
        "'GPT2LMHeadModel'",
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "Qwen2ForCausalLM");
  }

  @Test
  void refusesRopeTypesOtherThanDefaultAndLlama3() throws Exception {
    Path dir = dirWith(LLAMA31_8B.replace("\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\""));
    var e = assertThrows(UnsupportedArchitectureException.class, () -> ModelConfig.load(dir));
    assertMentions(e, "config.json", "rope_scaling type 'yarn'");
  }

  @Test
  void defaultsKvHeadsHeadDimDtypeAndTokensWhenAbsent() throws Exception {
    ModelConfig c =
        ModelConfig.load(
            dirWith(
                """
                {"architectures": ["LlamaForCausalLM"], "vocab_size": 32, "hidden_size": 16,
                 "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "rope_scaling": {"rope_type": "default"}}
                """));

    assertEquals(4, c.numKvHeads());
    assertEquals(4, c.headDim());
    assertEquals(DType.F32, c.dtype());
    assertEquals(-1, c.bosTokenId());
    assertArrayEquals(new int[0], c.eosTokenIds());
    assertEquals(10000.0, c.ropeTheta());
    assertNull(c.ropeScaling());
    assertArrayEquals(new float[] {1f, 0.01f}, c.ropeInvFreq()); // 10000^(0), 10000^(-2/4)
  }

  @Test
  void refusesHeadsThatAreNotAMultipleOfKvHeads() throws Exception {
    Path dir =
        dirWith(LLAMA31_8B.replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5"));
    var e = assertThrows(ModelFormatException.class, () -> ModelConfig.load(dir));
    assertMentions(
        e, "config.json", "num_attention_heads=32 is not a multiple of num_key_value_heads=5");
  }

  @Test
  void missingConfigNamesTheExpectedFile() {
    var e = assertThrows(ModelFormatException.class, () -> ModelConfig.load(tmp));
    assertMentions(e, tmp.resolve("config.json").toString(), "not found");
  }
}
