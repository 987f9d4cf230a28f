package dev.lorastream.engine.testdata;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lorastream.engine.io.SafetensorsWriter;
import dev.lorastream.engine.io.SafetensorsWriter.Entry;
import dev.lorastream.engine.tensor.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes (for {@code make-adapters} and tests) N deterministic random LoRA adapters for a model, in
 * the PEFT layout ({@code OUT/adapter-0000/adapter_config.json} + {@code
 * adapter_model.safetensors}).
 *
 * <p>Unlike PEFT's initialisation (B = 0), B is non-zero so adapters change the output: A ~ N(0,
 * 1/in) and B is scaled so that ‖scale·B·A‖_F ≈ {@code deltaRatio}·‖W‖_F for the base weights
 * {@link ModelGenerator} makes (‖ΔW‖_F = scale·√r·σ_B·σ_A·√(out·in), ‖W‖_F = σ_W·√(out·in)).
 * Adapter {@code i} uses rank {@code ranks[i % ranks.length]} and seed {@code derive(seed, i)}, so
 * any adapter can be regenerated alone.
 */
public final class AdapterGenerator {
  private AdapterGenerator() {}

  /** Our short target names → (module path inside a layer, HF suffix). */
  public static final Map<String, String> MODULES =
      Map.of(
          "q", "self_attn.q_proj",
          "k", "self_attn.k_proj",
          "v", "self_attn.v_proj",
          "o", "self_attn.o_proj",
          "gate", "mlp.gate_proj",
          "up", "mlp.up_proj",
          "down", "mlp.down_proj");

  /** Short names in PEFT's usual order. */
  public static final List<String> ORDER = List.of("q", "k", "v", "o", "gate", "up", "down");

  /**
   * Dimensions read from the model's config.json.
   *
   * @param dtype the model's torch_dtype
   */
  public record ModelDims(
      int hidden, int intermediate, int layers, int qDim, int kvDim, DType dtype) {
    /** [out, in] of a projection. */
    public int[] outIn(String proj) {
      return switch (proj) {
        case "q" -> new int[] {qDim, hidden};
        case "k", "v" -> new int[] {kvDim, hidden};
        case "o" -> new int[] {hidden, qDim};
        case "gate", "up" -> new int[] {intermediate, hidden};
        case "down" -> new int[] {hidden, intermediate};
        default ->
            throw new IllegalArgumentException("unknown target '" + proj + "': use " + ORDER);
      };
    }

    public static ModelDims read(Path modelDir) throws Exception {
      JsonNode c = new ObjectMapper().readTree(modelDir.resolve("config.json").toFile());
      int hidden = c.get("hidden_size").asInt();
      int heads = c.get("num_attention_heads").asInt();
      int kvHeads = c.path("num_key_value_heads").asInt(heads);
      int headDim = c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : hidden / heads;
      return new ModelDims(
          hidden,
          c.get("intermediate_size").asInt(),
          c.get("num_hidden_layers").asInt(),
          heads * headDim,
          kvHeads * headDim,
          DType.parse(c.path("torch_dtype").asText("float32")));
    }
  }

  /**
   * One adapter's settings.
   *
   * @param alpha lora_alpha; scale = alpha/r, or alpha/√r with rsLoRA
   */
  public record AdapterSpec(
      int rank, double alpha, boolean rslora, List<String> targets, DType dtype) {
    public double scale() {
      return rslora ? alpha / Math.sqrt(rank) : alpha / rank;
    }
  }

  /**
   * What a generated adapter set varies (the {@code make-adapters} options).
   *
   * @param ranks cycled over the adapters
   * @param targets any of {@link #ORDER}
   * @param alpha lora_alpha; null = 2·r
   * @param dtype null = the model's torch_dtype
   * @param deltaRatio the target ‖scale·B·A‖/‖W‖
   */
  public record Options(
      int[] ranks,
      List<String> targets,
      long seed,
      Double alpha,
      DType dtype,
      boolean rslora,
      double deltaRatio) {
    /**
     * Ranks 8, 16, 32 cycled, all seven targets, seed 0, alpha 2·r, the model's dtype, delta ratio
     * 0.2.
     */
    public static Options defaults() {
      return new Options(new int[] {8, 16, 32}, ORDER, 0, null, null, false, 0.2);
    }

    public Options withRanks(int... r) {
      return new Options(r, targets, seed, alpha, dtype, rslora, deltaRatio);
    }

    public Options withSeed(long s) {
      return new Options(ranks, targets, s, alpha, dtype, rslora, deltaRatio);
    }
  }

  /**
   * Writes {@code count} adapters for the model in {@code model} to {@code out/adapter-0000 ...};
   * returns the targets in PEFT order.
   *
   * @throws IllegalArgumentException for an unknown target name
   */
  public static List<String> make(Path model, int count, Options o, Path out) throws Exception {
    ModelDims dims = ModelDims.read(model);
    for (String t : o.targets()) {
      dims.outIn(t); // rejects unknown names
    }
    List<String> ts = ORDER.stream().filter(o.targets()::contains).toList();
    Files.createDirectories(out);
    for (int i = 0; i < count; i++) {
      int r = o.ranks()[i % o.ranks().length];
      AdapterSpec spec =
          new AdapterSpec(
              r,
              o.alpha() == null ? 2.0 * r : o.alpha(),
              o.rslora(),
              ts,
              o.dtype() == null ? dims.dtype() : o.dtype());
      write(
          dims,
          spec,
          SeededValues.derive(o.seed(), i),
          o.deltaRatio(),
          model,
          out.resolve(adapterName(i)));
    }
    return ts;
  }

  /** Folder name of adapter {@code i}: {@code adapter-0000}. */
  public static String adapterName(int i) {
    return String.format("adapter-%04d", i);
  }

  /** Writes one PEFT adapter folder. */
  public static void write(
      ModelDims dims,
      AdapterSpec spec,
      long adapterSeed,
      double deltaRatio,
      Path modelDir,
      Path dir)
      throws Exception {
    Files.createDirectories(dir);
    new ObjectMapper()
        .enable(SerializationFeature.INDENT_OUTPUT)
        .writeValue(
            dir.resolve("adapter_config.json").toFile(),
            config(spec, modelDir.toAbsolutePath().toString()));
    SafetensorsWriter.write(
        dir.resolve("adapter_model.safetensors"), tensors(dims, spec, adapterSeed, deltaRatio));
  }

  /** PEFT's adapter_config.json. */
  public static ObjectNode config(AdapterSpec s, String baseModel) {
    ObjectNode c = new ObjectMapper().createObjectNode();
    c.putObject("alpha_pattern");
    c.put("base_model_name_or_path", baseModel);
    c.put("bias", "none");
    c.put("fan_in_fan_out", false);
    c.put("inference_mode", true);
    c.put("init_lora_weights", true);
    c.putNull("layers_to_transform");
    c.put("lora_alpha", s.alpha());
    c.put("lora_dropout", 0.0);
    c.putNull("modules_to_save");
    c.put("peft_type", "LORA");
    c.put("r", s.rank());
    c.putObject("rank_pattern");
    var tm = c.putArray("target_modules");
    s.targets().forEach(t -> tm.add(t + "_proj"));
    c.put("task_type", "CAUSAL_LM");
    c.put("use_dora", false);
    c.put("use_rslora", s.rslora());
    return c;
  }

  /**
   * lora_A [r, in] and lora_B [out, r] for every layer and target, PEFT names, values from the
   * seed.
   */
  public static List<Entry> tensors(
      ModelDims dims, AdapterSpec s, long adapterSeed, double deltaRatio) {
    List<Entry> out = new ArrayList<>();
    int r = s.rank();
    for (int l = 0; l < dims.layers(); l++) {
      for (String t : s.targets()) {
        int[] oi = dims.outIn(t);
        String p = "base_model.model.model.layers." + l + "." + MODULES.get(t) + ".";
        float stdA = (float) (1 / Math.sqrt(oi[1]));
        float stdW = ModelGenerator.projStd(t, oi[1], dims.layers());
        float stdB = (float) (deltaRatio * stdW / (s.scale() * Math.sqrt(r) * stdA));
        String a = p + "lora_A.weight", b = p + "lora_B.weight";
        out.add(new Entry(a, s.dtype(), new int[] {r, oi[1]}, values(adapterSeed, a, stdA)));
        out.add(new Entry(b, s.dtype(), new int[] {oi[0], r}, values(adapterSeed, b, stdB)));
      }
    }
    return out;
  }

  private static SafetensorsWriter.ValueSource values(long adapterSeed, String name, float std) {
    return SeededValues.normal(SeededValues.derive(adapterSeed, name), 0f, std);
  }
}
