package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.tokenizer.HfTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The trained demo model ({@code models/lorastream-demo}, made by {@code
 * training/train_lorastream_demo.py}): one engine run serves the same prompts through the four
 * style adapters in one mixed batch, and a character-bigram classifier, learned here from the
 * committed samples of the four training corpora ({@code style-adapters/style-samples.txt}), must
 * recognise each row's completion as its own adapter's style.
 */
class StyleAdaptersTest {
  static final Path MODEL = Path.of("../models/lorastream-demo");
  static final List<String> STYLES = List.of("legal", "python", "shell", "docs");

  /**
   * Starts of words that every style uses (conditions/class/case, distribute/def/done, ...): they
   * leave the style to the adapter. A prompt that already reads as prose ("The ") pulls the small
   * code adapters towards comments and docstrings more often.
   */
  static final List<String> PROMPTS = List.of("c", "d", "s");

  static final int MAX_TOKENS = 128;
  static final int MAX_RANK = 16;

  /**
   * One seed for every row: rows that differ only in their adapter sample with the same random
   * numbers.
   */
  static final long SEED = 1;

  static Ops ops;
  static LoadedModel lm;
  static HfTokenizer tok;
  static StyleClassifier classifier;

  /**
   * One row of the batch: the prompt, the adapter it is served with, and the style it should read
   * as.
   */
  record Row(String prompt, String adapter, String expected) {}

  /** A served row and the classifier's verdict. */
  record Verdict(Row row, String text, String predicted) {
    boolean matches() {
      return predicted.equals(row.expected());
    }
  }

  @BeforeAll
  static void setUp() throws IOException {
    Assumptions.assumeTrue(
        Files.isRegularFile(MODEL.resolve("model.safetensors")),
        "the demo model is not at "
            + MODEL.toAbsolutePath()
            + " (see models/lorastream-demo/README.md)");
    ops = Backends.create("cpu");
    lm = ModelLoader.load(MODEL, ops);
    tok = HfTokenizer.load(MODEL);
    classifier = StyleClassifier.train(samples());
  }

  @AfterAll
  static void tearDown() {
    if (lm != null) {
      lm.close();
      tok.close();
    }
  }

  @Test
  void eachRowOfAMixedBatchWritesInItsOwnAdaptersStyle() {
    List<Verdict> verdicts = serve(rows());
    assertTrue(verdicts.stream().allMatch(Verdict::matches), () -> table(verdicts));
  }

  @Test
  void aRowRoutedToTheWrongAdapterIsCaught() {
    // Swap the adapters of the legal and python rows of the first prompt; their expected styles
    // stay.
    List<Row> rows = new ArrayList<>(rows());
    int legal = rows.indexOf(new Row(PROMPTS.get(0), "legal", "legal"));
    int python = rows.indexOf(new Row(PROMPTS.get(0), "python", "python"));
    rows.set(legal, new Row(PROMPTS.get(0), "python", "legal"));
    rows.set(python, new Row(PROMPTS.get(0), "legal", "python"));
    List<Verdict> verdicts = serve(rows);
    assertNotEquals("legal", verdicts.get(legal).predicted(), () -> table(verdicts));
    assertNotEquals("python", verdicts.get(python).predicted(), () -> table(verdicts));
    assertEquals("python", verdicts.get(legal).predicted(), () -> table(verdicts));
    assertEquals("legal", verdicts.get(python).predicted(), () -> table(verdicts));
  }

  /**
   * Every prompt through every adapter, prompt-major: the same prompt's rows sit next to each
   * other.
   */
  private static List<Row> rows() {
    List<Row> rows = new ArrayList<>();
    for (String p : PROMPTS) {
      for (String s : STYLES) {
        rows.add(new Row(p, s, s));
      }
    }
    return rows;
  }

  /** Serves all rows in one engine run (one mixed batch) and classifies each completion. */
  private static List<Verdict> serve(List<Row> rows) {
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(256)
            .withLora(
                STYLES.size(), MAX_RANK, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
    LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
    try (Engine e =
        new Engine(
            m,
            ec,
            id -> LoraAdapter.load(MODEL.resolve("adapters").resolve(id), lm.config(), MAX_RANK),
            tok::decode)) {
      List<CompletableFuture<GenerationResult>> futures = new ArrayList<>();
      for (int i = 0; i < rows.size(); i++) {
        Row r = rows.get(i);
        // The same seed everywhere: swapping two rows' adapters swaps their completions exactly.
        SamplingParams p = new SamplingParams(0.7f, 0, 1f, SEED, MAX_TOKENS, List.of(), List.of());
        futures.add(
            e.submit(new GenerationRequest("row" + i, tok.encode(r.prompt()), r.adapter(), p)));
      }
      e.runUntilIdle();
      List<String> texts = new ArrayList<>();
      for (CompletableFuture<GenerationResult> f : futures) {
        GenerationResult res = f.join();
        assertTrue(res.ok(), () -> res.errorCode() + ": " + res.errorMessage());
        texts.add(res.text());
      }
      // The rows of one prompt (one per adapter, adjacent) are labelled together, one style each.
      List<Verdict> out = new ArrayList<>();
      for (int g = 0; g < rows.size(); g += STYLES.size()) {
        List<String> labels = classifier.assign(texts.subList(g, g + STYLES.size()));
        for (int i = 0; i < labels.size(); i++) {
          out.add(new Verdict(rows.get(g + i), texts.get(g + i), labels.get(i)));
        }
      }
      return out;
    }
  }

  private static String table(List<Verdict> verdicts) {
    StringBuilder sb = new StringBuilder("adapter  expected predicted  completion\n");
    for (Verdict v : verdicts) {
      sb.append(
          String.format(
              "%-8s %-8s %-8s%s %s%n",
              v.row().adapter(),
              v.row().expected(),
              v.predicted(),
              v.matches() ? " " : "!",
              (v.row().prompt() + "|" + v.text()).replace("\n", "\u23ce")));
    }
    return sb.toString();
  }

  /**
   * The committed samples: {@code ===== style: NAME =====} headers, each followed by that style's
   * text.
   */
  private static Map<String, String> samples() throws IOException {
    String all;
    try (InputStream in =
        StyleAdaptersTest.class.getResourceAsStream("/style-adapters/style-samples.txt")) {
      all = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    Map<String, String> out = new LinkedHashMap<>();
    String[] parts = all.split("(?m)^===== style: ");
    for (String part : parts) {
      if (!part.isEmpty()) {
        int nl = part.indexOf('\n');
        out.put(part.substring(0, nl).replace(" =====", "").strip(), part.substring(nl + 1));
      }
    }
    assertEquals(STYLES, List.copyOf(out.keySet()), "sections of style-samples.txt");
    return out;
  }

  /**
   * Naive character-bigram language model per style: {@code P(c | p) = (n(p,c) + K P(c)) / (n(p) +
   * K)} with the unigram {@code P(c)} add-half smoothed; characters above 126 share one bucket. A
   * text's style is the one under whose model it is most likely per character; a group of texts,
   * one per style, gets the one-to-one labelling with the highest total likelihood (a short
   * completion can sit between two styles, its neighbours rarely do).
   */
  static final class StyleClassifier {
    private static final int A = 128; // alphabet: ASCII, with 127 standing for everything else
    private static final double K = 4.0;
    private final Map<String, double[]> logP =
        new LinkedHashMap<>(); // style -> [A * A] log P(c | prev)

    static StyleClassifier train(Map<String, String> samples) {
      StyleClassifier c = new StyleClassifier();
      samples.forEach((style, text) -> c.logP.put(style, bigramLogProbs(text)));
      return c;
    }

    private static int sym(char ch) {
      return ch < A - 1 ? ch : A - 1;
    }

    private static double[] bigramLogProbs(String text) {
      double[] pair = new double[A * A];
      double[] prev = new double[A];
      double[] uni = new double[A];
      for (int i = 0; i < text.length(); i++) {
        int c = sym(text.charAt(i));
        uni[c]++;
        if (i > 0) {
          int p = sym(text.charAt(i - 1));
          pair[p * A + c]++;
          prev[p]++;
        }
      }
      double[] out = new double[A * A];
      for (int p = 0; p < A; p++) {
        for (int c = 0; c < A; c++) {
          double pu = (uni[c] + 0.5) / (text.length() + 0.5 * A);
          out[p * A + c] = Math.log((pair[p * A + c] + K * pu) / (prev[p] + K));
        }
      }
      return out;
    }

    /** Mean log-likelihood per character of {@code text} under each style's model. */
    Map<String, Double> scores(String text) {
      Map<String, Double> out = new LinkedHashMap<>();
      logP.forEach(
          (style, lp) -> {
            double sum = 0;
            for (int i = 1; i < text.length(); i++) {
              sum += lp[sym(text.charAt(i - 1)) * A + sym(text.charAt(i))];
            }
            out.put(style, sum / Math.max(1, text.length() - 1));
          });
      return out;
    }

    /**
     * One distinct style per text (as many texts as styles): the labelling with the highest summed
     * score.
     */
    List<String> assign(List<String> texts) {
      List<String> styles = List.copyOf(logP.keySet());
      assertEquals(styles.size(), texts.size(), "one text per style");
      double[][] s = new double[texts.size()][];
      for (int i = 0; i < texts.size(); i++) {
        s[i] = scores(texts.get(i)).values().stream().mapToDouble(Double::doubleValue).toArray();
      }
      int[] best = new int[0];
      double bestSum = Double.NEGATIVE_INFINITY;
      for (int[] perm : permutations(styles.size())) {
        double sum = 0;
        for (int i = 0; i < perm.length; i++) {
          sum += s[i][perm[i]];
        }
        if (sum > bestSum) {
          bestSum = sum;
          best = perm;
        }
      }
      return Arrays.stream(best).mapToObj(styles::get).toList();
    }

    private static List<int[]> permutations(int n) {
      List<int[]> out = new ArrayList<>();
      permute(new int[n], new boolean[n], 0, out);
      return out;
    }

    private static void permute(int[] cur, boolean[] used, int k, List<int[]> out) {
      if (k == cur.length) {
        out.add(cur.clone());
        return;
      }
      for (int v = 0; v < cur.length; v++) {
        if (!used[v]) {
          used[v] = true;
          cur[k] = v;
          permute(cur, used, k + 1, out);
          used[v] = false;
        }
      }
    }
  }
}
