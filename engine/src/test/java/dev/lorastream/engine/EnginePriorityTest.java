package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.testdata.ModelGenerator;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link GenerationRequest#priority} through {@link Engine#submit}, on the generated tiny model.
 */
class EnginePriorityTest {
  @TempDir static Path tmp;
  static Ops ops;
  static LoadedModel lm;

  @BeforeAll
  static void setUp() throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    ops = Backends.create("cpu");
    lm = ModelLoader.load(dir, ops);
  }

  @AfterAll
  static void tearDown() {
    lm.close();
  }

  @Test
  void withOneSeatWaitingRequestsRunHigherPriorityFirstAndInArrivalOrderWithinALevel() {
    EngineConfig ec = EngineConfig.defaults().withKvBlocks(16).withStep(64, 1);
    LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
    try (Engine e =
        new Engine(
            m,
            ec,
            id -> {
              throw new NoSuchElementException(id);
            },
            null)) {
      List<String> finished = Collections.synchronizedList(new ArrayList<>());
      String[][] requests = {
        {"first", "-10"}, // admitted alone, before the others arrive: it keeps its seat
        {"bulk-a", "-5"},
        {"online-a", "0"},
        {"urgent", "10"},
        {"bulk-b", "-5"},
        {"online-b", "0"},
      };
      for (String[] r : requests) {
        e.submit(
                new GenerationRequest(
                    r[0],
                    new int[] {1, 20, 30},
                    null,
                    SamplingParams.greedy(3),
                    Integer.parseInt(r[1]),
                    0))
            .thenAccept(
                res -> {
                  assertTrue(res.ok(), res.errorMessage());
                  finished.add(res.id());
                });
        if (r[0].equals("first")) {
          assertTrue(e.step()); // "first" takes the one seat; the rest arrive while it runs
        }
      }
      e.runUntilIdle();
      // 6 requests x 3 steps each stay far below the aging bound (100 steps a level)
      assertEquals(
          List.of("first", "urgent", "online-a", "online-b", "bulk-a", "bulk-b"), finished);
    }
  }
}
