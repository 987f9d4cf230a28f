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
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import java.nio.file.Files;
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
 * {@link Engine#invalidateAdapter}: after an adapter's catalog entry changes, the engine serves the
 * new weights (host cache, remembered load failure and backend slot all dropped), while a sequence
 * that was already running finishes on the weights it started with. Before the method existed the
 * engine kept the first copy it loaded (and the first failure) until LRU eviction.
 */
class AdapterInvalidationTest {
  @TempDir static Path tmp;
  static Ops ops;
  static LoadedModel lm;
  static Path v1;
  static Path v2;

  @BeforeAll
  static void setUp() throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    AdapterGenerator.make(
        dir, 1, AdapterGenerator.Options.defaults().withRanks(8).withSeed(1), tmp.resolve("v1"));
    AdapterGenerator.make(
        dir, 1, AdapterGenerator.Options.defaults().withRanks(8).withSeed(2), tmp.resolve("v2"));
    v1 = tmp.resolve("v1").resolve(AdapterGenerator.adapterName(0));
    v2 = tmp.resolve("v2").resolve(AdapterGenerator.adapterName(0));
    ops = Backends.create("cpu");
    lm = ModelLoader.load(dir, ops);
  }

  @AfterAll
  static void tearDown() {
    lm.close();
  }

  /** An engine whose adapter source is a mutable catalog: adapter id → directory. */
  private static Engine engine(Map<String, Path> catalog) {
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(64)
            .withLora(4, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
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
        null);
  }

  private static GenerationRequest req(String id, int maxTokens) {
    return new GenerationRequest(
        id, new int[] {1, 40, 50, 60}, "a", SamplingParams.greedy(maxTokens));
  }

  /** The tokens a fresh engine generates for {@code r} with adapter "a" read from {@code dir}. */
  private static int[] fresh(Path dir, GenerationRequest r) {
    try (Engine e = engine(Map.of("a", dir))) {
      CompletableFuture<GenerationResult> f = e.submit(r);
      e.runUntilIdle();
      GenerationResult g = f.join();
      assertTrue(g.ok(), g.errorMessage());
      return g.tokens();
    }
  }

  @Test
  void aChangedAdapterServesItsNewWeightsAfterInvalidationAndARunningSequenceFinishesOnTheOld() {
    int[] oldShort = fresh(v1, req("x", 6));
    int[] newShort = fresh(v2, req("x", 6));
    int[] oldLong = fresh(v1, req("x", 24));
    assertFalse(
        java.util.Arrays.equals(oldShort, newShort), "the two versions generate different tokens");

    Map<String, Path> catalog = new ConcurrentHashMap<>(Map.of("a", v1));
    try (Engine e = engine(catalog)) {
      CompletableFuture<GenerationResult> before = e.submit(req("before", 6));
      e.runUntilIdle();
      assertArrayEquals(oldShort, before.join().tokens(), "served on v1");

      CompletableFuture<GenerationResult> running = e.submit(req("running", 24));
      for (int i = 0; i < 200 && e.stats().sampledTokens() < 6 + 3; i++) {
        if (!e.step()) {
          Thread.onSpinWait();
        }
      }
      assertEquals(1, e.scheduler().numRunning(), "the long sequence runs on v1");

      catalog.put("a", v2); // the registration now points at other weights
      e.invalidateAdapter("a");
      CompletableFuture<GenerationResult> after = e.submit(req("after", 6));
      e.runUntilIdle();

      assertArrayEquals(newShort, after.join().tokens(), "admitted after the change: v2");
      assertArrayEquals(oldLong, running.join().tokens(), "started before the change: all v1");
      assertEquals(1, e.slots().invalidations(), "v1's slot was dropped once");
      assertEquals(
          1,
          java.util.Collections.frequency(e.slots().residents(), "a"),
          "v1's retired slot was freed when its last sequence finished");
    }
  }

  @Test
  void aFailedLoadIsRetriedAfterInvalidation() throws Exception {
    int[] expected = fresh(v1, req("x", 6));
    Path broken = tmp.resolve("broken").resolve("a");
    Files.createDirectories(broken); // no adapter files: the load fails
    Map<String, Path> catalog = new ConcurrentHashMap<>(Map.of("a", broken));
    try (Engine e = engine(catalog)) {
      CompletableFuture<GenerationResult> first = e.submit(req("first", 6));
      e.runUntilIdle();
      assertEquals(EngineError.ADAPTER_INVALID, first.join().errorCode());

      catalog.put("a", v1); // the catalog now points at good files
      CompletableFuture<GenerationResult> remembered = e.submit(req("remembered", 6));
      e.runUntilIdle();
      assertEquals(
          EngineError.ADAPTER_INVALID,
          remembered.join().errorCode(),
          "without a catalog change the failure is remembered");

      e.invalidateAdapter("a");
      CompletableFuture<GenerationResult> retried = e.submit(req("retried", 6));
      e.runUntilIdle();
      GenerationResult r = retried.join();
      assertTrue(r.ok(), r.errorMessage());
      assertArrayEquals(expected, r.tokens());
    }
  }

  @Test
  void aTombstonedAdapterIsUnknownAfterInvalidation() {
    Map<String, Path> catalog = new ConcurrentHashMap<>(Map.of("a", v1));
    try (Engine e = engine(catalog)) {
      CompletableFuture<GenerationResult> before = e.submit(req("before", 3));
      e.runUntilIdle();
      assertTrue(before.join().ok());

      catalog.remove("a");
      e.invalidateAdapter("a");
      CompletableFuture<GenerationResult> after = e.submit(req("after", 3));
      e.runUntilIdle();
      assertEquals(EngineError.UNKNOWN_ADAPTER, after.join().errorCode());
      assertEquals(-1, e.slots().slotOf("a"), "the slot was dropped too");
    }
  }
}
