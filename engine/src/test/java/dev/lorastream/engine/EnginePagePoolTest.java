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
}
