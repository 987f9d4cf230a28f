package dev.lorastream.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.kv.KvCache;
import dev.lorastream.engine.lora.AdapterSlots;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.ForwardHarness;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.ops.cpu.NativeCpu;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.testing.PythonRef;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The engine against the independent PyTorch reference on generated tiny models: logits of the base
 * model, of one adapter and of a mixed batch (many adapters of different ranks plus base rows in
 * one step), in F32, BF16 and F16; and a sequence's greedy tokens in a mixed continuous batch equal
 * those of the model with the adapter merged into its weights. Skipped without PyTorch; the
 * invariants that need no reference are {@link EngineInvariantsTest}.
 */
class EngineReferenceTest {
  @TempDir static Path tmp;

  @BeforeAll
  static void needReference() {
    PythonRef.assumeAvailable();
  }

  static Path model(String dtype, String... extra) throws Exception {
    return TestModels.tiny(tmp, dtype, extra);
  }

  static Path adapter(Path model, int i) {
    return TestModels.adapter(model, i);
  }

  static double relErr(float[][] ours, float[][] ref) {
    assertEquals(ref.length, ours.length, "positions");
    double maxDiff = 0;
    double maxRef = 0;
    for (int i = 0; i < ref.length; i++) {
      assertEquals(ref[i].length, ours[i].length, "vocab");
      for (int j = 0; j < ref[i].length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(ours[i][j] - ref[i][j]));
        maxRef = Math.max(maxRef, Math.abs(ref[i][j]));
      }
    }
    return maxDiff / maxRef;
  }

  /**
   * One prefill step over the sequences, each through its adapter (index into the generated set, -1
   * none), compared position by position with the reference.
   */
  private static void compareMixedStep(
      String dtype, double tolerance, int[] adapterOf, String... modelArgs) throws Exception {
    compareMixedStep(() -> Backends.create("cpu"), dtype, tolerance, adapterOf, modelArgs);
  }

  private static void compareMixedStep(
      java.util.function.Supplier<Ops> backend,
      String dtype,
      double tolerance,
      int[] adapterOf,
      String... modelArgs)
      throws Exception {
    Path dir = model(dtype, modelArgs);
    List<int[]> prompts = new ArrayList<>();
    List<PythonRef.Request> reqs = new ArrayList<>();
    for (int s = 0; s < adapterOf.length; s++) {
      int[] p = TestModels.prompt(s, 5 + 3 * s % 17);
      prompts.add(p);
      reqs.add(new PythonRef.Request(p, adapterOf[s] < 0 ? null : adapter(dir, adapterOf[s])));
    }
    JsonNode ref = PythonRef.run(dir, reqs, tmp);
    try (Ops ops = backend.get();
        LoadedModel lm = ModelLoader.load(dir, ops)) {
      LlamaModel model = new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV);
      KvCache kv =
          new KvCache(
              ops, lm.config().numLayers(), 64, 4, lm.config().numKvHeads(), lm.config().headDim());
      AdapterSlots slots = new AdapterSlots(ops, lm.config(), 8, 16, EnumSet.allOf(Proj.class));
      int[] slotOf = new int[adapterOf.length];
      for (int s = 0; s < adapterOf.length; s++) {
        slotOf[s] =
            adapterOf[s] < 0
                ? -1
                : slots.acquire(LoraAdapter.load(adapter(dir, adapterOf[s]), lm.config(), 16));
      }
      List<float[][]> ours = ForwardHarness.prefill(model, kv, slots, prompts, slotOf);
      for (int s = 0; s < adapterOf.length; s++) {
        double err = relErr(ours.get(s), PythonRef.matrix(ref.get(s).get("logits")));
        assertTrue(
            err < tolerance,
            dtype + " sequence " + s + " (adapter " + adapterOf[s] + "): relative error " + err);
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"F32, 1e-4", "BF16, 1e-2", "F16, 1e-2"})
  void baseModelLogitsMatchTheReference(String dtype, double tol) throws Exception {
    compareMixedStep(dtype, tol, new int[] {-1});
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"F32, 1e-4", "BF16, 1e-2"})
  void oneAdapterLogitsMatchTheReference(String dtype, double tol) throws Exception {
    compareMixedStep(dtype, tol, new int[] {1});
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"F32, 1e-4", "BF16, 1e-2", "F16, 1e-2"})
  void mixedBatchOverSixAdaptersOfThreeRanksAndBaseRowsMatchesTheReference(String dtype, double tol)
      throws Exception {
    // 10 sequences, adapters of ranks 4, 8 and 16, two base rows, one adapter in two separate
    // segments
    compareMixedStep(dtype, tol, new int[] {0, 0, 1, -1, 2, 3, 4, 5, -1, 1});
  }

  /**
   * The CPU backend's int8 weight option ({@code lorastream.cpu.weights=int8}) on a mixed batch
   * with adapters: every projection quantized per output row, the activations per token. The tiny
   * model's logits stay within 4e-2 of the reference's largest (measured: 1.3e-2 for the first
   * sequence; BF16 weights as stored: under 1e-2); the adapters themselves stay F32 and are exact.
   */
  @Test
  void int8WeightsKeepAMixedBatchWithinItsToleranceOfTheReference() throws Exception {
    assumeTrue(NativeCpu.canRunInt8(), "no int8 kernel here: " + NativeCpu.int8Unavailable());
    compareMixedStep(
        () -> new CpuOps(2, NativeCpu.choice().kernel(), CpuOps.WeightFormat.INT8),
        "BF16",
        4e-2,
        new int[] {0, -1, 1, 2, 1});
  }

  @ParameterizedTest(name = "{0}: {1}")
  @CsvSource({
    "BF16, --arch qwen2 --tie-embeddings --rope-scaling llama3",
    "F32, --arch mistral --shards 3",
    "F32, --arch llama --tie-embeddings --rope-scaling llama3"
  })
  void otherArchitecturesAndLayoutsMatchTheReference(String dtype, String modelArgs)
      throws Exception {
    double tol = dtype.equals("F32") ? 1e-4 : 1e-2;
    compareMixedStep(dtype, tol, new int[] {0, -1, 2, 2, 5}, modelArgs.split(" "));
  }

  @Test
  void greedyTokensInAMixedBatchEqualTheMergedModel() throws Exception {
    Path dir = model("F32");
    SamplingParams greedy = SamplingParams.greedy(8);
    List<GenerationRequest> reqs = TestModels.mixedRequests(dir, greedy);
    List<PythonRef.Request> refReqs = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      refReqs.add(
          new PythonRef.Request(
              r.promptTokens(), r.adapterId() == null ? null : Path.of(r.adapterId())));
    }
    JsonNode merged =
        PythonRef.run(dir, refReqs, tmp, "--merged", "--greedy", "8", "--logits", "none");
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops)) {
      List<GenerationResult> together;
      try (Engine e = TestModels.engine(lm, ops, TestModels.config())) {
        together = TestModels.generate(e, reqs);
        assertTrue(e.stats().lastBatchSeqs() >= 1);
      }
      for (int s = 0; s < reqs.size(); s++) {
        assertArrayEquals(
            PythonRef.ints(merged.get(s).get("greedy")),
            together.get(s).tokens(),
            "request " + s + " vs the merged-weights reference");
      }
    }
  }
}
