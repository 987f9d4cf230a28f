package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.testdata.ModelGenerator;
import dev.lorastream.tokenizer.HfTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Engine#submit(GenerationRequest, dev.lorastream.engine.sched.TokenListener)}. */
class EngineTokenListenerTest {
  @TempDir static Path tmp;
  static Ops ops;
  static LoadedModel lm;
  static HfTokenizer tok;

  @BeforeAll
  static void setUp() throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make("tiny", ModelGenerator.Options.defaults(), dir);
    ops = Backends.create("cpu");
    lm = ModelLoader.load(dir, ops);
    tok = HfTokenizer.load(dir);
  }

  @AfterAll
  static void tearDown() {
    lm.close();
    tok.close();
  }

  private static Engine engine(int kvBlocks) {
    // no LoRA targets: the pool is the KV blocks alone
    EngineConfig ec =
        EngineConfig.defaults()
            .withKvBlocks(kvBlocks)
            .withStep(64, 4)
            .withLora(1, 8, EnumSet.noneOf(Proj.class), LlamaModel.LoraKernel.SGMV);
    return new Engine(
        new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV),
        ec,
        null,
        tok::decode);
  }

  @Test
  void eachGeneratedTokenIsToldOnceInOrderBeforeTheFutureCompletes() {
    int[] prompt = tok.encode("Once upon a time");
    // 3 requests of 40 tokens in 8 blocks of 16 tokens: they cannot all hold their K/V, so some
    // are preempted and recomputed; a recomputed token is not told again
    try (Engine e = engine(8)) {
      List<List<Integer>> told = new ArrayList<>();
      List<CompletableFuture<GenerationResult>> futures = new ArrayList<>();
      List<Boolean> doneWhenTold = new ArrayList<>();
      for (int r = 0; r < 3; r++) {
        List<Integer> tokens = new ArrayList<>();
        told.add(tokens);
        CompletableFuture<GenerationResult>[] self = new CompletableFuture[1];
        self[0] =
            e.submit(
                new GenerationRequest("r" + r, prompt, null, SamplingParams.greedy(40)),
                (index, token) -> {
                  assertEquals(tokens.size(), index);
                  tokens.add(token);
                  doneWhenTold.add(self[0] != null && self[0].isDone());
                });
        futures.add(self[0]);
      }
      e.runUntilIdle();
      long preemptions = 0;
      for (int r = 0; r < 3; r++) {
        GenerationResult res = futures.get(r).join();
        assertEquals(40, res.tokens().length);
        assertArrayEquals(res.tokens(), told.get(r).stream().mapToInt(i -> i).toArray());
        preemptions += res.preemptions();
      }
      assertFalse(doneWhenTold.contains(true));
      assertEquals(true, preemptions > 0, "the case needs a preemption");
    }
  }
}
