package dev.lorastream.engine;

import static dev.lorastream.engine.TestModels.config;
import static dev.lorastream.engine.TestModels.engine;
import static dev.lorastream.engine.TestModels.generate;
import static dev.lorastream.engine.TestModels.mixedRequests;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine's multi-tenant invariants on a generated tiny model, no reference needed: a sequence's
 * tokens in a mixed continuous batch equal those of the same sequence alone (greedy and seeded
 * sampling), and preemption with recompute changes no output.
 */
class EngineInvariantsTest {
  @TempDir static Path tmp;

  static Path model() throws Exception {
    return TestModels.tiny(tmp, "F32");
  }

  @Test
  void greedyTokensInAMixedBatchEqualTheSequenceAlone() throws Exception {
    Path dir = model();
    List<GenerationRequest> reqs = mixedRequests(dir, SamplingParams.greedy(8));
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops)) {
      List<GenerationResult> together;
      try (Engine e = engine(lm, ops, config())) {
        together = generate(e, reqs);
        assertTrue(e.stats().lastBatchSeqs() >= 1);
      }
      for (int s = 0; s < reqs.size(); s++) {
        List<GenerationResult> alone;
        try (Engine e = engine(lm, ops, config())) {
          alone = generate(e, List.of(reqs.get(s)));
        }
        assertArrayEquals(
            alone.get(0).tokens(), together.get(s).tokens(), "request " + s + " alone vs mixed");
      }
    }
  }

  @Test
  void preemptionWithRecomputeLeavesOutputsUnchanged() throws Exception {
    Path dir = model();
    SamplingParams sampled = new SamplingParams(0.9f, 50, 0.9f, 11, 12, List.of(), List.of());
    List<GenerationRequest> reqs = mixedRequests(dir, sampled);
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops)) {
      List<GenerationResult> roomy;
      try (Engine e = engine(lm, ops, config())) {
        roomy = generate(e, reqs);
      }
      List<GenerationResult> tight;
      long preemptions;
      try (Engine e = engine(lm, ops, config().withKvBlocks(8))) {
        // load every adapter first, so that admission does not depend on background load timing
        List<GenerationRequest> warmUp = new ArrayList<>();
        for (GenerationRequest r : reqs) {
          warmUp.add(
              new GenerationRequest(
                  "w" + r.id(), new int[] {1}, r.adapterId(), SamplingParams.greedy(1)));
        }
        generate(e, warmUp);
        // as with a separate adapter pool: the adapters stay resident (hot), and the pages of their
        // share that they do not use are held, so that 8 pages are left for the KV of 9 sequences
        Set<String> ids = new HashSet<>();
        for (GenerationRequest r : reqs) {
          if (r.adapterId() != null) {
            ids.add(r.adapterId());
          }
        }
        e.slots().hot(ids);
        while (e.pool().freePages() > 8) {
          e.pool().allocate();
        }
        tight = generate(e, reqs);
        preemptions = e.scheduler().preemptions();
      }
      assertTrue(preemptions > 0, "8 blocks of 16 tokens for 9 sequences must force preemptions");
      for (int s = 0; s < reqs.size(); s++) {
        assertArrayEquals(roomy.get(s).tokens(), tight.get(s).tokens(), "request " + s);
      }
    }
  }

  @Test
  void aSeededSampledRequestGivesTheSameTokensAloneAndInABatch() throws Exception {
    Path dir = model();
    SamplingParams sampled = new SamplingParams(1.0f, 0, 1f, 99, 10, List.of(), List.of());
    List<GenerationRequest> reqs = mixedRequests(dir, sampled);
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops)) {
      List<GenerationResult> together;
      try (Engine e = engine(lm, ops, config())) {
        together = generate(e, reqs);
      }
      try (Engine e = engine(lm, ops, config())) {
        GenerationResult alone = generate(e, List.of(reqs.get(3))).get(0);
        assertArrayEquals(alone.tokens(), together.get(3).tokens());
      }
    }
  }
}
