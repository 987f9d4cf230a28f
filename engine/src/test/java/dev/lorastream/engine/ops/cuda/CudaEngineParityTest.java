package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.AdapterGenerator;
import dev.lorastream.engine.testdata.ModelGenerator;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end on a GPU: the greedy tokens of a small model (cpu-bench shapes, 2 layers, F16, so the
 * CUDA backend computes in F16) for a continuous batch mixing six adapters of ranks 4, 8 and 16
 * with base rows equal those of the CPU backend, with SGMV and with BGMV. Skipped with the reason
 * without a GPU; {@code EngineReferenceTest} covers the same invariants on the CPU.
 */
class CudaEngineParityTest {
  @TempDir static Path tmp;

  /** Whether the device under test is there; skips with the reason otherwise. */
  void assumeDevice() {
    Assumptions.assumeTrue(CudaOps.available(), "no usable GPU: " + CudaOps.availability());
  }

  /**
   * The backend under test: the real GPU's here, the kernel emulator's in {@link
   * EmulatedEngineParityTest}.
   */
  CudaOps open() {
    return new CudaOps("auto", 1L << 30);
  }

  /**
   * The model's preset: cpu-bench shapes (head dim 64, GQA 32/8) cut to 2 layers; paged_attention_T
   * has no head dim 16 (tiny's).
   */
  String preset() {
    return "cpu-bench";
  }

  private Path model() throws Exception {
    Path dir = tmp.resolve("small-f16-" + preset());
    if (!dir.resolve("config.json").toFile().exists()) {
      ModelGenerator.Options o = ModelGenerator.Options.defaults().withSeed(3).withDtype(DType.F16);
      o =
          new ModelGenerator.Options(
              o.seed(), o.dtype(), o.arch(), o.shards(), 2, false, false, o.merges());
      ModelGenerator.make(preset(), o, dir);
      AdapterGenerator.make(
          dir,
          6,
          AdapterGenerator.Options.defaults().withRanks(4, 8, 16).withSeed(4),
          dir.resolve("adapters"));
    }
    return dir;
  }

  private List<GenerationRequest> requests(Path dir) {
    int[] adapterOf = {0, 1, -1, 2, 3, 4, 5, -1, 2};
    List<GenerationRequest> reqs = new ArrayList<>();
    for (int s = 0; s < adapterOf.length; s++) {
      SplittableRandom r = new SplittableRandom(100 + s);
      int vocab = preset().startsWith("tiny") ? 512 : 32000;
      int[] p = new int[3 + 5 * s % 23];
      p[0] = 1;
      for (int i = 1; i < p.length; i++) {
        p[i] = 4 + r.nextInt(vocab - 4);
      }
      String a =
          adapterOf[s] < 0
              ? null
              : dir.resolve("adapters")
                  .resolve(AdapterGenerator.adapterName(adapterOf[s]))
                  .toString();
      reqs.add(new GenerationRequest("r" + s, p, a, SamplingParams.greedy(8)));
    }
    return reqs;
  }

  private List<int[]> generate(Ops ops, Path dir, LlamaModel.LoraKernel kernel) {
    try (LoadedModel lm = ModelLoader.load(dir, ops)) {
      EngineConfig ec =
          EngineConfig.defaults()
              .withKvBlocks(256)
              .withStep(64, 32)
              .withLora(8, 16, EnumSet.allOf(Proj.class), kernel);
      LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, kernel);
      try (Engine e =
          new Engine(m, ec, id -> LoraAdapter.load(Path.of(id), lm.config(), ec.maxRank()), null)) {
        List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
        for (GenerationRequest r : requests(dir)) {
          fs.add(e.submit(r));
        }
        e.runUntilIdle();
        List<int[]> out = new ArrayList<>();
        for (var f : fs) {
          GenerationResult r = f.join();
          assertTrue(
              r.ok(), ops.name() + " " + r.id() + ": " + r.errorCode() + " " + r.errorMessage());
          out.add(r.tokens());
        }
        return out;
      }
    }
  }

  @Test
  void greedyTokensOfAMixedAdapterBatchEqualTheCpuBackend() throws Exception {
    assumeDevice();
    Path dir = model();
    List<int[]> cpu;
    try (Ops ops = new CpuOps(2)) {
      cpu = generate(ops, dir, LlamaModel.LoraKernel.SGMV);
    }
    for (LlamaModel.LoraKernel k : LlamaModel.LoraKernel.values()) {
      try (CudaOps ops = open()) {
        List<int[]> gpu = generate(ops, dir, k);
        assertEquals(
            dev.lorastream.engine.tensor.DType.F16,
            ops.activationDType(),
            "F16 model → F16 activations");
        for (int s = 0; s < cpu.size(); s++) {
          assertArrayEquals(
              cpu.get(s), gpu.get(s), k + " request " + s + ": cuda vs cpu greedy tokens");
        }
      }
    }
  }
}
