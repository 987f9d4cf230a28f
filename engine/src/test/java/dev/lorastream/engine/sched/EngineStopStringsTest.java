package dev.lorastream.engine.sched;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.StopStringsTest.Outcome;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.engine.testdata.TokenizerJson;
import dev.lorastream.tokenizer.HfTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Stop strings in the engine, on the tiny model with 2k positions and its real tokenizer: the same
 * tokens, text and finish reason as decoding the whole text after every token, the prompt never
 * matched, and decoding work per step that does not grow with the output.
 */
class EngineStopStringsTest {
  static final int POSITIONS = 2048 + 64;
  static final String PROMPT = "Once upon a time";

  @TempDir static Path tmp;
  static Ops ops;
  static LoadedModel lm;
  static HfTokenizer tok;

  @BeforeAll
  static void setUp() throws Exception {
    ModelGenerator.Spec t = ModelGenerator.preset("tiny");
    ModelGenerator.Spec spec =
        new ModelGenerator.Spec(
            t.arch(),
            t.hidden(),
            t.intermediate(),
            t.layers(),
            t.heads(),
            t.kvHeads(),
            t.vocab(),
            POSITIONS,
            t.dtype(),
            t.tieEmbeddings(),
            t.llama3Rope());
    Path dir = tmp.resolve("m");
    ModelGenerator.write(spec, 7, 1, TokenizerJson.DEFAULT_MERGES, dir);
    ops = Backends.create("cpu");
    lm = ModelLoader.load(dir, ops);
    tok = HfTokenizer.load(dir);
  }

  @AfterAll
  static void tearDown() {
    lm.close();
    tok.close();
  }

  private static Engine engine(TokenDecoder decoder) {
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(POSITIONS / 16)
            .withLora(1, 8, EnumSet.noneOf(Proj.class), LlamaModel.LoraKernel.SGMV);
    LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
    return new Engine(
        m,
        ec,
        id -> {
          throw new AssertionError(id);
        },
        decoder);
  }

  private static GenerationResult generate(
      TokenDecoder decoder, int maxTokens, List<String> stops) {
    try (Engine e = engine(decoder)) {
      SamplingParams p = new SamplingParams(0f, 0, 1f, 0, maxTokens, List.of(), stops);
      CompletableFuture<GenerationResult> f =
          e.submit(new GenerationRequest("r", tok.encode(PROMPT), null, p));
      e.runUntilIdle();
      return f.join();
    }
  }

  @Test
  void theSameTokensTextAndFinishReasonAsDecodingTheWholeTextEachStep() {
    GenerationResult free = generate(tok::decode, 200, List.of());
    assertEquals(FinishReason.LENGTH, free.finishReason());
    String text = free.text();
    List<List<String>> cases = new ArrayList<>();
    for (int end : new int[] {3, 40, 90, text.length() / 2, text.length() - 1}) {
      for (int len : new int[] {1, 3, 6}) {
        cases.add(List.of(text.substring(Math.max(0, end - len), end)));
      }
    }
    cases.add(
        List.of(
            text.substring(80, 84), text.substring(20, 22))); // the later-listed one occurs first
    cases.add(List.of("\u0000never\u0000"));
    for (List<String> stops : cases) {
      Outcome expected = StopStringsTest.decodingEverything(tok::decode, free.tokens(), stops);
      GenerationResult r = generate(tok::decode, 200, stops);
      String what = "stops " + stops;
      assertArrayEquals(Arrays.copyOf(free.tokens(), expected.tokens()), r.tokens(), what);
      assertEquals(expected.text() == null ? text : expected.text(), r.text(), what);
      assertEquals(
          expected.text() == null ? FinishReason.LENGTH : FinishReason.STOP,
          r.finishReason(),
          what);
    }
  }

  @Test
  void aStopStringInThePromptOnlyDoesNotStop() {
    GenerationResult free = generate(tok::decode, 60, List.of());
    String stop = "upon a";
    assertFalse(free.text().contains(stop), "the tiny model wrote the stop string: pick another");
    GenerationResult r = generate(tok::decode, 60, List.of(stop));
    assertEquals(FinishReason.LENGTH, r.finishReason());
    assertArrayEquals(free.tokens(), r.tokens());
    assertEquals(free.text(), r.text());
  }

  @Test
  void aLongGenerationDecodesAWindowPerStepNotTheWholeText() {
    int n = 2000;
    long[] decoded = {0}; // tokens through the decoder so far
    TokenDecoder counting =
        ids -> {
          decoded[0] += ids.length;
          return tok.decode(ids);
        };
    String stop = "\u0000never\u0000";
    List<Long> perStep =
        new ArrayList<>(); // [steps] tokens decoded in each step; one new token per step
    GenerationResult r;
    try (Engine e = engine(counting)) {
      SamplingParams p = new SamplingParams(0f, 0, 1f, 0, n, List.of(), List.of(stop));
      CompletableFuture<GenerationResult> f =
          e.submit(new GenerationRequest("r", tok.encode(PROMPT), null, p));
      while (!f.isDone()) {
        long before = decoded[0];
        e.step();
        perStep.add(decoded[0] - before);
      }
      r = f.join();
    }
    assertEquals(
        FinishReason.LENGTH, r.finishReason(), "the tiny model stopped early: pick another prompt");
    assertEquals(n, r.tokens().length);
    assertEquals(n, perStep.size());
    // Decoding the whole text each step costs k tokens at step k (1999 at the end, 1000 on
    // average). A window
    // costs about twice its size, and twice that again each time it doubles (too little text past
    // its leading
    // U+FFFDs); bounds independent of n leave room for another machine's greedy tokens (measured:
    // 37 every step).
    int window = new StopStrings(List.of(stop)).firstWindow();
    long most = perStep.subList(0, n - 1).stream().mapToLong(Long::longValue).max().orElseThrow();
    long total = perStep.subList(0, n - 1).stream().mapToLong(Long::longValue).sum();
    assertTrue(most <= 32L * window, "a step decoded " + most + " tokens");
    assertTrue(total <= 8L * window * n, "steps decoded " + total + " tokens");
    long last =
        perStep.get(n - 1) - n; // the last step also decodes the result's text, all of it, once
    assertTrue(
        last >= 0 && last <= 32L * window,
        "the last step decoded " + perStep.get(n - 1) + " tokens");
  }
}
