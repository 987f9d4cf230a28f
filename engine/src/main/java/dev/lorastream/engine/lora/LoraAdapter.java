package dev.lorastream.engine.lora;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.io.FileConfinement;
import dev.lorastream.engine.io.MissingTensorException;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.NonFiniteWeightException;
import dev.lorastream.engine.io.TensorShapeException;
import dev.lorastream.engine.io.TensorStore;
import dev.lorastream.engine.io.UnsupportedAdapterException;
import dev.lorastream.engine.tensor.HostTensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A PEFT LoRA adapter ({@code adapter_config.json} + {@code adapter_model.safetensors}) loaded into
 * host memory as float32 factors for every layer and targeted projection.
 *
 * <p>Loading is all-or-nothing: the config is resolved against the base model, every expected
 * {@code lora_A}/{@code lora_B} tensor must be present with the right shape, and no tensor may be
 * left over. The file is unmapped before {@link #load} returns. Immutable and thread-safe.
 */
public final class LoraAdapter {

  public static final String WEIGHTS_FILE = "adapter_model.safetensors";

  /** {@code base_model.model.model.layers.3.self_attn.q_proj.lora_A[.default].weight}. */
  private static final Pattern KEY =
      Pattern.compile(
          "base_model\\.model\\.model\\.layers\\.(\\d+)\\.(\\w+)\\.(\\w+)\\.lora_([AB])(\\.default)?\\.weight");

  private final String id;
  private final AdapterConfig config;
  private final LoraWeights[][]
      weights; // [numLayers][Proj.values().length], null where not targeted
  private final long bytes;

  private LoraAdapter(String id, AdapterConfig config, LoraWeights[][] weights) {
    this.id = id;
    this.config = config;
    this.weights = weights;
    long sum = 0;
    for (LoraWeights[] layer : weights) {
      for (LoraWeights w : layer) {
        sum += w == null ? 0 : w.bytes();
      }
    }
    this.bytes = sum;
  }

  /**
   * Loads the adapter in {@code dir} for a base model described by {@code model}.
   *
   * @param maxRank the largest rank the engine's adapter slots hold
   * @throws UnsupportedAdapterException when the adapter uses a feature the engine does not serve,
   *     or its rank exceeds {@code maxRank}
   * @throws ModelFormatException when files are missing, tensors are missing, extra or of the wrong
   *     shape
   */
  public static LoraAdapter load(Path dir, ModelConfig model, int maxRank) {
    return load(dir, model, maxRank, FileConfinement.NONE);
  }

  /**
   * Loads the adapter in {@code dir}, opening its files through {@code files}: each must be a
   * regular file and, when {@code files} has roots, lie inside them once links are resolved.
   *
   * @param maxRank the largest rank the engine's adapter slots hold
   * @throws UnsupportedAdapterException when the adapter uses a feature the engine does not serve,
   *     or its rank exceeds {@code maxRank}
   * @throws NonFiniteWeightException when a factor holds NaN or an infinity, naming the tensor and
   *     the first such element
   * @throws ModelFormatException when files are missing, not regular files, outside the roots,
   *     tensors are missing, extra or of the wrong shape
   */
  public static LoraAdapter load(Path dir, ModelConfig model, int maxRank, FileConfinement files) {
    String id = dir.getFileName().toString();
    AdapterConfig config = AdapterConfig.load(dir, model, files);
    if (config.r() > maxRank) {
      throw new UnsupportedAdapterException(
          "adapter '"
              + id
              + "' ("
              + dir.resolve(AdapterConfig.FILE_NAME)
              + ") has rank r="
              + config.r()
              + " but this engine serves ranks up to maxRank="
              + maxRank
              + "; raise lorastream.lora.max-rank"
              + " to at least "
              + config.r()
              + " or retrain the adapter with r <= "
              + maxRank);
    }
    Path file = dir.resolve(WEIGHTS_FILE);
    if (!Files.exists(file)) {
      String hint =
          Files.exists(dir.resolve("adapter_model.bin"))
              ? "; found adapter_model.bin: re-save the adapter with safe_serialization=True"
              : "";
      throw new ModelFormatException(
          file + " not found: expected the adapter's PEFT weights there" + hint);
    }
    try (TensorStore store = TensorStore.readFile(file, files)) {
      LoraWeights[][] weights = new LoraWeights[model.numLayers()][Proj.values().length];
      Set<String> used = new HashSet<>();
      for (int layer = 0; layer < model.numLayers(); layer++) {
        for (Proj p : config.targets()) {
          weights[layer][p.ordinal()] = readPair(store, file, layer, p, config, model, used);
        }
      }
      checkNoExtraKeys(store, file, used, model, config);
      return new LoraAdapter(id, config, weights);
    }
  }

  private static LoraWeights readPair(
      TensorStore store,
      Path file,
      int layer,
      Proj p,
      AdapterConfig config,
      ModelConfig model,
      Set<String> used) {
    int r = config.r();
    int in = p.inDim(model);
    int out = p.outDim(model);
    float[] a =
        read(store, file, key(store, layer, p, "A"), r, in, config.fanInFanOut(), used); // [r, in]
    float[] b =
        read(
            store, file, key(store, layer, p, "B"), out, r, config.fanInFanOut(), used); // [out, r]
    return new LoraWeights(r, in, out, a, b);
  }

  /**
   * The stored key: the plain PEFT form, or the {@code .default.} form when only that one exists.
   */
  private static String key(TensorStore store, int layer, Proj p, String ab) {
    String base = "base_model.model." + p.moduleName(layer) + ".lora_" + ab;
    String plain = base + ".weight";
    String named = base + ".default.weight";
    return store.find(plain).isEmpty() && store.find(named).isPresent() ? named : plain;
  }

  /**
   * Reads a {@code [rows, cols]} factor. PEFT always stores lora_A/lora_B as {@code nn.Linear}
   * weights, so the canonical layout is accepted even with fan_in_fan_out; the transposed {@code
   * [cols, rows]} layout is accepted (and transposed) only when fan_in_fan_out is set.
   */
  private static float[] read(
      TensorStore store,
      Path file,
      String key,
      int rows,
      int cols,
      boolean fanInFanOut,
      Set<String> used) {
    HostTensor t =
        store
            .find(key)
            .orElseThrow(
                () ->
                    new MissingTensorException(
                        file
                            + " has no tensor '"
                            + key
                            + "' (expected shape ["
                            + rows
                            + ", "
                            + cols
                            + "]; the file"
                            + " holds "
                            + store.names().size()
                            + " tensors"
                            + example(store)
                            + "); the adapter does"
                            + " not match its adapter_config.json or the base model"));
    used.add(key);
    int[] shape = t.shape();
    if (Arrays.equals(shape, new int[] {rows, cols})) {
      return finiteValues(file, t);
    }
    if (fanInFanOut && Arrays.equals(shape, new int[] {cols, rows})) {
      return transpose(finiteValues(file, t), cols, rows);
    }
    throw new TensorShapeException(
        file
            + ": tensor '"
            + key
            + "' has shape "
            + Arrays.toString(shape)
            + " but ["
            + rows
            + ", "
            + cols
            + "]"
            + (fanInFanOut ? " (or [" + cols + ", " + rows + "] with fan_in_fan_out)" : "")
            + " was expected for rank r="
            + rowsOrColsRank(key, rows, cols)
            + "; the adapter does not match its adapter_config.json or the base model");
  }

  /** The factor's values, decoded and checked to be finite in one pass. */
  private static float[] finiteValues(Path file, HostTensor t) {
    float[] values = new float[Math.toIntExact(t.numel())];
    long bad = t.decodeTo(values);
    if (bad >= 0) {
      throw NonFiniteWeightException.of(
          file,
          t,
          bad,
          "adapter weights must be finite: the adapter is corrupt or its training diverged;"
              + " retrain it or restore a good checkpoint");
    }
    return values;
  }

  private static String example(TensorStore store) {
    return store.names().isEmpty() ? "" : ", e.g. '" + new TreeSet<>(store.names()).first() + "'";
  }

  private static int rowsOrColsRank(String key, int rows, int cols) {
    return key.contains(".lora_A") ? rows : cols;
  }

  /** {@code src [rows, cols]} → {@code [cols, rows]}. */
  private static float[] transpose(float[] src, int rows, int cols) {
    float[] dst = new float[src.length];
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < cols; j++) {
        dst[j * rows + i] = src[i * cols + j];
      }
    }
    return dst;
  }

  private static void checkNoExtraKeys(
      TensorStore store, Path file, Set<String> used, ModelConfig model, AdapterConfig config) {
    Set<String> extra = new TreeSet<>(store.names());
    extra.removeAll(used);
    if (extra.isEmpty()) {
      return;
    }
    String first = extra.iterator().next();
    throw new ModelFormatException(
        file
            + ": unexpected tensor '"
            + first
            + "'"
            + (extra.size() > 1 ? " (and " + (extra.size() - 1) + " more)" : "")
            + ": "
            + whyUnexpected(first, model, config));
  }

  private static String whyUnexpected(String key, ModelConfig model, AdapterConfig config) {
    Matcher m = KEY.matcher(key);
    if (!m.matches()) {
      return "not a LoRA A/B weight of a decoder-layer projection (expected keys like"
          + " base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight)";
    }
    int layer = Integer.parseInt(m.group(1));
    if (layer >= model.numLayers()) {
      return "layer "
          + layer
          + " does not exist: the base model has "
          + model.numLayers()
          + " layers (is the adapter for a different base model?)";
    }
    for (Proj p : Proj.values()) {
      if (p.parent().equals(m.group(2)) && p.hfName().equals(m.group(3))) {
        return "module "
            + p.hfName()
            + " is not in target_modules "
            + config.targets()
            + " of adapter_config.json";
      }
    }
    return "module "
        + m.group(2)
        + "."
        + m.group(3)
        + " does not exist in "
        + model.architecture()
        + "; the"
        + " projections that exist are "
        + Arrays.stream(Proj.values()).map(Proj::hfName).toList();
  }

  /** The adapter's directory name. */
  public String id() {
    return id;
  }

  public AdapterConfig config() {
    return config;
  }

  public int rank() {
    return config.r();
  }

  /** {@link AdapterConfig#scale()} as float. */
  public float scale() {
    return (float) config.scale();
  }

  public Set<Proj> targets() {
    return config.targets();
  }

  /**
   * The factors of {@code p} in {@code layer}, or {@code null} when the adapter does not target
   * {@code p}.
   *
   * @throws IndexOutOfBoundsException naming the layer when it does not exist
   */
  public LoraWeights weights(int layer, Proj p) {
    if (layer < 0 || layer >= weights.length) {
      throw new IndexOutOfBoundsException(
          "adapter '" + id + "': layer " + layer + " out of range [0, " + weights.length + ")");
    }
    return weights[layer][p.ordinal()];
  }

  /** Float bytes held by all factors. */
  public long bytes() {
    return bytes;
  }

  @Override
  public String toString() {
    return "LoraAdapter["
        + id
        + " r="
        + rank()
        + " scale="
        + scale()
        + " targets="
        + targets()
        + "]";
  }
}
