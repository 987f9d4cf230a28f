package dev.lorastream.engine.gguf;

import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.config.RopeScaling;
import dev.lorastream.engine.io.GgufWriter;
import dev.lorastream.engine.io.GgufWriter.TensorType;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.TensorStore;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Exports a Hugging Face Llama-family model folder ({@code config.json}, safetensors weights,
 * {@code tokenizer.json}) as one GGUF file that llama.cpp runs as architecture {@code llama}, the
 * way its {@code convert_hf_to_gguf.py} would write it without quantising.
 *
 * <p>2-D weights keep their dtype (BF16, F16 or F32) and are copied straight from the mapped
 * safetensors files, q/k rows permuted ({@link LlamaGguf}); 1-D norm weights are written as F32.
 * Tied embeddings write no {@code output.weight} (llama.cpp then uses {@code token_embd.weight});
 * llama3 rope scaling becomes the {@code rope_freqs.weight} factors. The whole file streams: heap
 * use does not grow with the model.
 */
public final class GgufModelExport {

  /** {@code general.file_type} values (llama.cpp's {@code llama_ftype}). */
  public static final int FILE_TYPE_ALL_F32 = 0;

  public static final int FILE_TYPE_MOSTLY_F16 = 1;
  public static final int FILE_TYPE_MOSTLY_BF16 = 32;
  public static final int FILE_TYPE_MOSTLY_Q8_0 = 7;

  /** How the projection weights (and an untied output head) are written. */
  public enum Weights {
    /** In their checkpoint dtype, bytes unchanged. */
    STORED,
    /**
     * Quantized to ggml's Q8_0 (blocks of 32 with an F16 scale), what llama.cpp's {@code
     * llama-quantize ... Q8_0} writes for them; the token embeddings and norms stay as stored.
     */
    Q8_0
  }

  /**
   * What an export wrote.
   *
   * @param tensors the tensor count
   * @param bytes the file size
   * @param vocab the tokenizer metadata written
   */
  public record Result(Path file, int tensors, long bytes, GgufVocab vocab) {}

  private GgufModelExport() {}

  /**
   * Writes the model in {@code modelDir} to {@code out}.
   *
   * @throws ModelFormatException when {@code modelDir} is not a model folder, its files are
   *     malformed, or the weights do not match the config
   * @throws dev.lorastream.engine.io.UnsupportedArchitectureException when llama.cpp's {@code
   *     llama} architecture cannot hold the model or its tokenizer
   * @throws IOException naming {@code out} when it cannot be written
   */
  public static Result export(Path modelDir, Path out) throws IOException {
    return export(modelDir, out, Weights.STORED);
  }

  /**
   * {@link #export(Path, Path)} with the projection weights written as {@code weights} says.
   *
   * @throws IllegalArgumentException for {@link Weights#Q8_0} when a projection's input size is not
   *     a multiple of 32
   */
  public static Result export(Path modelDir, Path out, Weights weights) throws IOException {
    ModelConfig c = loadConfig(modelDir);
    checkWritable(out);
    GgufVocab vocab = GgufVocab.read(modelDir, c);
    try (TensorStore store = TensorStore.openModel(modelDir)) {
      GgufWriter w = new GgufWriter();
      Set<String> used = new HashSet<>();
      int h = c.hiddenSize();
      w.putString("general.architecture", LlamaGguf.ARCH);
      w.putString("general.type", "model");
      w.putString("general.name", name(modelDir));
      // tensors first, so that file_type can be read off their dtypes
      GgufWriterTensors tensors = new GgufWriterTensors(weights);
      tensors.matrix(
          "token_embd.weight", take(store, used, "model.embed_tokens.weight", c.vocabSize(), h), 0);
      if (c.ropeScaling() != null) {
        tensors.f32("rope_freqs.weight", ropeFactors(c));
      }
      for (int l = 0; l < c.numLayers(); l++) {
        String p = "model.layers." + l + ".";
        String b = "blk." + l + ".";
        tensors.norm(b + "attn_norm.weight", take(store, used, p + "input_layernorm.weight", h));
        Map<Proj, HostTensor> proj = new EnumMap<>(Proj.class);
        for (Proj pr : Proj.values()) {
          proj.put(
              pr,
              take(
                  store,
                  used,
                  p + pr.parent() + "." + pr.hfName() + ".weight",
                  pr.outDim(c),
                  pr.inDim(c)));
        }
        for (Proj pr : new Proj[] {Proj.Q, Proj.K, Proj.V, Proj.O}) {
          tensors.projection(
              LlamaGguf.weightName(l, pr), proj.get(pr), LlamaGguf.permuteHeads(pr, c));
        }
        tensors.norm(
            b + "ffn_norm.weight", take(store, used, p + "post_attention_layernorm.weight", h));
        for (Proj pr : new Proj[] {Proj.GATE, Proj.UP, Proj.DOWN}) {
          tensors.projection(LlamaGguf.weightName(l, pr), proj.get(pr), 0);
        }
      }
      tensors.norm("output_norm.weight", take(store, used, "model.norm.weight", h));
      if (c.tieWordEmbeddings()) {
        used.add(
            "lm_head.weight"); // a tied checkpoint may still carry the copy; llama.cpp ignores it
      } else {
        tensors.projection(
            "output.weight", take(store, used, "lm_head.weight", c.vocabSize(), h), 0);
      }
      checkNothingLeft(store, used, modelDir);

      w.putUInt32("general.file_type", tensors.fileType());
      String a = LlamaGguf.ARCH + ".";
      w.putUInt32(a + "vocab_size", c.vocabSize());
      w.putUInt32(a + "context_length", c.maxPositionEmbeddings());
      w.putUInt32(a + "embedding_length", h);
      w.putUInt32(a + "block_count", c.numLayers());
      w.putUInt32(a + "feed_forward_length", c.intermediateSize());
      w.putUInt32(a + "rope.dimension_count", c.headDim());
      w.putUInt32(a + "attention.head_count", c.numHeads());
      w.putUInt32(a + "attention.head_count_kv", c.numKvHeads());
      w.putUInt32(a + "attention.key_length", c.headDim());
      w.putUInt32(a + "attention.value_length", c.headDim());
      w.putFloat32(a + "attention.layer_norm_rms_epsilon", c.rmsNormEps());
      w.putFloat32(a + "rope.freq_base", (float) c.ropeTheta());
      vocab.writeTo(w);
      tensors.addTo(w);
      long bytes = w.write(out);
      return new Result(out, tensors.count(), bytes, vocab);
    }
  }

  /**
   * The model's config, refused unless llama.cpp runs it as {@code llama}.
   *
   * @throws ModelFormatException when {@code modelDir} is not a model folder
   */
  static ModelConfig loadConfig(Path modelDir) {
    if (!Files.isDirectory(modelDir)) {
      throw new ModelFormatException(
          modelDir
              + " is not a model folder: it does not exist or is not a directory (expected a"
              + " Hugging Face model folder with config.json, model.safetensors and"
              + " tokenizer.json)");
    }
    if (!Files.isRegularFile(modelDir.resolve(ModelConfig.FILE_NAME))) {
      throw new ModelFormatException(
          modelDir
              + " is not a model folder: it has no config.json (expected a Hugging Face model"
              + " folder with config.json, model.safetensors and tokenizer.json)");
    }
    ModelConfig c = ModelConfig.load(modelDir);
    LlamaGguf.requireLlama(c, modelDir);
    return c;
  }

  /**
   * Fails fast, before any work, when {@code out} cannot be a file in an existing folder.
   *
   * @throws IOException naming {@code out} and why
   */
  static void checkWritable(Path out) throws IOException {
    Path abs = out.toAbsolutePath();
    Path parent = abs.getParent();
    if (Files.isDirectory(abs)) {
      throw new IOException("cannot write " + out + ": it is a directory; give a file name");
    }
    if (parent == null || !Files.isDirectory(parent)) {
      throw new IOException("cannot write " + out + ": folder " + parent + " does not exist");
    }
    if (!Files.isWritable(parent)) {
      throw new IOException("cannot write " + out + ": folder " + parent + " is not writable");
    }
  }

  private static String name(Path modelDir) {
    Path n = modelDir.toAbsolutePath().normalize().getFileName();
    return n == null ? "model" : n.toString();
  }

  private static HostTensor take(TensorStore store, Set<String> used, String name, int... shape) {
    used.add(name);
    return store.require(name, shape);
  }

  private static void checkNothingLeft(TensorStore store, Set<String> used, Path modelDir) {
    Set<String> extra = new TreeSet<>(store.names());
    extra.removeAll(used);
    extra.removeIf(n -> n.endsWith(".rotary_emb.inv_freq")); // recomputed by every runtime
    if (!extra.isEmpty()) {
      throw new ModelFormatException(
          modelDir
              + ": tensor '"
              + extra.iterator().next()
              + "'"
              + (extra.size() > 1 ? " (and " + (extra.size() - 1) + " more)" : "")
              + " has no place in llama.cpp's 'llama' architecture; the export would drop it");
    }
  }

  /** llama.cpp's {@code rope_freqs}: the divisor of each default rope frequency (llama3). */
  static float[] ropeFactors(ModelConfig c) {
    RopeScaling s = c.ropeScaling();
    int dim = c.headDim();
    double lowWavelen = s.originalMaxPositionEmbeddings() / s.lowFreqFactor();
    double highWavelen = s.originalMaxPositionEmbeddings() / s.highFreqFactor();
    float[] out = new float[dim / 2];
    for (int i = 0; i < out.length; i++) {
      float freq = (float) (1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / dim));
      double wavelen = 2 * Math.PI / freq;
      if (wavelen < highWavelen) {
        out[i] = 1f;
      } else if (wavelen > lowWavelen) {
        out[i] = (float) s.factor();
      } else {
        double smooth =
            (s.originalMaxPositionEmbeddings() / wavelen - s.lowFreqFactor())
                / (s.highFreqFactor() - s.lowFreqFactor());
        out[i] = (float) (1 / ((1 - smooth) / s.factor() + smooth));
      }
    }
    return out;
  }

  /** The tensors to write, in order, and the dtype mix of the 2-D ones. */
  private static final class GgufWriterTensors {
    private record Pending(String name, TensorType type, long[] ne, GgufWriter.TensorData data) {}

    private final List<Pending> pending = new ArrayList<>();
    private final Map<DType, Long> matrixElements = new EnumMap<>(DType.class);
    private final Weights weights;
    private long q8Elements;

    GgufWriterTensors(Weights weights) {
      this.weights = weights;
    }

    /** A projection (or output head): as stored, or Q8_0 when the export quantizes. */
    void projection(String name, HostTensor t, int permuteHeads) {
      if (weights == Weights.STORED) {
        matrix(name, t, permuteHeads);
        return;
      }
      if (t.dim(1) % 32 != 0) {
        throw new IllegalArgumentException(
            "cannot write "
                + name
                + " as Q8_0: its "
                + t.dim(1)
                + " inputs are not a multiple of 32; export it with the weights as stored");
      }
      pending.add(
          new Pending(
              name, TensorType.Q8_0, LlamaGguf.ne(t.shape()), LlamaGguf.q8_0(t, permuteHeads)));
      q8Elements += t.numel();
    }

    void matrix(String name, HostTensor t, int permuteHeads) {
      pending.add(
          new Pending(
              name,
              TensorType.of(t.dtype()),
              LlamaGguf.ne(t.shape()),
              permuteHeads > 0 ? LlamaGguf.permutedRows(t, permuteHeads) : LlamaGguf.copy(t)));
      matrixElements.merge(t.dtype(), t.numel(), Long::sum);
    }

    void norm(String name, HostTensor t) {
      pending.add(new Pending(name, TensorType.F32, LlamaGguf.ne(t.shape()), LlamaGguf.asF32(t)));
    }

    void f32(String name, float[] values) {
      pending.add(
          new Pending(name, TensorType.F32, new long[] {values.length}, LlamaGguf.floats(values)));
    }

    /** The llama ftype of the dtype holding most 2-D weight elements. */
    int fileType() {
      long others = matrixElements.values().stream().mapToLong(Long::longValue).max().orElse(0);
      if (q8Elements > others) {
        return FILE_TYPE_MOSTLY_Q8_0;
      }
      DType most =
          matrixElements.entrySet().stream()
              .max(Map.Entry.comparingByValue())
              .map(Map.Entry::getKey)
              .orElse(DType.F32);
      return switch (most) {
        case F32 -> FILE_TYPE_ALL_F32;
        case F16 -> FILE_TYPE_MOSTLY_F16;
        case BF16 -> FILE_TYPE_MOSTLY_BF16;
        case I8 -> throw new IllegalStateException("checkpoints hold no I8 weights");
      };
    }

    void addTo(GgufWriter w) {
      for (Pending p : pending) {
        w.addTensor(p.name(), p.type(), p.ne(), p.data());
      }
    }

    int count() {
      return pending.size();
    }
  }
}
