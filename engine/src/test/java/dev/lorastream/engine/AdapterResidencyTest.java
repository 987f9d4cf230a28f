package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.AdapterResidency;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Engine#residency}: the adapters in the backend pool and in host memory, as the engine
 * thread published it last (with the {@link Engine#adapterInfo} snapshot).
 */
class AdapterResidencyTest {
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
        dir, 3, AdapterGenerator.Options.defaults().withRanks(8).withSeed(2), adapters);
    ops = Backends.create("cpu");
    lm = ModelLoader.load(dir, ops);
  }

  @AfterAll
  static void tearDown() {
    lm.close();
  }

  private static GenerationRequest req(String id, String adapter) {
    return new GenerationRequest(id, new int[] {1, 40, 50, 60}, adapter, SamplingParams.greedy(3));
  }

  private static Engine engine(EngineConfig ec, AtomicLong clock) {
    Map<String, Path> catalog =
        Map.of(
            "a", adapters.resolve(AdapterGenerator.adapterName(0)),
            "b", adapters.resolve(AdapterGenerator.adapterName(1)),
            "never", adapters.resolve(AdapterGenerator.adapterName(2)));
    return new Engine(
        new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel()),
        ec,
        id -> {
          Path d = catalog.get(id);
          if (d == null) {
            throw new NoSuchElementException("no adapter '" + id + "'");
          }
          return LoraAdapter.load(d, lm.config(), 8);
        },
        null,
        clock::get);
  }

  @Test
  void theServedAdaptersAreInTheBackendPoolAndHostMemoryAndOneNeverUsedIsInNeither() {
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(64)
            .withStep(64, 8)
            .withLora(2, 8, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
    AtomicLong clock = new AtomicLong(0);
    try (Engine e = engine(ec, clock)) {
      assertEquals(AdapterResidency.EMPTY, e.residency(), "empty before the first step");

      var fa = e.submit(req("a1", "a"));
      e.runUntilIdle();
      assertTrue(fa.join().ok(), fa.join().errorMessage());
      e.step(); // as EngineLoop does next: nothing to run
      assertEquals(
          new AdapterResidency(List.of("a"), List.of("a")),
          e.residency(),
          "published as the engine went idle, though the interval has not passed");
      clock.set(1000); // the interval passed: the next step publishes
      e.step();
      assertEquals(new AdapterResidency(List.of("a"), List.of("a")), e.residency());

      var fb = e.submit(req("b1", "b"));
      e.runUntilIdle();
      assertTrue(fb.join().ok(), fb.join().errorMessage());
      e.publishAdapterInfo();
      AdapterResidency r = e.residency();
      assertEquals(List.of("a", "b"), r.backend().stream().sorted().toList());
      assertEquals(List.of("b", "a"), r.host(), "host memory: most recently used first");
      assertTrue(!r.backend().contains("never") && !r.host().contains("never"));

      clock.set(1500); // within the interval: a step keeps the published residency
      e.step();
      assertSame(r, e.residency());

      // a changed registration drops every copy: gone from both once a step applied it
      e.invalidateAdapter("a");
      e.step();
      e.publishAdapterInfo();
      assertEquals(new AdapterResidency(List.of("b"), List.of("b")), e.residency());
      assertThrows(UnsupportedOperationException.class, () -> e.residency().host().add("x"));
    }
  }

  @Test
  void withoutLoraSlotsTheBackendListIsEmpty() {
    AtomicLong clock = new AtomicLong(0);
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(64)
            .withStep(64, 8)
            .withLora(1, 8, EnumSet.noneOf(Proj.class), LlamaModel.LoraKernel.SGMV);
    try (Engine e = engine(ec, clock)) {
      var f = e.submit(req("base", null));
      e.runUntilIdle();
      assertTrue(f.join().ok(), f.join().errorMessage());
      e.publishAdapterInfo();
      assertEquals(AdapterResidency.EMPTY, e.residency());
    }
  }

  @Test
  void eachListIsCappedAtMaxIdsKeepingTheFirst() {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < AdapterResidency.MAX_IDS + 10; i++) {
      ids.add("x" + i);
    }
    AdapterResidency r = new AdapterResidency(ids, ids.subList(0, 3));
    assertEquals(ids.subList(0, AdapterResidency.MAX_IDS), r.backend());
    assertEquals(List.of("x0", "x1", "x2"), r.host());
  }
}
