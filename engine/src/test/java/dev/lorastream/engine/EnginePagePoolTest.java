package dev.lorastream.engine;

import static dev.lorastream.engine.TestModels.config;
import static dev.lorastream.engine.TestModels.engine;
import static dev.lorastream.engine.TestModels.generate;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine's KV cache and adapters share one page pool: each uses what the other leaves. */
class EnginePagePoolTest {
  @TempDir static Path tmp;

  @Test
  void kvBlocksUseThePagesOfTheAdaptersShareThatNoAdapterNeedsAndOutputsStayTheSame()
      throws Exception {
    Path dir = TestModels.tiny(tmp, "F32");
    List<GenerationRequest> reqs = new ArrayList<>();
    for (int i = 0; i < 6; i++) { // 20 + 12 tokens: 2 blocks of 16 each, 12 in all
      reqs.add(
          new GenerationRequest(
              "r" + i,
              TestModels.prompt(7 + i, 20),
              i % 2 == 0 ? null : TestModels.adapter(dir, i).toString(),
              SamplingParams.greedy(12)));
    }
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops)) {
      List<GenerationResult> roomy;
      try (Engine e = engine(lm, ops, config())) {
        roomy = generate(e, reqs);
      }
      try (Engine e = engine(lm, ops, config().withKvBlocks(4))) {
        assertTrue(e.poolPages() > 12 + 3 * e.slots().pagesFor(16), "the share is large enough");
        // the adapters resident first (1-token requests), so that no request waits for a load
        // and all six can be admitted together
        for (int i = 1; i < reqs.size(); i += 2) {
          e.submit(
              new GenerationRequest(
                  "warm" + i,
                  TestModels.prompt(i, 2),
                  reqs.get(i).adapterId(),
                  SamplingParams.greedy(1)));
        }
        e.runUntilIdle();
        List<java.util.concurrent.CompletableFuture<GenerationResult>> fs = new ArrayList<>();
        for (GenerationRequest r : reqs) {
          fs.add(e.submit(r));
        }
        int mostRunning = 0;
        int mostKvPages = 0;
        while (!e.idle()) {
          e.step();
          mostRunning = Math.max(mostRunning, e.scheduler().numRunning());
          mostKvPages = Math.max(mostKvPages, e.pool().kvPages());
        }
        assertEquals(6, mostRunning, "all six at once, where 4 KV blocks alone hold two");
        assertEquals(12, mostKvPages);
        assertEquals(0, e.scheduler().preemptions());
        for (int i = 0; i < reqs.size(); i++) {
          GenerationResult r = fs.get(i).join();
          assertEquals(null, r.errorCode(), "request " + i);
          assertArrayEquals(roomy.get(i).tokens(), r.tokens(), "request " + i);
        }
        assertEquals(0, e.pool().kvPages(), "every block back");
      }
    }
  }

  @Test
  void theAdapterOfAQueuedRequestIsWrittenIntoThePoolBeforeItGetsASeat() throws Exception {
    Path dir = TestModels.tiny(tmp, "F32");
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops);
        Engine e = engine(lm, ops, config().withStep(64, 1))) { // one seat
      String first = TestModels.adapter(dir, 0).toString();
      String second = TestModels.adapter(dir, 1).toString();
      var f1 =
          e.submit(
              new GenerationRequest(
                  "first", TestModels.prompt(1, 8), first, SamplingParams.greedy(30)));
      var f2 =
          e.submit(
              new GenerationRequest(
                  "second", TestModels.prompt(2, 8), second, SamplingParams.greedy(4)));
      boolean residentWhileFirstRan = false;
      while (!f1.isDone()) {
        e.step();
        if (!f1.isDone() && e.scheduler().numRunning() == 1 && e.slots().slotOf(second) >= 0) {
          residentWhileFirstRan = true;
        }
      }
      assertTrue(residentWhileFirstRan, "the queued request's adapter was written ahead");
      e.runUntilIdle();
      assertTrue(f2.join().ok());
      assertEquals(2, e.slots().loads(), "one write per adapter: the prefetch was used");
    }
  }
}
