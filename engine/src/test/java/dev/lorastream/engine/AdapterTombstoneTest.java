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
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tombstone (the adapter's catalog entry deleted) for an adapter that running sequences use, as
 * the consumer applies it: the adapter source answers "no such adapter" from then on and {@link
 * Engine#invalidateAdapter} is called. The running sequences finish with all their tokens, exactly
 * those of a run without the tombstone; a request submitted after it gets UNKNOWN_ADAPTER.
 *
 * <p>Before the fix a running sequence preempted after the tombstone (its KV pages taken for an
 * older one) was admitted again through the host cache like a new request: it got UNKNOWN_ADAPTER
 * and lost the tokens it had generated; after a re-registration it recomputed and continued on the
 * new weights, a mix of both versions. Now it is admitted again with the copy it started on.
 */
class AdapterTombstoneTest {
  @TempDir static Path tmp;
  static Ops ops;
  static LoadedModel lm;
  static Path dir;
  static Path dir2; // other weights under the same id, for a re-registration

  @BeforeAll
  static void setUp() throws Exception {
    Path model = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), model);
    AdapterGenerator.make(
        model, 1, AdapterGenerator.Options.defaults().withRanks(8).withSeed(1), tmp.resolve("a"));
    dir = tmp.resolve("a").resolve(AdapterGenerator.adapterName(0));
    AdapterGenerator.make(
        model, 1, AdapterGenerator.Options.defaults().withRanks(8).withSeed(2), tmp.resolve("b"));
    dir2 = tmp.resolve("b").resolve(AdapterGenerator.adapterName(0));
    ops = Backends.create("cpu");
    lm = ModelLoader.load(model, ops);
  }

  @AfterAll
  static void tearDown() {
    lm.close();
  }

  /** An engine whose adapter source is a mutable catalog (id → folder), as the consumer's is. */
  private static Engine engine(Map<String, Path> catalog, int kvBlocks, int maxSeqs) {
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(kvBlocks)
            .withStep(64, maxSeqs)
            .withLora(2, 8, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
    return new Engine(
        new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel()),
        ec,
        id -> {
          Path d = catalog.get(id);
          if (d == null) {
            throw new NoSuchElementException("adapter '" + id + "' is not in the catalog");
          }
          return LoraAdapter.load(d, lm.config(), 8);
        },
        null);
  }

  /**
   * Holds the pool's free pages beyond {@code kvBlocks} KV pages in all, as if the KV cache had
   * only those: the pages of the adapters' share that no adapter uses would otherwise go to KV.
   */
  private static void holdPagesBeyond(Engine e, int kvBlocks) {
    int room = kvBlocks - e.pool().kvPages();
    while (e.pool().freePages() > room) {
      e.pool().allocate();
    }
  }

  private static GenerationRequest req(String id, int first, int maxTokens) {
    return new GenerationRequest(
        id, new int[] {1, first, 50, 60}, "a", SamplingParams.greedy(maxTokens));
  }

  /** The tokens of {@code r} on an engine whose catalog never changes. */
  private static int[] untouched(GenerationRequest r, int kvBlocks, int maxSeqs) {
    return untouched(dir, r, kvBlocks, maxSeqs);
  }

  /** The tokens of {@code r} on an engine whose catalog has "a" in {@code folder} for good. */
  private static int[] untouched(Path folder, GenerationRequest r, int kvBlocks, int maxSeqs) {
    try (Engine e = engine(Map.of("a", folder), kvBlocks, maxSeqs)) {
      CompletableFuture<GenerationResult> f = e.submit(r);
      e.runUntilIdle();
      GenerationResult g = f.join();
      assertTrue(g.ok(), g.errorMessage());
      return g.tokens();
    }
  }

  /** Steps until {@code n} tokens were sampled in all. */
  private static void stepUntilSampled(Engine e, long n) {
    while (e.stats().sampledTokens() < n) {
      if (!e.step()) {
        Thread.onSpinWait();
      }
    }
  }

  @Test
  void runningSequencesFinishWithAllTheirTokensAndLaterRequestsGetUnknownAdapter() {
    int[] expected1 = untouched(req("x", 40, 24), 64, 2);
    int[] expected2 = untouched(req("x", 41, 24), 64, 2);
    Map<String, Path> catalog = new ConcurrentHashMap<>(Map.of("a", dir));
    try (Engine e = engine(catalog, 64, 2)) {
      CompletableFuture<GenerationResult> r1 = e.submit(req("r1", 40, 24));
      CompletableFuture<GenerationResult> r2 = e.submit(req("r2", 41, 24));
      CompletableFuture<GenerationResult> queued = e.submit(req("queued", 42, 24)); // no seat
      stepUntilSampled(e, 2 * 6);
      assertEquals(2, e.scheduler().numRunning());
      assertEquals(1, e.scheduler().numWaiting());

      catalog.remove("a"); // the tombstone, as AdapterCatalog applies it
      e.invalidateAdapter("a");
      CompletableFuture<GenerationResult> after = e.submit(req("after", 40, 24));
      e.runUntilIdle();

      for (var c : Map.of(r1, expected1, r2, expected2).entrySet()) {
        GenerationResult g = c.getKey().join();
        assertTrue(g.ok(), g.id() + ": " + g.errorMessage());
        assertEquals(FinishReason.LENGTH, g.finishReason(), g.id());
        assertEquals(24, g.tokens().length, g.id());
        assertArrayEquals(c.getValue(), g.tokens(), g.id() + ": as without the tombstone");
      }
      assertEquals(EngineError.UNKNOWN_ADAPTER, after.join().errorCode());
      assertEquals(0, after.join().tokens().length);
      assertEquals(
          EngineError.UNKNOWN_ADAPTER,
          queued.join().errorCode(),
          "a request not started when the tombstone came is answered like a new one");
      assertEquals(-1, e.slots().slotOf("a"), "the retired slot was freed after the last one");
    }
  }

  @Test
  void aSequencePreemptedAfterTheTombstoneStillFinishesOnTheWeightsItStartedWith() {
    // 4 pages of 16 tokens: two sequences of 4 + 40 tokens need 3 pages each, so the newer one is
    // preempted (its slot released) after the tombstone and must be admitted again to finish. r2's
    // prompt is one whose greedy tail does not settle into one repeated token, so that other
    // weights after the preemption would show
    int[] expected1 = untouched(req("x", 42, 40), 4, 2);
    int[] expected2 = untouched(req("x", 40, 40), 4, 2);
    Map<String, Path> catalog = new ConcurrentHashMap<>(Map.of("a", dir));
    try (Engine e = engine(catalog, 4, 2)) {
      CompletableFuture<GenerationResult> r1 = e.submit(req("r1", 42, 40));
      CompletableFuture<GenerationResult> r2 = e.submit(req("r2", 40, 40));
      stepUntilSampled(e, 2 * 6);
      assertEquals(2, e.scheduler().numRunning());
      assertEquals(0, e.scheduler().preemptions());
      holdPagesBeyond(e, 4);

      catalog.remove("a");
      e.invalidateAdapter("a");
      e.runUntilIdle();

      for (var c : Map.of(r1, expected1, r2, expected2).entrySet()) {
        GenerationResult g = c.getKey().join();
        assertTrue(g.ok(), g.id() + ": " + g.errorCode() + " " + g.errorMessage());
        assertEquals(40, g.tokens().length, g.id());
        assertArrayEquals(c.getValue(), g.tokens(), g.id() + ": as without the tombstone");
      }
      assertEquals(1, r2.join().preemptions(), "r2, the newer one, was preempted once");
    }
  }

  @Test
  void aSequencePreemptedAfterAReRegistrationFinishesOnTheOldWeightsAndNewOnesRunOnTheNew() {
    int[] expected1 = untouched(req("x", 42, 40), 4, 2);
    int[] expected2 = untouched(req("x", 40, 40), 4, 2);
    int[] expectedNew = untouched(dir2, req("x", 41, 6), 4, 2);
    Map<String, Path> catalog = new ConcurrentHashMap<>(Map.of("a", dir));
    try (Engine e = engine(catalog, 4, 2)) {
      CompletableFuture<GenerationResult> r1 = e.submit(req("r1", 42, 40));
      CompletableFuture<GenerationResult> r2 = e.submit(req("r2", 40, 40));
      stepUntilSampled(e, 2 * 6);
      assertEquals(2, e.scheduler().numRunning());
      assertEquals(0, e.scheduler().preemptions());
      holdPagesBeyond(e, 4);

      catalog.put("a", dir2); // re-registered with other weights
      e.invalidateAdapter("a");
      e.runUntilIdle();
      CompletableFuture<GenerationResult> after = e.submit(req("after", 41, 6));
      e.runUntilIdle();

      for (var c : Map.of(r1, expected1, r2, expected2).entrySet()) {
        GenerationResult g = c.getKey().join();
        assertTrue(g.ok(), g.id() + ": " + g.errorCode() + " " + g.errorMessage());
        assertArrayEquals(c.getValue(), g.tokens(), g.id() + ": all on the old weights");
      }
      assertEquals(1, r2.join().preemptions(), "r2, the newer one, was preempted once");
      assertArrayEquals(expectedNew, after.join().tokens(), "admitted after: the new weights");
    }
  }
}
