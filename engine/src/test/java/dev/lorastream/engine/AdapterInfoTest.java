package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.AdapterInfo;
import dev.lorastream.engine.sched.AdapterInfo.Tier;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineError;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Engine#adapterInfo}: per adapter with work, its running and waiting sequences and the tier
 * its weights are in, as the engine thread published it last (at most once per interval of the
 * engine's clock).
 */
class AdapterInfoTest {
  @TempDir static Path tmp;
  static Ops ops;
  static LoadedModel lm;
  static Path adapters;

  @BeforeAll
  static void setUp() throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    adapters = tmp.resolve("adapters");
    AdapterGenerator.make(
        dir, 2, AdapterGenerator.Options.defaults().withRanks(8).withSeed(1), adapters);
    ops = Backends.create("cpu");
    lm = ModelLoader.load(dir, ops);
  }

  @AfterAll
  static void tearDown() {
    lm.close();
  }

  private static GenerationRequest req(String id, String adapter, int maxTokens) {
    return new GenerationRequest(
        id, new int[] {1, 40, 50, 60}, adapter, SamplingParams.greedy(maxTokens));
  }

  private static void await(BooleanSupplier done, String what) throws InterruptedException {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > end) {
        throw new AssertionError("timed out waiting until " + what);
      }
      Thread.sleep(1);
    }
  }

  @Test
  void theSnapshotCountsRunningAndWaitingPerAdapterWithItsTierAndIsRepublishedPerInterval()
      throws Exception {
    // one rank-8 adapter fills the backend pool: while "a" runs, "b" is loaded in host memory only
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(64)
            .withStep(64, 8)
            .withLora(1, 8, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
    Map<String, Path> catalog =
        Map.of(
            "a", adapters.resolve(AdapterGenerator.adapterName(0)),
            "b", adapters.resolve(AdapterGenerator.adapterName(1)));
    CountDownLatch slowLoad = new CountDownLatch(1);
    AtomicLong clock = new AtomicLong(0);
    try (Engine e =
        new Engine(
            new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel()),
            ec,
            id -> {
              if (id.equals("slow")) {
                slowLoad.await();
                id = "a";
              }
              Path d = catalog.get(id);
              if (d == null) {
                throw new NoSuchElementException("no adapter '" + id + "'");
              }
              return LoraAdapter.load(d, lm.config(), 8);
            },
            null,
            clock::get)) {
      List<List<AdapterInfo>> told = new CopyOnWriteArrayList<>();
      e.onAdapterInfo(told::add);
      List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
      fs.add(e.submit(req("a1", "a", 20)));
      fs.add(e.submit(req("a2", "a", 20)));
      while (e.scheduler().numRunning() < 2) {
        if (!e.step()) {
          Thread.onSpinWait();
        }
      }
      fs.add(e.submit(req("b1", "b", 4)));
      fs.add(e.submit(req("slow1", "slow", 4)));
      fs.add(e.submit(req("gone1", "gone", 4)));
      fs.add(e.submit(req("base", null, 4)));
      // loads of a, b and gone end; slow's waits for the latch
      await(() -> e.adapterCacheStats().loadsCompleted() == 3, "three loads ended");

      List<AdapterInfo> expected =
          List.of(
              new AdapterInfo("a", 2, 0, Tier.BACKEND),
              new AdapterInfo("b", 0, 1, Tier.HOST),
              new AdapterInfo("gone", 0, 1, Tier.NONE),
              new AdapterInfo("slow", 0, 1, Tier.LOADING));
      List<AdapterInfo> now = e.publishAdapterInfo();
      assertEquals(expected, now, "busiest first, then by id; the base request is not listed");
      assertSame(now, e.adapterInfo());
      assertSame(now, told.getLast(), "the listener is told of each snapshot");

      clock.set(999); // within the interval: a step does not recompute it
      assertTrue(e.step());
      assertSame(now, e.adapterInfo());
      clock.set(1000); // the interval passed: the next step publishes the state it starts from
      e.step();
      assertEquals(
          List.of(
              new AdapterInfo("a", 2, 0, Tier.BACKEND),
              new AdapterInfo("b", 0, 1, Tier.HOST),
              new AdapterInfo("slow", 0, 1, Tier.LOADING)),
          e.adapterInfo(),
          "gone1 was answered at the step before; base runs and is not listed");
      assertSame(e.adapterInfo(), told.getLast());

      slowLoad.countDown();
      e.runUntilIdle();
      assertEquals(EngineError.UNKNOWN_ADAPTER, fs.get(4).join().errorCode());
      for (int i : new int[] {0, 1, 2, 3, 5}) {
        GenerationResult r = fs.get(i).join();
        assertTrue(r.ok(), r.id() + ": " + r.errorMessage());
      }
      clock.set(2000);
      e.step();
      assertEquals(List.of(), e.adapterInfo(), "no adapter has work: the snapshot is empty");
    }
  }
}
