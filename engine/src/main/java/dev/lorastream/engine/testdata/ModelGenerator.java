package dev.lorastream.engine.testdata;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.engine.io.SafetensorsWriter;
import dev.lorastream.engine.io.SafetensorsWriter.Entry;
import dev.lorastream.engine.tensor.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes (for {@code make-model} and tests) a deterministic random Llama-family model in the
 * Hugging Face layout ({@code config.json}, {@code model.safetensors} or shards + index, {@code
 * tokenizer.json}).
 *
 * <p>Initialisation keeps activations sane through depth: q/k/v/gate/up ~ N(0, 1/in), o/down ~ N(0,
 * 1/(in·2L)) (their sum over 2L residual writes has about unit variance), norms 1 + 0.05·N,
 * embeddings N(0, 1) (tied: N(0, 4/H) so that they also serve as a sensible lm_head), lm_head N(0,
 * 4/H) (logits of std ≈ 2), Qwen2 q/k/v biases 0.2·N. Each tensor's values depend only on the seed
 * and the tensor's name, so a sharded and an unsharded model with one seed hold identical weights.
 */
public final class ModelGenerator {
  private ModelGenerator() {}

  /** Supported architectures: llama and mistral share weights; qwen2 adds q/k/v biases. */
  public enum Arch {
    llama("LlamaForCausalLM", 10000.0, 1e-5),
    mistral("MistralForCausalLM", 10000.0, 1e-5),
    qwen2("Qwen2ForCausalLM", 1000000.0, 1e-6);

    final String hfClass;
    final double ropeTheta;
    final double rmsEps;

    Arch(String hfClass, double ropeTheta, double rmsEps) {
      this.hfClass = hfClass;
      this.ropeTheta = ropeTheta;
      this.rmsEps = rmsEps;
    }
  }

  /**
   * Model dimensions. {@code vocab} is the embedding/lm_head row count (may exceed the tokenizer's
   * size).
   */
  public record Spec(
      Arch arch,
      int hidden,
      int intermediate,
      int layers,
      int heads,
      int kvHeads,
      int vocab,
      int maxPositions,
      DType dtype,
      boolean tieEmbeddings,
      boolean llama3Rope) {
    public int headDim() {
      return hidden / heads;
    }
  }

  /** Preset name → spec with the preset's default dtype (arch llama, untied, no rope scaling). */
  public static Spec preset(String name) {
    int tinyVocab = TokenizerJson.vocabSize(TokenizerJson.DEFAULT_MERGES);
    return switch (name) {
      case "tiny" ->
          new Spec(Arch.llama, 64, 172, 2, 4, 2, tinyVocab, 512, DType.F32, false, false);
      // tiny's layout with head dim 64 (the smallest the CUDA attention kernel takes), GQA 4/2
      case "tiny-hd64" ->
          new Spec(Arch.llama, 256, 344, 2, 4, 2, tinyVocab, 512, DType.F32, false, false);
      case "cpu-bench" ->
          new Spec(Arch.llama, 2048, 5632, 16, 32, 8, 32000, 4096, DType.BF16, false, false);
      case "llama-7b-shape" ->
          new Spec(Arch.llama, 4096, 11008, 32, 32, 32, 32000, 4096, DType.F16, false, false);
      default ->
          throw new IllegalArgumentException(
              "unknown preset '"
                  + name
                  + "': supported are tiny, tiny-hd64, cpu-bench, llama-7b-shape");
    };
  }

  /**
   * What a generated model varies besides its preset's dimensions (the {@code make-model} options).
   *
   * @param dtype the weights' dtype; null = the preset's
   * @param layers the layer count; null = the preset's
   * @param merges the tokenizer's BPE merges (its size is 260 + merges)
   */
  public record Options(
      long seed,
      DType dtype,
      Arch arch,
      int shards,
      Integer layers,
      boolean tieEmbeddings,
      boolean llama3Rope,
      int merges) {
    /**
     * Seed 0, the preset's dtype and layers, llama, one file, untied, no rope scaling, 252 merges.
     */
    public static Options defaults() {
      return new Options(0, null, Arch.llama, 1, null, false, false, TokenizerJson.DEFAULT_MERGES);
    }

    public Options withSeed(long s) {
      return new Options(s, dtype, arch, shards, layers, tieEmbeddings, llama3Rope, merges);
    }

    public Options withDtype(DType d) {
      return new Options(seed, d, arch, shards, layers, tieEmbeddings, llama3Rope, merges);
    }
  }

  /**
   * The spec of {@code preset} as changed by {@code o}; tiny presets size the vocab to the
   * tokenizer.
   */
  public static Spec spec(String preset, Options o) {
    Spec base = preset(preset);
    int vocab = preset.startsWith("tiny") ? TokenizerJson.vocabSize(o.merges()) : base.vocab();
    Spec spec =
        new Spec(
            o.arch(),
            base.hidden(),
            base.intermediate(),
            o.layers() == null ? base.layers() : o.layers(),
            base.heads(),
            base.kvHeads(),
            vocab,
            base.maxPositions(),
            o.dtype() == null ? base.dtype() : o.dtype(),
            o.tieEmbeddings(),
            o.llama3Rope());
    if (TokenizerJson.vocabSize(o.merges()) > spec.vocab()) {
      throw new IllegalArgumentException(
          "tokenizer size "
              + TokenizerJson.vocabSize(o.merges())
              + " exceeds vocab "
              + spec.vocab());
    }
    return spec;
  }

  /**
   * Writes the {@code preset} model changed by {@code o} to {@code dir}; returns the weights'
   * bytes.
   */
  public static long make(String preset, Options o, Path dir) throws Exception {
    return write(spec(preset, o), o.seed(), o.shards(), o.merges(), dir);
  }

  /**
   * Writes config.json, the weights (one file or {@code shards} files + index) and tokenizer.json.
   */
  public static long write(Spec spec, long seed, int shards, int merges, Path dir)
      throws Exception {
    Files.createDirectories(dir);
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    json.writeValue(dir.resolve("config.json").toFile(), config(spec));
    TokenizerJson.write(dir.resolve("tokenizer.json"), merges);
    List<Entry> entries = tensors(spec, seed);
    if (shards <= 1) {
      SafetensorsWriter.write(dir.resolve("model.safetensors"), entries);
    } else {
      writeSharded(entries, shards, dir, json);
    }
    return entries.stream().mapToLong(Entry::byteSize).sum();
  }

  /** A Hugging Face config.json for {@code spec}. */
  public static ObjectNode config(Spec s) {
    ObjectNode c = new ObjectMapper().createObjectNode();
    c.putArray("architectures").add(s.arch().hfClass);
    c.put("model_type", s.arch().name());
    c.put("attention_bias", s.arch() == Arch.qwen2);
    c.put("attention_dropout", 0.0);
    c.put("bos_token_id", TokenizerJson.BOS_ID);
    c.put("eos_token_id", TokenizerJson.EOS_ID);
    c.put("head_dim", s.headDim());
    c.put("hidden_act", "silu");
    c.put("hidden_size", s.hidden());
    c.put("initializer_range", 0.02);
    c.put("intermediate_size", s.intermediate());
    c.put("max_position_embeddings", s.maxPositions());
    c.put("mlp_bias", false);
    c.put("num_attention_heads", s.heads());
    c.put("num_hidden_layers", s.layers());
    c.put("num_key_value_heads", s.kvHeads());
    c.put("rms_norm_eps", s.arch().rmsEps);
    if (s.llama3Rope()) {
      ObjectNode r = c.putObject("rope_scaling");
      r.put("rope_type", "llama3");
      r.put("factor", 8.0);
      r.put("low_freq_factor", 1.0);
      r.put("high_freq_factor", 4.0);
      r.put("original_max_position_embeddings", Math.max(1, s.maxPositions() / 8));
    } else {
      c.putNull("rope_scaling");
    }
    c.put("rope_theta", s.arch().ropeTheta);
    if (s.arch() == Arch.mistral) {
      c.putNull("sliding_window");
    }
    if (s.arch() == Arch.qwen2) {
      c.put("use_sliding_window", false);
      c.put("sliding_window", s.maxPositions());
      c.put("max_window_layers", s.layers());
    }
    c.put("tie_word_embeddings", s.tieEmbeddings());
    c.put("torch_dtype", torchDtype(s.dtype()));
    c.put("use_cache", true);
    c.put("vocab_size", s.vocab());
    return c;
  }

  static String torchDtype(DType d) {
    return switch (d) {
      case F32 -> "float32";
      case F16 -> "float16";
      case BF16 -> "bfloat16";
      case I8 -> throw new IllegalArgumentException("a checkpoint is F32, F16 or BF16, not I8");
    };
  }

  /** Std of a base projection's initial weights; {@code proj} is q, k, v, o, gate, up or down. */
  public static float projStd(String proj, int in, int layers) {
    boolean residualWrite = proj.equals("o") || proj.equals("down");
    return (float) (1.0 / Math.sqrt(residualWrite ? (double) in * 2 * layers : in));
  }

  /** All weight tensors with HF names, in file order, values drawn lazily from the seed. */
  public static List<Entry> tensors(Spec s, long seed) {
    int h = s.hidden(),
        kv = s.kvHeads() * s.headDim(),
        q = s.heads() * s.headDim(),
        i = s.intermediate();
    List<Entry> out = new ArrayList<>();
    float embedStd = s.tieEmbeddings() ? (float) (2 / Math.sqrt(h)) : 1f;
    out.add(normal(s, seed, "model.embed_tokens.weight", 0f, embedStd, s.vocab(), h));
    for (int l = 0; l < s.layers(); l++) {
      String p = "model.layers." + l + ".";
      out.add(normal(s, seed, p + "input_layernorm.weight", 1f, 0.05f, h));
      out.add(proj(s, seed, p + "self_attn.", "q", q, h));
      out.add(proj(s, seed, p + "self_attn.", "k", kv, h));
      out.add(proj(s, seed, p + "self_attn.", "v", kv, h));
      if (s.arch() == Arch.qwen2) {
        out.add(normal(s, seed, p + "self_attn.q_proj.bias", 0f, 0.2f, q));
        out.add(normal(s, seed, p + "self_attn.k_proj.bias", 0f, 0.2f, kv));
        out.add(normal(s, seed, p + "self_attn.v_proj.bias", 0f, 0.2f, kv));
      }
      out.add(proj(s, seed, p + "self_attn.", "o", h, q));
      out.add(normal(s, seed, p + "post_attention_layernorm.weight", 1f, 0.05f, h));
      out.add(proj(s, seed, p + "mlp.", "gate", i, h));
      out.add(proj(s, seed, p + "mlp.", "up", i, h));
      out.add(proj(s, seed, p + "mlp.", "down", h, i));
    }
    out.add(normal(s, seed, "model.norm.weight", 1f, 0.05f, h));
    if (!s.tieEmbeddings()) {
      out.add(normal(s, seed, "lm_head.weight", 0f, (float) (2 / Math.sqrt(h)), s.vocab(), h));
    }
    return out;
  }

  private static Entry proj(Spec s, long seed, String prefix, String proj, int outDim, int inDim) {
    return normal(
        s,
        seed,
        prefix + proj + "_proj.weight",
        0f,
        projStd(proj, inDim, s.layers()),
        outDim,
        inDim);
  }

  private static Entry normal(Spec s, long seed, String name, float mean, float std, int... shape) {
    return new Entry(
        name, s.dtype(), shape, SeededValues.normal(SeededValues.derive(seed, name), mean, std));
  }

  /**
   * HF sharded layout: tensors split in order into {@code n} files of about equal size, plus the
   * index.
   */
  static void writeSharded(List<Entry> entries, int n, Path dir, ObjectMapper json)
      throws Exception {
    if (n > entries.size()) {
      throw new IllegalArgumentException(
          "--shards " + n + " exceeds the tensor count " + entries.size());
    }
    long total = entries.stream().mapToLong(Entry::byteSize).sum();
    List<List<Entry>> groups = new ArrayList<>();
    groups.add(new ArrayList<>());
    long acc = 0;
    for (int k = 0; k < entries.size(); k++) {
      int shard = groups.size() - 1;
      boolean full = acc >= total * (shard + 1) / n;
      boolean mustLeaveOnePerShard = entries.size() - k == n - 1 - shard;
      if (shard < n - 1 && !groups.get(shard).isEmpty() && (full || mustLeaveOnePerShard)) {
        groups.add(new ArrayList<>());
      }
      groups.getLast().add(entries.get(k));
      acc += entries.get(k).byteSize();
    }
    Map<String, String> weightMap = new LinkedHashMap<>();
    for (int k = 0; k < groups.size(); k++) {
      String file = String.format("model-%05d-of-%05d.safetensors", k + 1, n);
      SafetensorsWriter.write(dir.resolve(file), groups.get(k));
      for (Entry e : groups.get(k)) {
        weightMap.put(e.name(), file);
      }
    }
    ObjectNode index = json.createObjectNode();
    index.putObject("metadata").put("total_size", total);
    weightMap.forEach(index.putObject("weight_map")::put);
    json.writeValue(dir.resolve("model.safetensors.index.json").toFile(), index);
  }
}
