package dev.lorastream.engine.config;

import static dev.lorastream.engine.io.JsonFiles.opt;
import static dev.lorastream.engine.io.JsonFiles.optBool;
import static dev.lorastream.engine.io.JsonFiles.optDouble;
import static dev.lorastream.engine.io.JsonFiles.optInt;
import static dev.lorastream.engine.io.JsonFiles.optString;
import static dev.lorastream.engine.io.JsonFiles.requireInt;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lorastream.engine.io.JsonFiles;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.UnsupportedArchitectureException;
import dev.lorastream.engine.tensor.DType;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The architecture hyper-parameters of a Llama-family model, read from its Hugging Face {@code
 * config.json}.
 *
 * <p>Supports {@code LlamaForCausalLM}, {@code MistralForCausalLM} (without sliding-window
 * attention) and {@code Qwen2ForCausalLM} (q/k/v biases). Everything else is refused on load rather
 * than run wrongly. Immutable; the compact constructor checks the dimensions are consistent.
 *
 * @param architecture one of {@link #SUPPORTED_ARCHITECTURES}
 * @param headDim per-head dimension; defaults to {@code hiddenSize / numHeads}
 * @param ropeScaling llama3 frequency scaling, or {@code null} for plain RoPE
 * @param qkvBias whether q/k/v projections carry a bias (Qwen2)
 * @param bosTokenId -1 when the config has none
 * @param eosTokenIds possibly empty; {@code eos_token_id} may be an int or a list
 * @param dtype the checkpoint's {@code torch_dtype} (F32 when absent)
 */
public record ModelConfig(
    String architecture,
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int numLayers,
    int numHeads,
    int numKvHeads,
    int headDim,
    float rmsNormEps,
    double ropeTheta,
    RopeScaling ropeScaling,
    int maxPositionEmbeddings,
    boolean tieWordEmbeddings,
    boolean qkvBias,
    int bosTokenId,
    int[] eosTokenIds,
    DType dtype) {

  public static final String LLAMA = "LlamaForCausalLM";
  public static final String MISTRAL = "MistralForCausalLM";
  public static final String QWEN2 = "Qwen2ForCausalLM";
  public static final List<String> SUPPORTED_ARCHITECTURES = List.of(LLAMA, MISTRAL, QWEN2);
  public static final String FILE_NAME = "config.json";

  /** transformers' per-architecture defaults for keys a config may omit. */
  private static final Map<String, Integer> DEFAULT_MAX_POSITIONS =
      Map.of(LLAMA, 2048, MISTRAL, 4096 * 32, QWEN2, 32768);

  private static final Map<String, String> ARCH_OF_MODEL_TYPE =
      Map.of("llama", LLAMA, "mistral", MISTRAL, "qwen2", QWEN2);

  public ModelConfig {
    Objects.requireNonNull(architecture, "architecture");
    Objects.requireNonNull(dtype, "dtype");
    eosTokenIds = eosTokenIds == null ? new int[0] : eosTokenIds.clone();
    int[] positive = {
      vocabSize,
      hiddenSize,
      intermediateSize,
      numLayers,
      numHeads,
      numKvHeads,
      headDim,
      maxPositionEmbeddings
    };
    if (Arrays.stream(positive).anyMatch(v -> v <= 0)) {
      throw new IllegalArgumentException(
          "all sizes must be > 0: vocab_size="
              + vocabSize
              + " hidden_size="
              + hiddenSize
              + " intermediate_size="
              + intermediateSize
              + " num_hidden_layers="
              + numLayers
              + " num_attention_heads="
              + numHeads
              + " num_key_value_heads="
              + numKvHeads
              + " head_dim="
              + headDim
              + " max_position_embeddings="
              + maxPositionEmbeddings);
    }
    if (numHeads % numKvHeads != 0) {
      throw new IllegalArgumentException(
          "num_attention_heads="
              + numHeads
              + " is not a multiple of num_key_value_heads="
              + numKvHeads);
    }
    if (headDim % 2 != 0) {
      throw new IllegalArgumentException("head_dim=" + headDim + " must be even for RoPE");
    }
    if (!(rmsNormEps > 0) || !(ropeTheta > 0)) {
      throw new IllegalArgumentException(
          "rms_norm_eps=" + rmsNormEps + " and rope_theta=" + ropeTheta + " must be > 0");
    }
  }

  /**
   * Reads and validates {@code modelDir/config.json}.
   *
   * @throws UnsupportedArchitectureException for architectures or features this engine does not
   *     implement
   * @throws ModelFormatException when the file is missing or inconsistent
   */
  public static ModelConfig load(Path modelDir) {
    Path file = modelDir.resolve(FILE_NAME);
    JsonNode c =
        JsonFiles.readObject(
            file, "expected the Hugging Face config.json of the model in " + modelDir);
    String arch = architecture(c, file);
    refuseUnsupportedFeatures(c, file, arch);
    int hidden = requireInt(c, "hidden_size", file);
    int heads = requireInt(c, "num_attention_heads", file);
    JsonNode ropeParams = opt(c, "rope_parameters"); // transformers >= 4.56 moved rope keys here
    double theta = optDouble(c, "rope_theta", 10000.0, file);
    if (opt(c, "rope_theta") == null && ropeParams != null) {
      theta = optDouble(ropeParams, "rope_theta", theta, file);
    }
    if (opt(c, "head_dim") == null && hidden % heads != 0) {
      throw new ModelFormatException(
          file
              + ": hidden_size="
              + hidden
              + " is not a multiple of num_attention_heads="
              + heads
              + " and no head_dim is given");
    }
    try {
      return new ModelConfig(
          arch,
          requireInt(c, "vocab_size", file),
          hidden,
          requireInt(c, "intermediate_size", file),
          requireInt(c, "num_hidden_layers", file),
          heads,
          optInt(c, "num_key_value_heads", heads, file),
          optInt(c, "head_dim", hidden / heads, file),
          (float) optDouble(c, "rms_norm_eps", 1e-6, file),
          theta,
          ropeScaling(opt(c, "rope_scaling") != null ? opt(c, "rope_scaling") : ropeParams, file),
          optInt(c, "max_position_embeddings", DEFAULT_MAX_POSITIONS.get(arch), file),
          optBool(c, "tie_word_embeddings", false, file),
          arch.equals(QWEN2),
          optInt(c, "bos_token_id", -1, file),
          eosTokenIds(c, file),
          dtype(c, file));
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(file + ": " + e.getMessage(), e);
    }
  }

  private static String architecture(JsonNode c, Path file) {
    JsonNode archs = opt(c, "architectures");
    String arch;
    if (archs != null && archs.isArray() && !archs.isEmpty() && archs.get(0).isTextual()) {
      arch = archs.get(0).textValue();
    } else if (archs != null) {
      throw new ModelFormatException(
          file + ": 'architectures' must be a list of class names but is " + archs);
    } else {
      String modelType = optString(c, "model_type", null, file);
      arch = ARCH_OF_MODEL_TYPE.getOrDefault(modelType, "model_type=" + modelType);
    }
    if (!SUPPORTED_ARCHITECTURES.contains(arch)) {
      throw new UnsupportedArchitectureException(
          file
              + ": architecture '"
              + arch
              + "' is not supported; supported are "
              + SUPPORTED_ARCHITECTURES
              + " (serve a Llama-family checkpoint)");
    }
    return arch;
  }

  private static void refuseUnsupportedFeatures(JsonNode c, Path file, String arch) {
    String act = optString(c, "hidden_act", "silu", file);
    if (!act.equals("silu")) {
      throw new UnsupportedArchitectureException(
          file
              + ": hidden_act '"
              + act
              + "' is not supported; only 'silu' (SwiGLU MLP) is implemented");
    }
    if (arch.equals(LLAMA)
        && (optBool(c, "attention_bias", false, file) || optBool(c, "mlp_bias", false, file))) {
      throw new UnsupportedArchitectureException(
          file
              + ": attention_bias/mlp_bias = true is not supported for "
              + LLAMA
              + "; only bias-free"
              + " projections are implemented");
    }
    if (optDouble(c, "partial_rotary_factor", 1.0, file) != 1.0) {
      throw new UnsupportedArchitectureException(
          file
              + ": partial_rotary_factor="
              + optDouble(c, "partial_rotary_factor", 1.0, file)
              + " is not supported; RoPE is applied to the whole head");
    }
    int maxPos = optInt(c, "max_position_embeddings", DEFAULT_MAX_POSITIONS.get(arch), file);
    boolean windowUsed = !arch.equals(QWEN2) || optBool(c, "use_sliding_window", false, file);
    JsonNode window = opt(c, "sliding_window");
    if (windowUsed && (window != null || (arch.equals(MISTRAL) && !c.has("sliding_window")))) {
      // MistralConfig defaults sliding_window to 4096 when the key is absent; an explicit null
      // disables it
      int w = window == null ? 4096 : JsonFiles.asInt(window, "sliding_window", file);
      if (w < maxPos) {
        throw new UnsupportedArchitectureException(
            file
                + ": sliding_window="
                + w
                + " is smaller than max_position_embeddings="
                + maxPos
                + " and sliding-window attention is not implemented; set sliding_window to null (or to "
                + maxPos
                + ") if the model was trained without it");
      }
    }
  }

  private static RopeScaling ropeScaling(JsonNode r, Path file) {
    if (r == null) {
      return null;
    }
    String type = optString(r, "rope_type", optString(r, "type", "default", file), file);
    return switch (type) {
      case "default" -> null;
      case RopeScaling.LLAMA3 ->
          new RopeScaling(
              type,
              requireDouble(r, "factor", file),
              requireDouble(r, "low_freq_factor", file),
              requireDouble(r, "high_freq_factor", file),
              requireInt(r, "original_max_position_embeddings", file));
      default ->
          throw new UnsupportedArchitectureException(
              file
                  + ": rope_scaling type '"
                  + type
                  + "' is not supported; only 'default' and 'llama3' are"
                  + " implemented");
    };
  }

  private static double requireDouble(JsonNode obj, String key, Path file) {
    if (opt(obj, key) == null) {
      throw new ModelFormatException(file + ": rope_scaling needs '" + key + "'");
    }
    return optDouble(obj, key, Double.NaN, file);
  }

  private static int[] eosTokenIds(JsonNode c, Path file) {
    JsonNode eos = opt(c, "eos_token_id");
    if (eos == null) {
      return new int[0];
    }
    if (eos.isArray()) {
      int[] ids = new int[eos.size()];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = JsonFiles.asInt(eos.get(i), "eos_token_id[" + i + "]", file);
      }
      return ids;
    }
    return new int[] {JsonFiles.asInt(eos, "eos_token_id", file)};
  }

  private static DType dtype(JsonNode c, Path file) {
    String name = optString(c, "torch_dtype", optString(c, "dtype", null, file), file);
    if (name == null) {
      return DType.F32;
    }
    try {
      return DType.parse(name);
    } catch (IllegalArgumentException e) {
      throw new ModelFormatException(file + ": torch_dtype: " + e.getMessage(), e);
    }
  }

  /**
   * RoPE inverse frequencies {@code [headDim/2]}, as transformers computes them in float32: {@code
   * invFreq[i] = 1 / theta^(2i/headDim)}, then llama3 scaling when configured.
   */
  public float[] ropeInvFreq() {
    float[] inv = new float[headDim / 2]; // [headDim/2]
    for (int i = 0; i < inv.length; i++) {
      float exponent = (float) (2 * i) / (float) headDim;
      inv[i] = 1.0f / (float) Math.pow(ropeTheta, exponent);
    }
    return ropeScaling == null ? inv : ropeScaling.apply(inv);
  }

  /** Query heads sharing one key/value head (grouped-query attention). */
  public int groupSize() {
    return numHeads / numKvHeads;
  }

  @Override
  public int[] eosTokenIds() {
    return eosTokenIds.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof ModelConfig m && toString().equals(m.toString());
  }

  @Override
  public int hashCode() {
    return toString().hashCode();
  }

  @Override
  public String toString() {
    return architecture
        + "[vocab="
        + vocabSize
        + " hidden="
        + hiddenSize
        + " intermediate="
        + intermediateSize
        + " layers="
        + numLayers
        + " heads="
        + numHeads
        + " kvHeads="
        + numKvHeads
        + " headDim="
        + headDim
        + " eps="
        + rmsNormEps
        + " theta="
        + ropeTheta
        + " scaling="
        + ropeScaling
        + " maxPos="
        + maxPositionEmbeddings
        + " tied="
        + tieWordEmbeddings
        + " qkvBias="
        + qkvBias
        + " bos="
        + bosTokenId
        + " eos="
        + Arrays.toString(eosTokenIds)
        + " dtype="
        + dtype
        + "]";
  }
}
