package dev.lorastream.engine.lora;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.io.TestSafetensors;
import dev.lorastream.engine.tensor.DType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/** Builds tiny PEFT adapter directories for tests. */
final class TestAdapters {

  /**
   * 2 layers, hidden 8, 2 heads of 4, 1 kv head, intermediate 12: q 8→8, k/v 8→4, o 8→8, gate/up
   * 8→12, down 12→8.
   */
  static final ModelConfig TINY =
      new ModelConfig(
          "LlamaForCausalLM",
          16,
          8,
          12,
          2,
          2,
          1,
          4,
          1e-5f,
          10000,
          null,
          64,
          false,
          false,
          1,
          new int[] {2},
          DType.F32);

  private TestAdapters() {}

  /**
   * A PEFT adapter_config.json; {@code extra} is spliced in as further keys (e.g. {@code
   * "use_dora": true}).
   */
  static String config(int r, double alpha, String targetModules, String extra) {
    return "{\"peft_type\": \"LORA\", \"task_type\": \"CAUSAL_LM\", \"r\": "
        + r
        + ", \"lora_alpha\": "
        + alpha
        + ", \"lora_dropout\": 0.05, \"bias\": \"none\", \"base_model_name_or_path\": \"tiny-llama\","
        + " \"target_modules\": "
        + targetModules
        + (extra.isEmpty() ? "" : ", " + extra)
        + "}";
  }

  /** Element {@code i} of a factor: small integers and halves, exact in F16 and BF16. */
  static float value(int layer, Proj p, boolean isA, int i) {
    return ((layer * 7 + p.ordinal() * 3 + (isA ? 0 : 5) + i) % 11 - 5) * 0.5f;
  }

  static float[] factor(int layer, Proj p, boolean isA, int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = value(layer, p, isA, i);
    }
    return v;
  }

  static String key(int layer, Proj p, String ab) {
    return "base_model.model." + p.moduleName(layer) + ".lora_" + ab + ".weight";
  }

  /**
   * Canonical PEFT weights: A {@code [r, in]}, B {@code [out, r]} for every layer of every target.
   */
  static TestSafetensors weights(ModelConfig m, int r, Set<Proj> targets, DType dtype) {
    TestSafetensors st = new TestSafetensors();
    for (int l = 0; l < m.numLayers(); l++) {
      for (Proj p : targets) {
        put(st, dtype, key(l, p, "A"), factor(l, p, true, r * p.inDim(m)), r, p.inDim(m));
        put(st, dtype, key(l, p, "B"), factor(l, p, false, p.outDim(m) * r), p.outDim(m), r);
      }
    }
    return st;
  }

  static void put(TestSafetensors st, DType dtype, String name, float[] v, int... shape) {
    switch (dtype) {
      case F32 -> st.f32(name, v, shape);
      case F16 -> st.f16(name, v, shape);
      case BF16 -> st.bf16(name, v, shape);
    }
  }

  static Path write(Path dir, String configJson, TestSafetensors weights) {
    try {
      Files.createDirectories(dir);
      Files.writeString(dir.resolve(AdapterConfig.FILE_NAME), configJson);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (weights != null) {
      weights.write(dir.resolve(LoraAdapter.WEIGHTS_FILE));
    }
    return dir;
  }
}
