package dev.lorastream.engine;

import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.ModelGenerator;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lorastream.engine.kv.KvCache;
import dev.lorastream.engine.lora.AdapterSlots;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.ForwardHarness;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.backends.Backends;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.testing.PythonRef;
import dev.lorastream.engine.testdata.AdapterGenerator;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The engine against the independent PyTorch reference on generated tiny models: logits of the base model,
 * of one adapter and of a mixed batch (many adapters of different ranks plus base rows in one step), in
 * F32, BF16 and F16; and the multi-tenant invariant: a sequence's greedy tokens in a mixed continuous batch
 * equal those of the same sequence alone and those of the model with the adapter merged into its weights.
 */
class EngineReferenceTest {
  private static final int ADAPTERS = 6;

  @TempDir static Path tmp;

  @BeforeAll
  static void needReference() {
    PythonRef.assumeAvailable();
  }

  /** The tiny model in {@code dtype}, seed 3, changed by {@code extra} (make-model's --arch, --shards, ...). */
  static Path model(String dtype, String... extra) throws Exception {
    Path dir = tmp.resolve("model-" + dtype + String.join("", extra));
    if (!dir.resolve("config.json").toFile().exists()) {
      ModelGenerator.Options o = ModelGenerator.Options.defaults().withSeed(3).withDtype(DType.parse(dtype));
      List<String> args = List.of(extra);
      ModelGenerator.Arch arch = o.arch();
      int shards = o.shards();
      for (int i = 0; i < args.size(); i++) {
        switch (args.get(i)) {
          case "--arch" -> arch = ModelGenerator.Arch.valueOf(args.get(++i));
          case "--shards" -> shards = Integer.parseInt(args.get(++i));
          case "--rope-scaling", "--tie-embeddings" -> {
            if (args.get(i).equals("--rope-scaling")) {
              i++;
            }
          }
          default -> throw new IllegalArgumentException("model option " + args.get(i));
        }
      }
      o =
          new ModelGenerator.Options(
              o.seed(), o.dtype(), arch, shards, null, args.contains("--tie-embeddings"), args.contains("llama3"),
              o.merges());
      ModelGenerator.make("tiny", o, dir);
      AdapterGenerator.make(
          dir, ADAPTERS, AdapterGenerator.Options.defaults().withRanks(4, 8, 16).withSeed(4), dir.resolve("adapters"));
    }
    return dir;
  }

  static Path adapter(Path model, int i) {
    return model.resolve("adapters").resolve(AdapterGenerator.adapterName(i));
  }

  static int[] prompt(int seed, int len) {
    SplittableRandom r = new SplittableRandom(seed);
    int[] p = new int[len];
    p[0] = 1; // <s>
    for (int i = 1; i < len; i++) {
      p[i] = 4 + r.nextInt(500);
    }
    return p;
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
   * One prefill step over the sequences, each through its adapter (index into the generated set, -1 none),
   * compared position by position with the reference.
   */
  private static void compareMixedStep(String dtype, double tolerance, int[] adapterOf, String... modelArgs)
      throws Exception {
    Path dir = model(dtype, modelArgs);
    List<int[]> prompts = new ArrayList<>();
    List<PythonRef.Request> reqs = new ArrayList<>();
    for (int s = 0; s < adapterOf.length; s++) {
      int[] p = prompt(s, 5 + 3 * s % 17);
      prompts.add(p);
      reqs.add(new PythonRef.Request(p, adapterOf[s] < 0 ? null : adapter(dir, adapterOf[s])));
    }
    JsonNode ref = PythonRef.run(dir, reqs, tmp);
    try (Ops ops = Backends.create("cpu");
        LoadedModel lm = ModelLoader.load(dir, ops)) {
      LlamaModel model = new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV);
      KvCache kv = new KvCache(ops, lm.config().numLayers(), 64, 4, lm.config().numKvHeads(), lm.config().headDim());
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
    // 10 sequences, adapters of ranks 4, 8 and 16, two base rows, one adapter in two separate segments
    compareMixedStep(dtype, tol, new int[] {0, 0, 1, -1, 2, 3, 4, 5, -1, 1});
  }

  @ParameterizedTest(name = "{0}: {1}")
  @CsvSource({
    "BF16, --arch qwen2 --tie-embeddings --rope-scaling llama3",
    "F32, --arch mistral --shards 3",
    "F32, --arch llama --tie-embeddings --rope-scaling llama3"
  })
  void otherArchitecturesAndLayoutsMatchTheReference(String dtype, String modelArgs) throws Exception {
    double tol = dtype.equals("F32") ? 1e-4 : 1e-2;
    compareMixedStep(dtype, tol, new int[] {0, -1, 2, 2, 5}, modelArgs.split(" "));
  }

  // ---- the engine: continuous batching, decode, greedy invariants --------------------------------

  static Engine engine(LoadedModel lm, Ops ops, EngineConfig ec) {
    LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, ec.loraKernel());
    return new Engine(m, ec, id -> LoraAdapter.load(Path.of(id), lm.config(), ec.maxRank()), null);
  }

  static EngineConfig config() {
    return EngineConfig.defaults()
        .withKvBlocks(256)
        .withStep(64, 32)
        .withLora(8, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
  }

  static List<GenerationResult> generate(Engine e, List<GenerationRequest> reqs) {
    List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      fs.add(e.submit(r));
    }
    e.runUntilIdle();
    List<GenerationResult> out = new ArrayList<>();
    for (var f : fs) {
      GenerationResult r = f.join();
      assertTrue(r.ok(), r.id() + ": " + r.errorCode() + " " + r.errorMessage());
      out.add(r);
    }
    return out;
  }

  static List<GenerationRequest> mixedRequests(Path dir, SamplingParams params) {
    List<GenerationRequest> reqs = new ArrayList<>();
    int[] adapterOf = {0, 1, -1, 2, 3, 4, 5, -1, 2};
    for (int s = 0; s < adapterOf.length; s++) {
      String a = adapterOf[s] < 0 ? null : adapter(dir, adapterOf[s]).toString();
      reqs.add(new GenerationRequest("r" + s, prompt(100 + s, 3 + 5 * s % 23), a, params));
    }
    return reqs;
  }

  @Test
  void greedyTokensInAMixedBatchEqualTheSequenceAloneAndTheMergedModel() throws Exception {
    Path dir = model("F32");
    SamplingParams greedy = SamplingParams.greedy(8);
    List<GenerationRequest> reqs = mixedRequests(dir, greedy);
    List<PythonRef.Request> refReqs = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      refReqs.add(
          new PythonRef.Request(r.promptTokens(), r.adapterId() == null ? null : Path.of(r.adapterId())));
    }
    JsonNode merged = PythonRef.run(dir, refReqs, tmp, "--merged", "--greedy", "8", "--logits", "none");
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
        assertArrayEquals(alone.get(0).tokens(), together.get(s).tokens(), "request " + s + " alone vs mixed");
        assertArrayEquals(
            PythonRef.ints(merged.get(s).get("greedy")),
            together.get(s).tokens(),
            "request " + s + " vs the merged-weights reference");
      }
    }
  }

  @Test
  void preemptionWithRecomputeLeavesOutputsUnchanged() throws Exception {
    Path dir = model("F32");
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
          warmUp.add(new GenerationRequest("w" + r.id(), new int[] {1}, r.adapterId(), SamplingParams.greedy(1)));
        }
        generate(e, warmUp);
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
    Path dir = model("F32");
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
