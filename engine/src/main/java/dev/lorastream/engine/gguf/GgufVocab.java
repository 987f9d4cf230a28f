package dev.lorastream.engine.gguf;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lorastream.engine.config.ModelConfig;
import dev.lorastream.engine.io.GgufWriter;
import dev.lorastream.engine.io.JsonFiles;
import dev.lorastream.engine.io.ModelFormatException;
import dev.lorastream.engine.io.UnsupportedArchitectureException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model folder's Hugging Face byte-level BPE tokenizer ({@code tokenizer.json}) as llama.cpp's
 * {@code gpt2} tokenizer metadata.
 *
 * <p>The token list has exactly the model's {@code vocab_size} entries: ids the tokenizer does not
 * use (an embedding larger than the tokenizer) become {@code [PAD<id>]} tokens of type UNUSED, as
 * llama.cpp's converter writes them. Added tokens marked {@code special} are CONTROL tokens, other
 * added tokens USER_DEFINED, the rest NORMAL. Token strings are the tokenizer's own (byte-level
 * spelled, e.g. {@code Ġthe}), which is what llama.cpp expects for {@code gpt2}.
 *
 * @param tokens {@code vocab_size} token strings, by id
 * @param types llama token types, by id
 * @param merges BPE merges as {@code "left right"}, by rank
 * @param pre llama.cpp's pre-tokenizer name
 * @param bos bos token id, -1 when unknown
 * @param eos eos token id, -1 when unknown
 * @param addBos whether encoding prepends bos
 * @param addEos whether encoding appends eos
 * @param fromTokenizer how many ids the tokenizer itself defines
 */
public record GgufVocab(
    List<String> tokens,
    int[] types,
    List<String> merges,
    String pre,
    int bos,
    int eos,
    boolean addBos,
    boolean addEos,
    int fromTokenizer) {

  public static final String FILE_NAME = "tokenizer.json";

  /** llama.cpp's {@code llama_token_type}. */
  public static final int NORMAL = 1;

  public static final int CONTROL = 3;
  public static final int USER_DEFINED = 4;
  public static final int UNUSED = 5;

  /** GPT-2's split, which a ByteLevel pre-tokenizer with {@code use_regex} applies. */
  public static final String PRE_GPT2 = "gpt-2";

  /** llama.cpp's fallback split, for byte-level tokenizers whose split it does not know. */
  public static final String PRE_DEFAULT = "default";

  /** Writes the {@code tokenizer.*} keys. */
  public void writeTo(GgufWriter w) {
    w.putString("tokenizer.ggml.model", "gpt2");
    w.putString("tokenizer.ggml.pre", pre);
    w.putStringArray("tokenizer.ggml.tokens", tokens);
    w.putInt32Array("tokenizer.ggml.token_type", types);
    w.putStringArray("tokenizer.ggml.merges", merges);
    if (bos >= 0) {
      w.putUInt32("tokenizer.ggml.bos_token_id", bos);
    }
    if (eos >= 0) {
      w.putUInt32("tokenizer.ggml.eos_token_id", eos);
    }
    w.putBool("tokenizer.ggml.add_bos_token", addBos);
    w.putBool("tokenizer.ggml.add_eos_token", addEos);
  }

  /**
   * Reads {@code modelDir/tokenizer.json} (plus {@code generation_config.json} and {@code
   * tokenizer_config.json} when present) for a model of {@code config.vocabSize()} ids.
   *
   * @throws UnsupportedArchitectureException when the tokenizer is not byte-level BPE
   * @throws ModelFormatException when a file is missing or malformed, or the tokenizer uses ids the
   *     model does not have
   */
  public static GgufVocab read(Path modelDir, ModelConfig config) {
    Path file = modelDir.resolve(FILE_NAME);
    JsonNode root =
        JsonFiles.readObject(
            file,
            "export-gguf needs the model's Hugging Face tokenizer.json (byte-level BPE) in "
                + modelDir);
    JsonNode model = root.path("model");
    String type = model.path("type").asText("");
    if (!type.equals("BPE") || model.path("byte_fallback").asBoolean(false)) {
      throw new UnsupportedArchitectureException(
          file
              + ": model type '"
              + type
              + "'"
              + (model.path("byte_fallback").asBoolean(false) ? " with byte_fallback" : "")
              + " cannot be exported; only byte-level BPE tokenizers (GPT-2 style, llama.cpp's"
              + " 'gpt2') are supported");
    }
    String pre = preTokenizer(root.path("pre_tokenizer"), file);
    int n = config.vocabSize();
    String[] byId = new String[n];
    int[] types = new int[n];
    JsonNode vocab = model.path("vocab");
    if (!vocab.isObject() || vocab.isEmpty()) {
      throw new ModelFormatException(file + ": model.vocab must be a non-empty object");
    }
    for (var e : vocab.properties()) {
      int id = tokenId(e.getValue(), e.getKey(), file, n);
      byId[id] = e.getKey();
      types[id] = NORMAL;
    }
    for (JsonNode t : root.path("added_tokens")) {
      String content = t.path("content").asText(null);
      if (content == null) {
        throw new ModelFormatException(file + ": an added token has no 'content': " + t);
      }
      int id = tokenId(t.path("id"), content, file, n);
      byId[id] = content;
      types[id] = t.path("special").asBoolean(false) ? CONTROL : USER_DEFINED;
    }
    int fromTokenizer = 0;
    Map<String, Integer> seen = new HashMap<>();
    List<String> tokens = new ArrayList<>(n);
    for (int id = 0; id < n; id++) {
      if (byId[id] == null) {
        byId[id] = "[PAD" + id + "]";
        types[id] = UNUSED;
      } else {
        fromTokenizer++;
      }
      Integer other = seen.putIfAbsent(byId[id], id);
      if (other != null) {
        throw new ModelFormatException(
            file
                + ": ids "
                + other
                + " and "
                + id
                + " both spell '"
                + byId[id]
                + "'; llama.cpp needs every token string to be unique");
      }
      tokens.add(byId[id]);
    }
    int[] bosEos = bosEos(modelDir, config, n);
    boolean[] adds = addSpecial(modelDir, root);
    return new GgufVocab(
        List.copyOf(tokens),
        types,
        merges(model.path("merges"), file),
        pre,
        bosEos[0],
        bosEos[1],
        adds[0],
        adds[1],
        fromTokenizer);
  }

  private static int tokenId(JsonNode v, String token, Path file, int vocabSize) {
    if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < 0) {
      throw new ModelFormatException(file + ": token '" + token + "' has invalid id " + v);
    }
    int id = v.intValue();
    if (id >= vocabSize) {
      throw new ModelFormatException(
          file
              + ": token '"
              + token
              + "' has id "
              + id
              + " but the model's vocab_size is "
              + vocabSize
              + "; the tokenizer does not belong to this model");
    }
    return id;
  }

  /**
   * {@code gpt-2} for a plain ByteLevel pre-tokenizer splitting with GPT-2's regex, {@code default}
   * for one that is ByteLevel with another split.
   */
  private static String preTokenizer(JsonNode pt, Path file) {
    String type = pt.path("type").asText("");
    if (type.equals("ByteLevel")) {
      return pt.path("use_regex").asBoolean(true) && !pt.path("add_prefix_space").asBoolean(false)
          ? PRE_GPT2
          : PRE_DEFAULT;
    }
    if (type.equals("Sequence")) {
      for (JsonNode p : pt.path("pretokenizers")) {
        if (p.path("type").asText("").equals("ByteLevel")) {
          return PRE_DEFAULT;
        }
      }
    }
    throw new UnsupportedArchitectureException(
        file
            + ": pre_tokenizer "
            + (pt.isMissingNode() || pt.isNull() ? "null" : "'" + type + "'")
            + " is not byte-level; only byte-level BPE tokenizers (GPT-2 style) can be exported");
  }

  /** Merges as {@code "a b"}; the array form {@code ["a", "b"]} spells a space in a part as Ġ. */
  private static List<String> merges(JsonNode node, Path file) {
    if (!node.isArray() || node.isEmpty()) {
      throw new ModelFormatException(
          file + ": model.merges must be a non-empty list; llama.cpp's BPE needs the merges");
    }
    List<String> out = new ArrayList<>(node.size());
    for (JsonNode m : node) {
      if (m.isTextual()) {
        out.add(m.textValue());
      } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()) {
        out.add(
            m.get(0).textValue().replace(' ', '\u0120')
                + " "
                + m.get(1).textValue().replace(' ', '\u0120'));
      } else {
        throw new ModelFormatException(
            file + ": merge " + m + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
    return List.copyOf(out);
  }

  /**
   * Bos and eos from {@code generation_config.json} when it names them, else {@code config.json};
   * the first eos of a list. -1 when absent or outside the vocab.
   */
  private static int[] bosEos(Path modelDir, ModelConfig config, int vocabSize) {
    int bos = config.bosTokenId();
    int[] eosIds = config.eosTokenIds();
    int eos = eosIds.length == 0 ? -1 : eosIds[0];
    Path gen = modelDir.resolve("generation_config.json");
    if (Files.isRegularFile(gen)) {
      JsonNode g = JsonFiles.readObject(gen, "generation config");
      JsonNode b = g.path("bos_token_id");
      if (b.isIntegralNumber()) {
        bos = b.intValue();
      }
      JsonNode e = g.path("eos_token_id");
      if (e.isArray() && !e.isEmpty() && e.get(0).isIntegralNumber()) {
        eos = e.get(0).intValue();
      } else if (e.isIntegralNumber()) {
        eos = e.intValue();
      }
    }
    return new int[] {inVocab(bos, vocabSize), inVocab(eos, vocabSize)};
  }

  private static int inVocab(int id, int vocabSize) {
    return id >= 0 && id < vocabSize ? id : -1;
  }

  /**
   * add_bos / add_eos: {@code tokenizer_config.json}'s flags when set, else what the
   * TemplateProcessing post-processor adds around a single sequence (a special token first / last).
   */
  private static boolean[] addSpecial(Path modelDir, JsonNode tokenizer) {
    boolean addBos = false;
    boolean addEos = false;
    JsonNode pp = tokenizer.path("post_processor");
    List<JsonNode> processors = new ArrayList<>();
    if (pp.path("type").asText("").equals("Sequence")) {
      pp.path("processors").forEach(processors::add);
    } else {
      processors.add(pp);
    }
    for (JsonNode p : processors) {
      JsonNode single = p.path("single");
      if (p.path("type").asText("").equals("TemplateProcessing") && single.size() > 1) {
        addBos |= single.get(0).has("SpecialToken");
        addEos |= single.get(single.size() - 1).has("SpecialToken");
      }
    }
    Path tc = modelDir.resolve("tokenizer_config.json");
    if (Files.isRegularFile(tc)) {
      JsonNode c = JsonFiles.readObject(tc, "tokenizer config");
      if (c.path("add_bos_token").isBoolean()) {
        addBos = c.path("add_bos_token").booleanValue();
      }
      if (c.path("add_eos_token").isBoolean()) {
        addEos = c.path("add_eos_token").booleanValue();
      }
    }
    return new boolean[] {addBos, addEos};
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof GgufVocab v
        && tokens.equals(v.tokens)
        && Arrays.equals(types, v.types)
        && merges.equals(v.merges)
        && pre.equals(v.pre)
        && bos == v.bos
        && eos == v.eos
        && addBos == v.addBos
        && addEos == v.addEos;
  }

  @Override
  public int hashCode() {
    return tokens.hashCode() * 31 + Arrays.hashCode(types);
  }

  @Override
  public int[] types() {
    return types.clone();
  }
}
