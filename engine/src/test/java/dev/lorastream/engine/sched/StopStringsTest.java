package dev.lorastream.engine.sched;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lorastream.engine.testdata.TokenizerJson;
import dev.lorastream.tokenizer.HfTokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link StopStrings} against the control it replaced: the whole generated text decoded after every
 * token. Same step, same cut text, on byte-level and byte-fallback decoders and the tiny model's
 * real tokenizer; and decoding work per step that does not grow with the length of the output.
 */
class StopStringsTest {
  /**
   * When generation stopped: after {@code tokens} generated tokens, with {@code text} (null: it did
   * not).
   */
  record Outcome(int tokens, String text) {}

  /**
   * The control: the engine's check before {@link StopStrings}, the whole text decoded after every
   * token.
   */
  static Outcome decodingEverything(TokenDecoder d, int[] gen, List<String> stops) {
    for (int n = 1; n <= gen.length; n++) {
      String text = d.decode(Arrays.copyOf(gen, n));
      for (String s : stops) {
        int at = text.indexOf(s);
        if (at >= 0) {
          return new Outcome(n, text.substring(0, at));
        }
      }
    }
    return new Outcome(gen.length, null);
  }

  /**
   * {@link StopStrings} driven as the engine drives it: after every token, generated tokens after a
   * prompt.
   */
  static Outcome windowed(TokenDecoder d, int[] prompt, int[] gen, List<String> stops) {
    int[] all = concat(prompt, gen);
    StopStrings ss = new StopStrings(stops);
    for (int n = 1; n <= gen.length; n++) {
      String cut = ss.cut(d, all, prompt.length, prompt.length + n);
      if (cut != null) {
        return new Outcome(n, cut);
      }
    }
    return new Outcome(gen.length, null);
  }

  /**
   * Both decoders of {@code t}: windowed equals the control, and equals {@code byteLevel} / {@code
   * byteFallback}.
   */
  private static void check(
      FakeTokenizer t, int[] gen, List<String> stops, Outcome byteLevel, Outcome byteFallback) {
    assertEquals(byteLevel, windowed(t::byteLevel, new int[0], gen, stops), "byte-level");
    assertEquals(byteLevel, decodingEverything(t::byteLevel, gen, stops), "byte-level control");
    assertEquals(byteFallback, windowed(t::byteFallback, new int[0], gen, stops), "byte-fallback");
    assertEquals(
        byteFallback, decodingEverything(t::byteFallback, gen, stops), "byte-fallback control");
  }

  @Test
  void aStopStringSplitAcrossSeveralTokensStopsAtTheTokenThatCompletesIt() {
    FakeTokenizer t = new FakeTokenizer();
    int[] gen =
        concat(
            lorem(t, 40),
            pieces(
                t, "▁The", "▁answer", "▁is", "▁4", "2", "<", "/", "ans", "wer", ">", "▁and",
                "▁more"));
    String text = " lorem".repeat(40) + " The answer is 42";
    check(t, gen, List.of("</answer>"), new Outcome(50, text), new Outcome(50, text.substring(1)));
  }

  @Test
  void aStopStringRightAfterAMultiByteCharacter() {
    FakeTokenizer t = new FakeTokenizer();
    // "€" and "日" as one byte token per UTF-8 byte: the text ends in U+FFFD until their last byte
    int[] gen =
        concat(lorem(t, 40), pieces(t, "▁price:", "▁"), t.bytes("€日"), pieces(t, "ST", "OP", "▁x"));
    String text = " lorem".repeat(40) + " price: €日";
    check(t, gen, List.of("STOP"), new Outcome(50, text), new Outcome(50, text.substring(1)));
    String before = " lorem".repeat(40) + " price: €";
    check(t, gen, List.of("日ST"), new Outcome(49, before), new Outcome(49, before.substring(1)));
  }

  @Test
  void aWindowStartingInsideACharacterGivesTheSameResult() {
    // Every distance from a 3- or 4-byte character to the stop string, so that some window starts
    // on each
    // of its bytes.
    for (String ch : List.of("€", "😀", "日本")) {
      for (int gap = 0; gap < 3 * (StopStrings.GUARD + StopStrings.SLACK + 4); gap++) {
        FakeTokenizer t = new FakeTokenizer();
        int[] gen = concat(lorem(t, 30), t.bytes(ch), lorem(t, gap), pieces(t, "ST", "OP"));
        String text = " lorem".repeat(30) + ch + " lorem".repeat(gap);
        int n = gen.length;
        check(t, gen, List.of("STOP"), new Outcome(n, text), new Outcome(n, text.substring(1)));
      }
    }
  }

  @Test
  void aStopStringInsideALongRunOfByteTokens() {
    // Byte fallback decodes a run of byte tokens all or nothing: until the run's last character is
    // complete the
    // whole run is U+FFFD, so the token that completes it changes text far before the window's
    // start.
    String run = "日本語のテキスト";
    for (int j = 1;
        j <= 6;
        j++) { // stop strings of 1..6 chars: windows that start on each byte of a character
      FakeTokenizer t = new FakeTokenizer();
      int[] gen = concat(lorem(t, 30), t.bytes(run), pieces(t, "▁x"));
      String stop = run.substring(run.length() - j);
      String text = " lorem".repeat(30) + run.substring(0, run.length() - j);
      int n = gen.length - 1;
      check(t, gen, List.of(stop), new Outcome(n, text), new Outcome(n, text.substring(1)));
    }
  }

  @Test
  void aStopStringInThePromptOnlyDoesNotStop() {
    FakeTokenizer t = new FakeTokenizer();
    int[] prompt = pieces(t, "Say", "▁</answer>", "▁when", "▁done:");
    int[] gen = lorem(t, 60);
    List<String> stops = List.of("</answer>");
    assertEquals(new Outcome(60, null), windowed(t::byteLevel, prompt, gen, stops));
    assertEquals(new Outcome(60, null), windowed(t::byteFallback, prompt, gen, stops));
  }

  @Test
  void aLaterListedStopStringThatOccursFirstStopsThere() {
    FakeTokenizer t = new FakeTokenizer();
    int[] gen = concat(lorem(t, 30), pieces(t, "▁a", "▁x", "▁b", "▁END", "▁c"));
    String text = " lorem".repeat(30) + " a ";
    check(t, gen, List.of("END", "x"), new Outcome(32, text), new Outcome(32, text.substring(1)));
  }

  @Test
  void whenOneTokenCompletesTwoStopStringsTheFirstListedWins() {
    // as before: within one step the list order decides, not the position
    FakeTokenizer t = new FakeTokenizer();
    int[] gen = concat(lorem(t, 30), pieces(t, "▁a", "▁xEND", "▁c"));
    String text = " lorem".repeat(30) + " a x";
    check(t, gen, List.of("END", "x"), new Outcome(32, text), new Outcome(32, text.substring(1)));
  }

  @Test
  void aLongGenerationDecodesTheSameAmountEachStep() {
    FakeTokenizer t = new FakeTokenizer();
    int n = 2000;
    int[] gen = concat(lorem(t, n - 4), pieces(t, "</", "ans", "wer", ">"));
    List<String> stops = List.of("</answer>", "\n\n");
    assertEquals(
        new Outcome(n, " lorem".repeat(n - 4)), windowed(t::byteLevel, new int[0], gen, stops));
    long[] perStep = tokensDecodedPerStep(t::byteLevel, gen, stops);
    int window = new StopStrings(stops).firstWindow();
    for (int k = window + 1;
        k < n;
        k++) { // the window with and without its last token, however long the text
      assertEquals(2 * window - 1, perStep[k - 1], "tokens decoded after token " + k);
    }
    assertEquals(
        2 * window - 1 + n,
        perStep[n - 1],
        "the last step also decodes the whole text once, to cut it");
  }

  @Test
  void aLongRunOfSpecialTokensDecodesNoMorePerStep() {
    // Special tokens decode to nothing: a window of them holds no text to look in, but the token
    // changed none.
    FakeTokenizer t = new FakeTokenizer();
    int n = 600;
    int[] gen = concat(lorem(t, 30), new int[n - 32], pieces(t, "ST", "OP"));
    Arrays.fill(gen, 30, n - 2, t.piece(""));
    List<String> stops = List.of("TO", "OP");
    assertEquals(
        new Outcome(n, " lorem".repeat(30) + "S"), windowed(t::byteLevel, new int[0], gen, stops));
    long[] perStep = tokensDecodedPerStep(t::byteLevel, gen, stops);
    int window = new StopStrings(stops).firstWindow();
    for (int k = window + 1; k < n - 1; k++) {
      assertEquals(2 * window - 1, perStep[k - 1], "tokens decoded after token " + k);
    }
  }

  /**
   * [steps] tokens decoded by {@link StopStrings#cut} after each generated token, until it stops.
   */
  private static long[] tokensDecodedPerStep(TokenDecoder d, int[] gen, List<String> stops) {
    long[] decoded = {0};
    TokenDecoder counting =
        ids -> {
          decoded[0] += ids.length;
          return d.decode(ids);
        };
    StopStrings ss = new StopStrings(stops);
    List<Long> perStep = new ArrayList<>();
    String cut = null;
    for (int k = 1; k <= gen.length && cut == null; k++) {
      long before = decoded[0];
      cut = ss.cut(counting, gen, 0, k);
      perStep.add(decoded[0] - before);
    }
    return perStep.stream().mapToLong(Long::longValue).toArray();
  }

  @Test
  void matchesDecodingEverythingOnRandomTokensWithBothDecoders() {
    for (long seed = 0; seed < 400; seed++) {
      Random r = new Random(seed);
      FakeTokenizer t = new FakeTokenizer();
      int[] gen = randomTokens(t, r, 1 + r.nextInt(150));
      TokenDecoder d = seed % 2 == 0 ? t::byteLevel : t::byteFallback;
      compare(d, gen, randomStops(d.decode(gen), r), "seed " + seed);
    }
  }

  @Test
  void matchesDecodingEverythingWithTheTinyModelsTokenizer(@TempDir Path dir) throws IOException {
    TokenizerJson.write(dir.resolve("tokenizer.json"), TokenizerJson.DEFAULT_MERGES);
    try (HfTokenizer tok = HfTokenizer.load(dir)) {
      int vocab = TokenizerJson.vocabSize(TokenizerJson.DEFAULT_MERGES);
      int[] text = tok.encode("The answer is 42 </answer> naïve café — 日本語 😀 done.\n\n");
      for (long seed = 0; seed < 150; seed++) {
        Random r = new Random(seed);
        // random ids (specials, lone bytes, merges) mixed with runs of real text
        int[] gen =
            IntStream.range(0, 1 + r.nextInt(120))
                .map(i -> r.nextInt(3) == 0 ? r.nextInt(vocab) : text[r.nextInt(text.length)])
                .toArray();
        compare(tok::decode, gen, randomStops(tok.decode(gen), r), "seed " + seed);
      }
    }
  }

  private static void compare(TokenDecoder d, int[] gen, List<String> stops, String what) {
    Outcome expected = decodingEverything(d, gen, stops);
    assertEquals(
        expected,
        windowed(d, new int[] {1, 2, 3}, gen, stops),
        () -> what + ", stops " + escape(stops) + ", text " + escape(List.of(d.decode(gen))));
  }

  /** 1 to 3 stop strings, mostly pieces of {@code text} (so that they occur), a few not in it. */
  private static List<String> randomStops(String text, Random r) {
    List<String> stops = new ArrayList<>();
    int count = 1 + r.nextInt(3);
    while (stops.size() < count) {
      if (text.isEmpty() || r.nextInt(6) == 0) {
        stops.add("zq" + r.nextInt(10));
        continue;
      }
      int end = 1 + r.nextInt(text.length());
      String s = text.substring(Math.max(0, end - 1 - r.nextInt(6)), end);
      if (s.indexOf('\uFFFD') < 0
          || r.nextInt(5) == 0) { // U+FFFD in a stop string: the full-text path
        stops.add(s);
      }
    }
    return stops;
  }

  /** Text pieces, specials, whole multi-byte characters as byte tokens, and stray bytes. */
  private static int[] randomTokens(FakeTokenizer t, Random r, int n) {
    String[] pieces = {"▁the", "▁a", "b", "ST", "OP", "x", "€", "é", "日本", "▁", "", "\n", "▁END"};
    String[] chars = {"é", "€", "日", "😀", "a", " "};
    List<Integer> out = new ArrayList<>();
    while (out.size() < n) {
      switch (r.nextInt(10)) {
        case 0, 1, 2 -> Arrays.stream(t.bytes(chars[r.nextInt(chars.length)])).forEach(out::add);
        case 3 -> out.add(0x80 + r.nextInt(0x80)); // a continuation or lead byte on its own
        case 4 ->
            Arrays.stream(t.bytes("日本語のテキスト".substring(r.nextInt(8))))
                .forEach(out::add); // a long run
        default -> out.add(t.piece(pieces[r.nextInt(pieces.length)]));
      }
    }
    return out.subList(0, n).stream().mapToInt(Integer::intValue).toArray();
  }

  private static int[] lorem(FakeTokenizer t, int n) {
    int[] out = new int[n];
    Arrays.fill(out, t.piece("▁lorem"));
    return out;
  }

  private static int[] pieces(FakeTokenizer t, String... ps) {
    return Arrays.stream(ps).mapToInt(t::piece).toArray();
  }

  private static int[] concat(int[]... parts) {
    return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
  }

  private static String escape(List<String> ss) {
    StringBuilder b = new StringBuilder();
    for (String s : ss) {
      b.append('"');
      s.chars()
          .forEach(
              c ->
                  b.append(
                      c < 0x20 || c > 0x7e
                          ? String.format("\\u%04x", c)
                          : String.valueOf((char) c)));
      b.append("\" ");
    }
    return b.toString().trim();
  }
}
