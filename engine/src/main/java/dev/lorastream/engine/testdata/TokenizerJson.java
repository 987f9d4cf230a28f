package dev.lorastream.engine.testdata;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds a Hugging Face {@code tokenizer.json} for a small byte-level BPE tokenizer (GPT-2 style).
 *
 * <p>Ids: 0 {@code <unk>}, 1 {@code <s>} (bos), 2 {@code </s>} (eos), 3 {@code <pad>} (special
 * added tokens, also in the model vocab); {@code 4 + b} for byte {@code b} (spelled with GPT-2's
 * bytes_to_unicode); then one token per merge, learned by plain BPE training on a small built-in
 * English text (most frequent pair first, ties broken by the pair's spelling), so the output is
 * deterministic. Pre-tokenizer and decoder are ByteLevel ({@code add_prefix_space} false), there is
 * no normalizer and no post-processor (encode adds no bos). Every byte string encodes, and encode
 * then decode gives the text back.
 */
public final class TokenizerJson {
  public static final int UNK_ID = 0;
  public static final int BOS_ID = 1;
  public static final int EOS_ID = 2;
  public static final int PAD_ID = 3;
  public static final List<String> SPECIALS = List.of("<unk>", "<s>", "</s>", "<pad>");

  /** First byte token id: byte b is token {@code BYTE_OFFSET + b}. */
  public static final int BYTE_OFFSET = SPECIALS.size();

  /** Merges giving a vocab of 512 (4 specials + 256 bytes + 252 merges). */
  public static final int DEFAULT_MERGES = 512 - BYTE_OFFSET - 256;

  /** GPT-2's pre-tokenizer regex (the ByteLevel {@code use_regex} split). */
  private static final Pattern GPT2_SPLIT =
      Pattern.compile(
          "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");

  private static final String CORPUS =
      """
      The model reads the request, looks up the adapter, and writes the answer to the topic. Each adapter is a \
      small pair of matrices that changes how the base model thinks about one task, one customer or one style. \
      When many requests arrive at the same time, the server groups them into a batch and runs the shared \
      weights once for all of them, while every token still sees its own adapter. This is the whole trick: the \
      expensive part is shared, and the cheap part is different for every request.
      In the morning the weather was cold and the streets were quiet. She walked to the station with her \
      brother, talking about the things they wanted to build, the places they had seen and the people they \
      would meet. There is nothing more interesting than a question that nobody has answered before, he said, \
      and nothing more useful than a simple answer that anyone can check.
      Numbers such as 1, 2, 3, 10, 42, 100 and 2048 appear in text too; so do symbols like (brackets), "quotes", \
      commas, colons: and semicolons; question marks? and exclamation marks!
      We tested the program with short prompts and long prompts, with one adapter and with thousands of them, \
      and we measured how long it took to produce the first token and every token after it. The results were \
      written down, compared with the reference, and checked again whenever something changed.
      """;

  private TokenizerJson() {}

  /** Total vocabulary size for {@code merges} merges. */
  public static int vocabSize(int merges) {
    return BYTE_OFFSET + 256 + merges;
  }

  /** Writes {@code tokenizer.json} with {@code merges} learned merges. */
  public static void write(Path file, int merges) throws IOException {
    new ObjectMapper()
        .enable(SerializationFeature.INDENT_OUTPUT)
        .writeValue(file.toFile(), build(merges));
  }

  /**
   * The tokenizer JSON tree.
   *
   * @throws IllegalArgumentException if the built-in text cannot supply {@code merges} merges
   */
  public static ObjectNode build(int merges) {
    ObjectMapper json = new ObjectMapper();
    String[] byteChars = bytesToUnicode();
    Map<String, Integer> vocab = new LinkedHashMap<>();
    for (int i = 0; i < SPECIALS.size(); i++) {
      vocab.put(SPECIALS.get(i), i);
    }
    for (int b = 0; b < 256; b++) {
      vocab.put(byteChars[b], BYTE_OFFSET + b);
    }
    List<String[]> learned = learnMerges(byteChars, merges);
    for (String[] m : learned) {
      vocab.putIfAbsent(m[0] + m[1], vocab.size());
    }

    ObjectNode root = json.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (int i = 0; i < SPECIALS.size(); i++) {
      added
          .addObject()
          .put("id", i)
          .put("content", SPECIALS.get(i))
          .put("single_word", false)
          .put("lstrip", false)
          .put("rstrip", false)
          .put("normalized", false)
          .put("special", true);
    }
    root.putNull("normalizer");
    root.set("pre_tokenizer", byteLevel(json, false));
    root.set("post_processor", bosTemplate(json));
    root.set("decoder", byteLevel(json, true));
    ObjectNode model = root.putObject("model");
    model.put("type", "BPE");
    model.putNull("dropout");
    model.putNull("unk_token");
    model.putNull("continuing_subword_prefix");
    model.putNull("end_of_word_suffix");
    model.put("fuse_unk", false);
    model.put("byte_fallback", false);
    model.put("ignore_merges", false);
    ObjectNode v = model.putObject("vocab");
    vocab.forEach(v::put);
    ArrayNode m = model.putArray("merges");
    for (String[] pair : learned) {
      m.add(pair[0] + " " + pair[1]);
    }
    return root;
  }

  /** Llama's post-processor: encoding with special tokens prepends {@code <s>} (id 1). */
  private static ObjectNode bosTemplate(ObjectMapper json) {
    ObjectNode n = json.createObjectNode();
    n.put("type", "TemplateProcessing");
    ArrayNode single = n.putArray("single");
    single.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
    single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
    ArrayNode pair = n.putArray("pair");
    pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
    pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
    pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 1);
    pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
    ObjectNode bos = n.putObject("special_tokens").putObject("<s>");
    bos.put("id", "<s>");
    bos.putArray("ids").add(1);
    bos.putArray("tokens").add("<s>");
    return n;
  }

  private static ObjectNode byteLevel(ObjectMapper json, boolean addPrefixSpace) {
    ObjectNode n = json.createObjectNode();
    n.put("type", "ByteLevel");
    n.put("add_prefix_space", addPrefixSpace);
    n.put("trim_offsets", true);
    n.put("use_regex", true);
    return n;
  }

  /**
   * Plain BPE training over the built-in text: repeatedly merge the most frequent adjacent pair,
   * until {@code merges} distinct new tokens exist.
   */
  private static List<String[]> learnMerges(String[] byteChars, int merges) {
    // word (as its current symbol list) -> count; TreeMap keeps iteration, hence ties,
    // deterministic
    Map<String, Integer> counts = new TreeMap<>();
    Matcher mt = GPT2_SPLIT.matcher(CORPUS.replace('\n', ' '));
    while (mt.find()) {
      StringBuilder w = new StringBuilder();
      for (byte b : mt.group().getBytes(StandardCharsets.UTF_8)) {
        w.append(byteChars[b & 0xFF]);
      }
      counts.merge(w.toString(), 1, Integer::sum);
    }
    List<List<String>> words = new ArrayList<>();
    List<Integer> freq = new ArrayList<>();
    counts.forEach(
        (w, c) -> {
          List<String> syms = new ArrayList<>();
          w.codePoints().forEach(cp -> syms.add(Character.toString(cp)));
          words.add(syms);
          freq.add(c);
        });
    List<String[]> out = new ArrayList<>();
    Set<String> made = new HashSet<>(); // distinct new tokens (two merges may spell one)
    while (made.size() < merges) {
      Map<String, Integer> pairs = new TreeMap<>();
      for (int i = 0; i < words.size(); i++) {
        List<String> s = words.get(i);
        for (int j = 0; j + 1 < s.size(); j++) {
          pairs.merge(s.get(j) + " " + s.get(j + 1), freq.get(i), Integer::sum);
        }
      }
      if (pairs.isEmpty()) {
        throw new IllegalArgumentException(
            "the built-in text supports at most " + made.size() + " merges, asked for " + merges);
      }
      String best = null;
      int bestCount = 0;
      for (var e : pairs.entrySet()) {
        if (e.getValue() > bestCount) {
          best = e.getKey();
          bestCount = e.getValue();
        }
      }
      String[] pair = best.split(" ", 2);
      out.add(pair);
      made.add(pair[0] + pair[1]);
      for (List<String> s : words) {
        for (int j = 0; j + 1 < s.size(); j++) {
          if (s.get(j).equals(pair[0]) && s.get(j + 1).equals(pair[1])) {
            s.set(j, pair[0] + pair[1]);
            s.remove(j + 1);
          }
        }
      }
    }
    return out;
  }

  /** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 upwards. */
  static String[] bytesToUnicode() {
    String[] out = new String[256];
    int n = 0;
    for (int b = 0; b < 256; b++) {
      boolean printable =
          (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      out[b] = Character.toString(printable ? b : 256 + n++);
    }
    return out;
  }
}
