package dev.lorastream.engine.lora;

import static dev.lorastream.engine.io.JsonFiles.opt;
import static dev.lorastream.engine.io.JsonFiles.optBool;
import static dev.lorastream.engine.io.JsonFiles.optDouble;
import static dev.lorastream.engine.io.JsonFiles.optInt;
import static dev.lorastream.engine.io.JsonFiles.optString;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.io.FileConfinement;
import dev.lorastream.engine.io.JsonFiles;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.UnsupportedAdapterException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The parts of a PEFT {@code adapter_config.json} that matter for serving a plain LoRA adapter.
 *
 * <p>{@link #load} resolves {@code target_modules} the way PEFT does against a Llama-family model
 * (a list matches a module whose name equals an entry or ends with {@code "." + entry}; a string is
 * a regex that must match the whole module name, or {@code "all-linear"}) and refuses every feature
 * the engine does not implement, so an adapter that loads is served exactly. Immutable.
 *
 * @param r the LoRA rank
 * @param loraAlpha {@code lora_alpha}
 * @param targets projections adapted in every layer
 * @param useRslora rank-stabilised scaling {@code alpha / sqrt(r)}
 * @param fanInFanOut the adapter was trained on transposed (Conv1D-style) base weights
 * @param baseModel {@code base_model_name_or_path}, or {@code null}
 */
public record AdapterConfig(
    int r,
    double loraAlpha,
    Set<Proj> targets,
    boolean useRslora,
    boolean fanInFanOut,
    String baseModel) {

  public static final String FILE_NAME = "adapter_config.json";

  /** Module names of the model that are not projections but that an adapter could try to target. */
  private static final List<String> OTHER_MODULES = List.of("model.embed_tokens", "lm_head");

  public AdapterConfig {
    if (r <= 0) {
      throw new IllegalArgumentException("LoRA rank r=" + r + " must be > 0");
    }
    if (targets.isEmpty()) {
      throw new IllegalArgumentException("an adapter must target at least one projection");
    }
    targets = Collections.unmodifiableSet(EnumSet.copyOf(targets));
  }

  /**
   * The factor applied to {@code B·A·x}: {@code alpha / r}, or {@code alpha / sqrt(r)} with rsLoRA.
   */
  public double scale() {
    return useRslora ? loraAlpha / Math.sqrt(r) : loraAlpha / r;
  }

  /**
   * Reads {@code dir/adapter_config.json} and resolves its targets against {@code model}.
   *
   * @throws UnsupportedAdapterException naming the file and the feature when the adapter is not
   *     plain LoRA
   * @throws ModelFormatException when the file is missing or malformed
   */
  public static AdapterConfig load(Path dir, ModelConfig model) {
    return load(dir, model, FileConfinement.NONE);
  }

  /**
   * Reads {@code dir/adapter_config.json}, opened through {@code files}, and resolves its targets
   * against {@code model}.
   *
   * @throws UnsupportedAdapterException naming the file and the feature when the adapter is not
   *     plain LoRA
   * @throws ModelFormatException when the file is missing, malformed, not a regular file or outside
   *     the roots of {@code files}
   */
  public static AdapterConfig load(Path dir, ModelConfig model, FileConfinement files) {
    Path file = dir.resolve(FILE_NAME);
    JsonNode c =
        JsonFiles.readObject(
            file, "expected the PEFT adapter config of the adapter in " + dir, files);
    return fromJson(c, file, model);
  }

  /**
   * Parses the bytes of an {@code adapter_config.json} (strict UTF-8 JSON) and resolves its targets
   * against {@code model}; {@code file} names it in errors.
   *
   * @throws UnsupportedAdapterException when the adapter is not plain LoRA
   * @throws ModelFormatException when the bytes are malformed
   */
  static AdapterConfig parse(byte[] bytes, Path file, ModelConfig model) {
    return fromJson(JsonFiles.parseObject(bytes, file.toString()), file, model);
  }

  /**
   * What an adapter declares, read without a model: its rank and base model.
   *
   * @param r the LoRA rank
   * @param baseModel {@code base_model_name_or_path}, or {@code null}
   */
  public record Declared(int r, String baseModel) {}

  /**
   * Reads {@code dir/adapter_config.json} without resolving its targets: refuses the features the
   * engine does not serve, a rank that is not positive and a missing {@code target_modules}, and
   * returns the rank and base model. For registering an adapter where the served model is not at
   * hand ({@code lorastream adapters add}); {@link #load} still checks the targets against the
   * model when the adapter is served.
   *
   * @throws UnsupportedAdapterException when the adapter is not plain LoRA
   * @throws ModelFormatException when the file is missing or malformed
   */
  public static Declared declared(Path dir) {
    Path file = dir.resolve(FILE_NAME);
    JsonNode c =
        JsonFiles.readObject(
            file,
            "expected the PEFT adapter config of the adapter in " + dir,
            FileConfinement.NONE);
    refuseUnsupportedFeatures(c, file);
    int r = rank(c, file);
    if (opt(c, "target_modules") == null) {
      throw missingTargets(file);
    }
    return new Declared(r, optString(c, "base_model_name_or_path", null, file));
  }

  private static int rank(JsonNode c, Path file) {
    int r = optInt(c, "r", 8, file); // PEFT's defaults
    if (r <= 0) {
      throw new UnsupportedAdapterException(file + ": LoRA rank r=" + r + " must be > 0");
    }
    return r;
  }

  private static ModelFormatException missingTargets(Path file) {
    return new ModelFormatException(
        file
            + ": target_modules is missing; expected a list such as [\"q_proj\","
            + " \"v_proj\"] or a regex");
  }

  private static AdapterConfig fromJson(JsonNode c, Path file, ModelConfig model) {
    refuseUnsupportedFeatures(c, file);
    int r = rank(c, file);
    double alpha = optDouble(c, "lora_alpha", 8, file);
    if (!Double.isFinite(alpha)) { // JSON has no NaN or Infinity, but 1e999 parses as Infinity
      throw new ModelFormatException(
          file + ": lora_alpha " + alpha + " is not a finite number (too large for a double)");
    }
    return new AdapterConfig(
        r,
        alpha,
        resolveTargets(c, file, model),
        optBool(c, "use_rslora", false, file),
        optBool(c, "fan_in_fan_out", false, file),
        optString(c, "base_model_name_or_path", null, file));
  }

  private static void refuseUnsupportedFeatures(JsonNode c, Path file) {
    String peftType = optString(c, "peft_type", "LORA", file);
    if (!peftType.equals("LORA")) {
      refuse(file, "peft_type " + peftType, "only LORA adapters are served");
    }
    if (optBool(c, "use_dora", false, file)) {
      refuse(
          file,
          "DoRA (use_dora: true)",
          "only plain LoRA is served; merge the adapter or retrain without DoRA");
    }
    String bias = optString(c, "bias", "none", file);
    if (!bias.equals("none")) {
      refuse(file, "LoRA bias (bias: \"" + bias + "\")", "only bias: \"none\" is served");
    }
    if (optBool(c, "lora_bias", false, file)) {
      refuse(file, "LoRA bias (lora_bias: true)", "only bias-free lora_B is served");
    }
    for (String key : List.of("modules_to_save", "trainable_token_indices", "target_parameters")) {
      if (nonEmpty(opt(c, key))) {
        refuse(
            file,
            key + " " + opt(c, key),
            "only the low-rank A/B weights of an adapter can be served");
      }
    }
    for (String key :
        List.of("layers_to_transform", "rank_pattern", "alpha_pattern", "layer_replication")) {
      if (nonEmpty(opt(c, key))) {
        refuse(
            file,
            key + " " + opt(c, key),
            "not supported yet: every layer must use the same r and alpha");
      }
    }
  }

  private static boolean nonEmpty(JsonNode v) {
    if (v == null) {
      return false;
    }
    if (v.isContainerNode()) {
      return !v.isEmpty();
    }
    return !v.isTextual() || !v.textValue().isEmpty(); // e.g. layers_to_transform: 3
  }

  private static void refuse(Path file, String feature, String why) {
    throw new UnsupportedAdapterException(file + ": " + feature + " is not supported: " + why);
  }

  private static Set<Proj> resolveTargets(JsonNode c, Path file, ModelConfig model) {
    JsonNode spec = opt(c, "target_modules");
    if (spec == null) {
      throw missingTargets(file);
    }
    ModuleRegex budget = new ModuleRegex(); // shared by both fields
    Predicate<String> excluded =
        matcher(opt(c, "exclude_modules"), file, "exclude_modules", budget);
    Predicate<String> targeted;
    if (spec.isTextual() && spec.textValue().toLowerCase(Locale.ROOT).equals("all-linear")) {
      targeted = key -> !OTHER_MODULES.contains(key); // every linear layer except the output layer
    } else {
      targeted = matcher(spec, file, "target_modules", budget);
      if (spec.isArray()) {
        for (JsonNode entry : spec) {
          checkListEntry(entry.textValue(), file, model);
        }
      }
    }
    Predicate<String> matches = key -> targeted.test(key) && !excluded.test(key);
    for (String other : OTHER_MODULES) {
      if (matches.test(other)) {
        refuse(
            file,
            "target module " + other + " (target_modules " + spec + ")",
            "embedding and lm_head adapters are not served; only "
                + projNames()
                + " can be targeted");
      }
    }
    Set<Proj> targets = EnumSet.noneOf(Proj.class);
    for (Proj p : Proj.values()) {
      List<Integer> layers = new ArrayList<>();
      for (int i = 0; i < model.numLayers(); i++) {
        if (matches.test(p.moduleName(i))) {
          layers.add(i);
        }
      }
      if (layers.size() == model.numLayers()) {
        targets.add(p);
      } else if (!layers.isEmpty()) {
        refuse(
            file,
            "target_modules "
                + spec
                + " adapting "
                + p.hfName()
                + " only in layers "
                + layers
                + " of "
                + model.numLayers(),
            "not supported yet: a targeted projection must be adapted in every layer");
      }
    }
    if (targets.isEmpty()) {
      throw new UnsupportedAdapterException(
          file
              + ": target_modules "
              + spec
              + " matches none of the model's projections; the modules that"
              + " exist are "
              + projNames()
              + " (as model.layers.N.self_attn.q_proj, model.layers.N.mlp.gate_proj)");
    }
    return targets;
  }

  /**
   * A list entry must name a projection (or an embedding, refused later); anything else is a typo.
   */
  private static void checkListEntry(String entry, Path file, ModelConfig model) {
    List<String> known = new ArrayList<>(OTHER_MODULES);
    for (Proj p : Proj.values()) {
      known.add(p.moduleName(0));
    }
    boolean any =
        known.stream().anyMatch(k -> k.equals(entry) || k.endsWith("." + entry))
            || (entry.startsWith("model.layers.")
                && Arrays.stream(Proj.values())
                    .anyMatch(p -> entry.endsWith("." + p.parent() + "." + p.hfName())));
    if (!any) {
      throw new UnsupportedAdapterException(
          file
              + ": target module '"
              + entry
              + "' does not exist in "
              + model.architecture()
              + "; the modules that exist are "
              + projNames()
              + " (plus embed_tokens and lm_head, not servable)");
    }
  }

  private static Predicate<String> matcher(
      JsonNode spec, Path file, String key, ModuleRegex budget) {
    if (spec == null) {
      return k -> false;
    }
    if (spec.isTextual()) {
      String regex = spec.textValue();
      if (regex.length() > ModuleRegex.MAX_LENGTH) {
        throw new ModelFormatException(
            file
                + ": "
                + key
                + " regex is "
                + regex.length()
                + " characters long (at most "
                + ModuleRegex.MAX_LENGTH
                + "); list the modules instead, e.g. [\"q_proj\", \"v_proj\"]");
      }
      Pattern re;
      try {
        re = Pattern.compile(regex);
      } catch (PatternSyntaxException e) {
        throw new ModelFormatException(
            file + ": " + key + " regex " + spec + " is invalid: " + e.getDescription(), e);
      }
      return k -> {
        try {
          return budget.fullMatch(re, k); // PEFT uses re.fullmatch
        } catch (ModuleRegex.Exhausted e) {
          throw new ModelFormatException(
              file
                  + ": "
                  + key
                  + " regex "
                  + spec
                  + " takes more than "
                  + ModuleRegex.MAX_STEPS
                  + " steps to match the model's module names (it backtracks without bound);"
                  + " simplify it or list the modules, e.g. [\"q_proj\", \"v_proj\"]",
              e);
        }
      };
    }
    if (!spec.isArray()) {
      throw new ModelFormatException(
          file + ": " + key + " must be a list of module names or a regex but is " + spec);
    }
    Set<String> entries = new TreeSet<>();
    for (JsonNode e : spec) {
      if (!e.isTextual()) {
        throw new ModelFormatException(
            file + ": " + key + " entries must be strings but one is " + e);
      }
      entries.add(e.textValue());
    }
    return k -> entries.stream().anyMatch(e -> k.equals(e) || k.endsWith("." + e));
  }

  private static List<String> projNames() {
    return Arrays.stream(Proj.values()).map(Proj::hfName).toList();
  }
}
