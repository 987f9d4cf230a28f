package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import dev.lorastream.engine.sched.EngineLoop;
import dev.lorastream.engine.sched.FinishReason;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.tokenizer.HfTokenizer;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Requests that leave early: {@link Engine#cancel} and deadlines, queued or mid-generation, on the
 * generated tiny model (context 512 tokens). The engine is stepped by hand, so "within N steps" is
 * counted exactly.
 */
class EngineCancelTest {
  private static final int KV_BLOCKS = 64; // of 16 tokens: 1024 tokens, more than the context
  private static final String ADAPTER = AdapterGenerator.adapterName(0);

  @TempDir static Path tmp;
  static Ops ops;
  static LoadedModel lm;
  static HfTokenizer tok;

  @BeforeAll
  static void setUp() throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    AdapterGenerator.make(
        dir, 1, AdapterGenerator.Options.defaults().withRanks(8), tmp.resolve("ad"));
    ops = Backends.create("cpu");
    lm = ModelLoader.load(dir, ops);
    tok = HfTokenizer.load(dir);
  }

  @AfterAll
  static void tearDown() {
    lm.close();
    tok.close();
  }

  private static Engine engine(int maxSeqs, AtomicLong clockMs) {
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(KV_BLOCKS)
            .withStep(64, maxSeqs)
            .withLora(4, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
    LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
    return new Engine(
        m,
        ec,
        id -> LoraAdapter.load(tmp.resolve("ad").resolve(id), lm.config(), 16),
        tok::decode,
        clockMs::get);
  }

  private static Engine engine(int maxSeqs) {
    return engine(maxSeqs, new AtomicLong(1_000));
  }

  private static int[] prompt() {
    return tok.encode("Once upon a time");
  }

  /** The first {@code n} tokens the request generates when nothing stops it. */
  private static int[] firstTokens(String adapter, int n) {
    try (Engine e = engine(4)) {
      var f = e.submit(new GenerationRequest("ref", prompt(), adapter, SamplingParams.greedy(n)));
      e.runUntilIdle();
      assertEquals(n, f.join().tokens().length);
      return f.join().tokens();
    }
  }

  /** Steps until the adapter has loaded and the request has computed its prompt and 3 more. */
  private static void stepUntilGenerated(Engine e, int steps) {
    int done = 0;
    while (done < steps) {
      if (e.step()) {
        done++;
      } else {
        Thread.onSpinWait(); // the adapter is loading on its own thread
      }
    }
  }

  @Test
  void aCancelledRunningRequestAtTheContextLimitLeavesAtTheNextStepAndFreesItsPagesAndSlot() {
    int[] p = prompt();
    int maxTokens = lm.config().maxPositionEmbeddings() - p.length; // fills the context
    try (Engine e = engine(4)) {
      CompletableFuture<GenerationResult> f =
          e.submit(new GenerationRequest("r", p, ADAPTER, SamplingParams.greedy(maxTokens)));
      stepUntilGenerated(e, 4); // prefill + 1 token, then 3 decode steps: 4 tokens
      int slot = e.slots().slotOf(ADAPTER);
      assertEquals(1, e.slots().pins(slot));
      // K/V of the prompt and the first 3 generated tokens, in blocks of 16
      // the adapter's pages are pinned while its sequence runs
      assertEquals(
          e.poolPages() - (p.length + 3 + 15) / 16 - e.slots().usedPages(), e.freeKvBlocks());
      assertEquals(1, e.scheduler().numRunning());
      long steps = e.stats().steps();

      e.cancel("r");
      assertFalse(e.step(), "nothing else to run: the cancelled request is in no step");

      assertEquals(steps, e.stats().steps());
      assertEquals(0, e.scheduler().numRunning());
      assertEquals(e.poolPages(), e.freeKvBlocks(), "free, or held by an idle adapter");
      assertEquals(0, e.slots().pins(slot));
      assertTrue(e.idle());
      GenerationResult r = f.join();
      assertEquals(EngineError.CANCELLED, r.errorCode());
      assertEquals(FinishReason.ERROR, r.finishReason());
      assertEquals("cancelled after 4 generated tokens", r.errorMessage());
      assertArrayEquals(firstTokens(ADAPTER, 4), r.tokens());
      assertEquals(tok.decode(r.tokens()), r.text());
      assertEquals(1, e.stats().cancelled());
      assertEquals(0, e.stats().cancelsIgnored());
    }
  }

  @Test
  void aCancelledQueuedRequestLeavesTheQueueWithoutDisturbingTheRunningOne() {
    try (Engine e = engine(1)) { // one seat: "b" waits behind "a"
      var a = e.submit(new GenerationRequest("a", prompt(), null, SamplingParams.greedy(6)));
      var b = e.submit(new GenerationRequest("b", prompt(), null, SamplingParams.greedy(6)));
      e.step();
      e.step();
      assertEquals(1, e.scheduler().numWaiting());

      e.cancel("b");
      e.step();

      assertEquals(0, e.scheduler().numWaiting());
      assertEquals(EngineError.CANCELLED, b.join().errorCode());
      assertEquals(0, b.join().tokens().length);
      assertEquals("", b.join().text());
      e.runUntilIdle();
      assertArrayEquals(firstTokens(null, 6), a.join().tokens());
      assertEquals(e.poolPages(), e.freeKvBlocks(), "free, or held by an idle adapter");
    }
  }

  @Test
  void aCancelOfAnUnknownOrFinishedRequestChangesNothingAndIsCounted() {
    try (Engine e = engine(4)) {
      var done = e.submit(new GenerationRequest("done", prompt(), null, SamplingParams.greedy(3)));
      e.runUntilIdle();
      var running =
          e.submit(new GenerationRequest("running", prompt(), null, SamplingParams.greedy(5)));
      e.step();

      e.cancel("nobody");
      e.cancel("done");
      e.runUntilIdle();

      assertEquals(2, e.stats().cancelsIgnored());
      assertEquals(0, e.stats().cancelled());
      assertEquals(FinishReason.LENGTH, done.join().finishReason());
      assertEquals(FinishReason.LENGTH, running.join().finishReason());
      assertEquals(5, running.join().tokens().length);
    }
  }

  @Test
  void aCancelEndsOnlyTheRequestsOfItsIdSubmittedBeforeIt() {
    try (Engine e = engine(4)) {
      var first = e.submit(new GenerationRequest("x", prompt(), null, SamplingParams.greedy(4)));
      e.cancel("x");
      var again = e.submit(new GenerationRequest("x", prompt(), null, SamplingParams.greedy(4)));
      e.runUntilIdle();

      assertEquals(EngineError.CANCELLED, first.join().errorCode());
      assertTrue(again.join().ok());
      assertEquals(4, again.join().tokens().length);
    }
  }

  @Test
  void aDeadlinePassingMidGenerationEndsTheRequestWithTheTokensSoFar() {
    AtomicLong clock = new AtomicLong(1_000);
    try (Engine e = engine(4, clock)) {
      var f =
          e.submit(
              new GenerationRequest("d", prompt(), null, SamplingParams.greedy(100), 0, 2_000));
      for (int i = 0; i < 5; i++) {
        assertTrue(e.step());
      }
      clock.set(1_999);
      assertTrue(e.step()); // not yet: 6 tokens
      clock.set(2_000);
      assertFalse(e.step());

      GenerationResult r = f.join();
      assertEquals(EngineError.DEADLINE_EXCEEDED, r.errorCode());
      assertEquals(FinishReason.ERROR, r.finishReason());
      assertEquals("the deadline 2000 passed 0 ms ago, after 6 generated tokens", r.errorMessage());
      assertArrayEquals(firstTokens(null, 6), r.tokens());
      assertEquals(tok.decode(r.tokens()), r.text());
      assertEquals(e.poolPages(), e.freeKvBlocks(), "free, or held by an idle adapter");
      assertEquals(1, e.stats().deadlinesExceeded());
    }
  }

  @Test
  void aDeadlinePassingInTheQueueEndsTheRequestThereWithNoTokens() {
    AtomicLong clock = new AtomicLong(1_000);
    try (Engine e = engine(1, clock)) {
      var a = e.submit(new GenerationRequest("a", prompt(), null, SamplingParams.greedy(8)));
      var b =
          e.submit(new GenerationRequest("b", prompt(), null, SamplingParams.greedy(8), 0, 1_500));
      e.step();
      clock.set(1_700);
      e.step();

      assertEquals(0, e.scheduler().numWaiting());
      assertEquals(EngineError.DEADLINE_EXCEEDED, b.join().errorCode());
      assertEquals(0, b.join().tokens().length);
      assertEquals(
          "the deadline 1500 passed 200 ms ago, after 0 generated tokens", b.join().errorMessage());
      e.runUntilIdle();
      assertEquals(8, a.join().tokens().length);
    }
  }

  @Test
  void aDeadlineAlreadyPastAtSubmitIsRefusedAtOnce() {
    try (Engine e = engine(4, new AtomicLong(5_000))) {
      var f =
          e.submit(
              new GenerationRequest("late", prompt(), null, SamplingParams.greedy(8), 0, 4_990));
      assertTrue(f.isDone());
      assertEquals(EngineError.DEADLINE_EXCEEDED, f.join().errorCode());
      assertEquals(
          "the deadline 4990 passed 10 ms before the engine received the request",
          f.join().errorMessage());
      assertTrue(e.idle());
    }
  }

  @Test
  void onAnEngineLoopACancelledRequestIsInNoStepAfterTheOneInFlight() throws Exception {
    int[] p = prompt();
    int maxTokens = lm.config().maxPositionEmbeddings() - p.length;
    try (Engine e = engine(4);
        EngineLoop loop = new EngineLoop(e, "engine-cancel-test")) {
      // the engine thread waits at the 20th token until the cancel is in, so that the request
      // cannot run to its end first however the two threads are scheduled
      CountDownLatch reached = new CountDownLatch(1);
      CountDownLatch resume = new CountDownLatch(1);
      var f =
          loop.submit(
              new GenerationRequest("r", p, null, SamplingParams.greedy(maxTokens)),
              (index, token) -> {
                if (index == 19) {
                  reached.countDown();
                  try {
                    resume.await(60, TimeUnit.SECONDS);
                  } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                  }
                }
              });
      assertTrue(reached.await(60, TimeUnit.SECONDS), "20 tokens within 60 s");

      loop.cancel("r");
      // every step that begins from now on applies the cancel first; at most one is in flight
      long before = e.stats().steps();
      resume.countDown();
      GenerationResult r = f.get(60, TimeUnit.SECONDS);

      assertEquals(EngineError.CANCELLED, r.errorCode());
      long after = e.stats().steps() - before;
      assertTrue(
          after <= 1, "steps ended after the cancel: " + after + " (only the one in flight)");
      assertTrue(r.tokens().length < maxTokens);
      assertEquals(r.tokens().length, e.stats().sampledTokens(), "no token sampled after it");
    }
  }
}
