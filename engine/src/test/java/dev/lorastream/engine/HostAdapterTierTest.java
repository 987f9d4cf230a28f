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
import dev.lorastream.engine.sched.AdapterCacheStats;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineError;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine's host adapter tier end to end: a failed load is answered for {@code
 * lorastream.adapters.failure-ttl-ms} on the engine's clock and then retried, and an adapter
 * evicted by the byte budget is reloaded and serves the same tokens.
 */
class HostAdapterTierTest {
  private static final long TTL = 10_000;

  @TempDir static Path tmp;
  static Ops ops;
  static LoadedModel lm;
  static Path a;
  static Path b;
  static long adapterBytes; // a and b have the same rank and targets: the same size

  @BeforeAll
  static void setUp() throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    AdapterGenerator.make(
        dir, 2, AdapterGenerator.Options.defaults().withRanks(8).withSeed(3), tmp.resolve("ab"));
    a = tmp.resolve("ab").resolve(AdapterGenerator.adapterName(0));
    b = tmp.resolve("ab").resolve(AdapterGenerator.adapterName(1));
    ops = Backends.create("cpu");
    lm = ModelLoader.load(dir, ops);
    adapterBytes = LoraAdapter.load(a, lm.config(), 64).bytes();
    assertEquals(adapterBytes, LoraAdapter.load(b, lm.config(), 64).bytes());
  }

  @AfterAll
  static void tearDown() {
    lm.close();
  }

  private static Engine engine(Map<String, Path> catalog, long cacheBytes, AtomicLong clockMs) {
    return engine(catalog, cacheBytes, clockMs, EngineConfig.defaults().maxSeqs());
  }

  private static Engine engine(
      Map<String, Path> catalog, long cacheBytes, AtomicLong clockMs, int seats) {
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(64)
            .withStep(EngineConfig.defaults().maxTokensPerStep(), seats)
            .withLora(4, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV)
            .withHostAdapters(cacheBytes, TTL);
    return new Engine(
        new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel()),
        ec,
        id -> {
          Path d = catalog.get(id);
          if (d == null) {
            throw new NoSuchElementException("no adapter '" + id + "'");
          }
          return LoraAdapter.load(d, lm.config(), 64);
        },
        null,
        clockMs::get);
  }

  private static GenerationResult run(Engine e, String id, String adapter) {
    var f =
        e.submit(
            new GenerationRequest(
                id, new int[] {1, 40, 50, 60}, adapter, SamplingParams.greedy(6)));
    e.runUntilIdle();
    return f.join();
  }

  @Test
  void aFailedLoadIsAnsweredUntilItsTtlHasPassedOnTheEngineClockThenRetried() throws Exception {
    Path broken = tmp.resolve("broken").resolve("x");
    Files.createDirectories(broken); // no adapter files: the load fails
    Map<String, Path> catalog = new ConcurrentHashMap<>(Map.of("x", broken));
    AtomicLong now = new AtomicLong(1_000_000);
    try (Engine e = engine(catalog, 1L << 30, now)) {
      assertEquals(EngineError.ADAPTER_INVALID, run(e, "first", "x").errorCode());

      catalog.put("x", a); // fixed, without a catalog change the engine is told of
      now.addAndGet(TTL - 1);
      assertEquals(
          EngineError.ADAPTER_INVALID,
          run(e, "remembered", "x").errorCode(),
          "within the TTL the failure is remembered");

      now.addAndGet(1);
      GenerationResult retried = run(e, "retried", "x");
      assertTrue(retried.ok(), retried.errorMessage());
      assertTrue(run(e, "hit", "x").ok());

      AdapterCacheStats st = e.adapterCacheStats();
      assertTrue(st.loadNanos() > 0);
      assertEquals(
          new AdapterCacheStats(1, 2, 1, 0, 0, adapterBytes, 1, 2, st.loadNanos()),
          st,
          "first and retried loaded (a miss each); remembered counts neither; hit a hit");
    }
  }

  @Test
  void aBurstOfRequestsForMoreAdaptersThanTheHostBudgetHoldsLoadsEachOnce() throws Exception {
    Path dir = tmp.resolve("m");
    Path burst = tmp.resolve("burst");
    AdapterGenerator.make(
        dir, 10, AdapterGenerator.Options.defaults().withRanks(8).withSeed(5), burst);
    Map<String, Path> catalog = new ConcurrentHashMap<>();
    for (int i = 0; i < 10; i++) {
      catalog.put("x" + i, burst.resolve(AdapterGenerator.adapterName(i)));
    }
    // room for 4 adapters: the engine keeps the next 2 distinct ones of the queue loaded
    try (Engine e = engine(catalog, 4 * adapterBytes, new AtomicLong(), 1)) {
      List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
      for (int i = 0; i < 10; i++) { // all at once, one seat: x9 runs long after x0
        fs.add(
            e.submit(
                new GenerationRequest(
                    "r" + i, new int[] {1, 40, 50, 60}, "x" + i, SamplingParams.greedy(3))));
      }
      e.runUntilIdle();
      for (var f : fs) {
        assertTrue(f.join().ok(), f.join().errorMessage());
      }
      AdapterCacheStats st = e.adapterCacheStats();
      assertEquals(10, st.misses(), "a load per adapter, none evicted before its request ran");
      assertEquals(10, st.loadsCompleted());
      assertEquals(6, st.evictions(), "the budget holds the last 4");
      assertEquals(10, e.slots().loads());
    }
  }

  @Test
  void theEngineSaysWhenAnAdapterLoadAndItsPoolWriteFinishSoThatItsLoopCanWake() throws Exception {
    Map<String, Path> catalog = new ConcurrentHashMap<>(Map.of("a", a));
    try (Engine e = engine(catalog, 1L << 30, new AtomicLong())) {
      java.util.concurrent.CountDownLatch progress = new java.util.concurrent.CountDownLatch(2);
      e.onAdapterProgress(progress::countDown);
      assertTrue(run(e, "r", "a").ok());
      assertTrue(
          progress.await(10, java.util.concurrent.TimeUnit.SECONDS),
          "told of the host load and of the pool write");
      assertTrue(run(e, "again", "a").ok());
      assertEquals(0, progress.getCount());
      assertEquals(1, e.adapterCacheStats().loadsCompleted(), "resident: nothing to tell");
    }
  }

  @Test
  void anAdapterEvictedByTheByteBudgetIsReloadedAndServesTheSameTokens() {
    Map<String, Path> catalog = new ConcurrentHashMap<>(Map.of("a", a, "b", b));
    try (Engine e = engine(catalog, adapterBytes, new AtomicLong())) {
      GenerationResult first = run(e, "a1", "a");
      assertTrue(first.ok(), first.errorMessage());
      assertTrue(run(e, "b1", "b").ok()); // b's load evicts a
      GenerationResult again = run(e, "a2", "a"); // a is reloaded (and evicts b)
      assertTrue(again.ok(), again.errorMessage());
      assertArrayEquals(first.tokens(), again.tokens());
      assertEquals(
          1,
          e.slots().invalidations(),
          "a's slot still held the evicted copy: rewritten with the new");

      AdapterCacheStats st = e.adapterCacheStats();
      assertEquals(
          new AdapterCacheStats(0, 3, 0, 2, 2 * adapterBytes, adapterBytes, 1, 3, st.loadNanos()),
          st);
    }
  }
}
