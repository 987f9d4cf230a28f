package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import dev.lorastream.engine.sched.EngineError;
import dev.lorastream.engine.sched.FinishReason;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.tokenizer.HfTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How the engine stops sequences and answers bad requests, on the generated tiny model (no
 * reference).
 */
class EngineBehaviourTest {
  @TempDir static Path tmp;
  static Ops ops;
  static LoadedModel lm;
  static HfTokenizer tok;

  @BeforeAll
  static void setUp() throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    AdapterGenerator.make(
        dir, 2, AdapterGenerator.Options.defaults().withRanks(8, 32), tmp.resolve("ad"));
    ops = Backends.create("cpu");
    lm = ModelLoader.load(dir, ops);
    tok = HfTokenizer.load(dir);
  }

  @AfterAll
  static void tearDown() {
    lm.close();
    tok.close();
  }

  private static Engine engine(EngineConfig ec) {
    LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
    return new Engine(
        m,
        ec,
        id -> {
          Path d = tmp.resolve("ad").resolve(id);
          if (!Files.isDirectory(d)) {
            throw new NoSuchElementException("no adapter '" + id + "'");
          }
          return LoraAdapter.load(d, lm.config(), 64);
        },
        tok::decode);
  }

  private static EngineConfig config() {
    return EngineConfig.defaults()
        .withKvBlocks(64)
        .withLora(4, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
  }

  private static GenerationResult run(Engine e, GenerationRequest r) {
    CompletableFuture<GenerationResult> f = e.submit(r);
    e.runUntilIdle();
    return f.join();
  }

  private static GenerationRequest req(String prompt, String adapter, SamplingParams p) {
    return new GenerationRequest("r", tok.encode(prompt), adapter, p);
  }

  @Test
  void maxTokensEndsWithLength() {
    try (Engine e = engine(config())) {
      GenerationResult r = run(e, req("Hello there", null, SamplingParams.greedy(7)));
      assertTrue(r.ok());
      assertEquals(FinishReason.LENGTH, r.finishReason());
      assertEquals(7, r.tokens().length);
      assertEquals(tok.decode(r.tokens()), r.text());
    }
  }

  @Test
  void aStopTokenEndsWithStopAndIsNotPartOfTheOutput() {
    try (Engine e = engine(config())) {
      int[] free = run(e, req("Hello there", null, SamplingParams.greedy(12))).tokens();
      int k = 4;
      int stopId = free[k];
      int first = Arrays.stream(free).boxed().toList().indexOf(stopId);
      GenerationResult r =
          run(
              e,
              req("Hello there", null, SamplingParams.greedy(12).withStopTokens(List.of(stopId))));
      assertEquals(FinishReason.STOP, r.finishReason());
      assertArrayEquals(Arrays.copyOf(free, first), r.tokens());
    }
  }

  @Test
  void aStopStringEndsWithStopAndIsCutFromTheText() {
    try (Engine e = engine(config())) {
      String free = run(e, req("Once upon", null, SamplingParams.greedy(16))).text();
      assertTrue(free.length() > 6, free);
      String stop = free.substring(3, 6);
      SamplingParams p = new SamplingParams(0f, 0, 1f, 0, 16, List.of(), List.of(stop));
      GenerationResult r = run(e, req("Once upon", null, p));
      assertEquals(FinishReason.STOP, r.finishReason());
      assertEquals(free.substring(0, free.indexOf(stop)), r.text());
    }
  }

  @Test
  void anUnknownAdapterGetsAnErrorReplyAndOthersAreServed() {
    try (Engine e = engine(config())) {
      var bad =
          e.submit(new GenerationRequest("bad", tok.encode("x"), "nope", SamplingParams.greedy(3)));
      var good =
          e.submit(
              new GenerationRequest(
                  "good",
                  tok.encode("x"),
                  AdapterGenerator.adapterName(0),
                  SamplingParams.greedy(3)));
      e.runUntilIdle();
      assertEquals(EngineError.UNKNOWN_ADAPTER, bad.join().errorCode());
      assertEquals("no adapter 'nope'", bad.join().errorMessage());
      assertEquals(FinishReason.ERROR, bad.join().finishReason());
      assertTrue(good.join().ok());
      assertEquals(3, good.join().tokens().length);
    }
  }

  @Test
  void anAdapterAboveTheEnginesMaxRankIsInvalid() {
    try (Engine e = engine(config())) { // max rank 16; adapter-0001 has rank 32
      GenerationResult r =
          run(e, req("x", AdapterGenerator.adapterName(1), SamplingParams.greedy(3)));
      assertEquals(EngineError.ADAPTER_INVALID, r.errorCode());
      assertTrue(r.errorMessage().contains("rank 32 above the maximum 16"), r.errorMessage());
    }
  }

  @Test
  void badPromptsAreRefusedWithCodesAndReasons() {
    try (Engine e = engine(config().withKvBlocks(2))) { // 32 tokens of KV cache
      GenerationResult empty =
          run(e, new GenerationRequest("e", new int[0], null, SamplingParams.greedy(1)));
      assertEquals(EngineError.INVALID_PARAMS, empty.errorCode());
      GenerationResult outside =
          run(e, new GenerationRequest("o", new int[] {1, 9999}, null, SamplingParams.greedy(1)));
      assertEquals(EngineError.INVALID_PARAMS, outside.errorCode());
      assertEquals(
          "prompt token 1 is 9999, outside the vocabulary [0, 512)", outside.errorMessage());
      GenerationResult tooLong =
          run(e, new GenerationRequest("l", new int[40], null, SamplingParams.greedy(1)));
      assertEquals(EngineError.PROMPT_TOO_LONG, tooLong.errorCode());
      assertTrue(
          tooLong
              .errorMessage()
              .startsWith("the prompt has 40 tokens; this engine serves at most 31"));
    }
  }

  @Test
  void promptPlusMaxTokensBeyondTheContextIsRefusedAtSubmitInsteadOfCutShort() {
    try (Engine e = engine(config().withKvBlocks(2))) { // 32 tokens of KV cache
      GenerationResult tooMany =
          run(e, new GenerationRequest("c", new int[30], null, SamplingParams.greedy(50)));
      assertEquals(EngineError.PROMPT_TOO_LONG, tooMany.errorCode());
      assertEquals(0, tooMany.tokens().length);
      assertTrue(
          tooMany
              .errorMessage()
              .startsWith(
                  "the prompt has 30 tokens and maxTokens is 50: 80 tokens do not fit this"
                      + " engine's context of 32 (model context "),
          tooMany.errorMessage());
      assertTrue(tooMany.errorMessage().endsWith("lower maxTokens to at most 2"));
      GenerationResult oneOver =
          run(e, new GenerationRequest("o", new int[30], null, SamplingParams.greedy(3)));
      assertEquals(EngineError.PROMPT_TOO_LONG, oneOver.errorCode());
      GenerationResult exact =
          run(e, new GenerationRequest("x", new int[30], null, SamplingParams.greedy(2)));
      assertTrue(exact.ok(), exact.errorMessage());
      assertEquals(FinishReason.LENGTH, exact.finishReason());
      assertEquals(2, exact.tokens().length, "30 prompt + 2 generated fill the 32-token cache");
    }
  }

  @Test
  void aDecoderFailureAtTheEndOfARequestFailsItWithInternalInsteadOfLosingIt() throws Exception {
    LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV);
    Engine e =
        new Engine(
            m,
            config(),
            id -> {
              throw new NoSuchElementException(id);
            },
            ids -> {
              throw new IllegalStateException("decoder broke");
            });
    try (dev.lorastream.engine.sched.EngineLoop loop =
        new dev.lorastream.engine.sched.EngineLoop(e, "decoder-test")) {
      GenerationResult r =
          loop.submit(req("Hi", null, SamplingParams.greedy(2)))
              .get(30, java.util.concurrent.TimeUnit.SECONDS);
      assertEquals(EngineError.INTERNAL, r.errorCode());
      assertTrue(r.errorMessage().contains("decoder broke"), r.errorMessage());
    }
  }

  @Test
  void anEngineLoopServesRequestsSubmittedFromOtherThreads() throws Exception {
    try (dev.lorastream.engine.sched.EngineLoop loop =
        new dev.lorastream.engine.sched.EngineLoop(engine(config()), "engine-test")) {
      List<CompletableFuture<GenerationResult>> fs = new java.util.ArrayList<>();
      Thread[] submitters = new Thread[3];
      for (int t = 0; t < submitters.length; t++) {
        int id = t;
        submitters[t] =
            new Thread(
                () -> {
                  var f =
                      loop.submit(
                          new GenerationRequest(
                              "t" + id, tok.encode("Hi"), null, SamplingParams.greedy(4)));
                  synchronized (fs) {
                    fs.add(f);
                  }
                });
        submitters[t].start();
      }
      for (Thread t : submitters) {
        t.join();
      }
      for (var f : fs) {
        GenerationResult r = f.get(30, java.util.concurrent.TimeUnit.SECONDS);
        assertTrue(r.ok());
        assertEquals(4, r.tokens().length);
      }
      assertEquals(null, loop.fatal());
    }
  }
}
