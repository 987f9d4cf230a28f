package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.config.Proj;
import dev.lorastream.engine.lora.LoraAdapter;
import dev.lorastream.engine.model.LlamaModel;
import dev.lorastream.engine.model.LoadedModel;
import dev.lorastream.engine.model.ModelLoader;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.sched.Engine;
import dev.lorastream.engine.sched.EngineConfig;
import dev.lorastream.engine.sched.EngineError;
import dev.lorastream.engine.sched.EngineLoop;
import dev.lorastream.engine.sched.GenerationRequest;
import dev.lorastream.engine.sched.GenerationResult;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.testdata.ModelGenerator;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A CUDA error in the middle of a step (the emulator fails a launch with
 * CUDA_ERROR_ILLEGAL_ADDRESS, as a faulting kernel would on a GPU, whose context is then unusable):
 * every request in flight completes with INTERNAL and a message naming the driver call, the kernel
 * and the error; nothing hangs; the loop stops and refuses new work, so the consumer exits without
 * committing and its batch is redelivered.
 */
class EmulatedDeviceFaultTest {
  @TempDir Path tmp;

  @BeforeEach
  void needEmulator() {
    KernelEmulator.assumeAvailable();
  }

  @Test
  void aKernelFaultFailsEveryRequestWithInternalAndStopsTheLoop() throws Exception {
    Path dir = tmp.resolve("m");
    ModelGenerator.make(
        "tiny-hd64", ModelGenerator.Options.defaults().withDtype(DType.F16).withSeed(1), dir);
    KernelEmulator device = new KernelEmulator();
    try (CudaOps ops = new CudaOps(device, "auto", 256L << 20);
        LoadedModel lm = ModelLoader.load(dir, ops)) {
      EngineConfig ec =
          EngineConfig.defaults()
              .withKvBlocks(64)
              .withStep(64, 8)
              .withLora(4, 16, EnumSet.allOf(Proj.class), LlamaModel.LoraKernel.SGMV);
      LlamaModel m = new LlamaModel(lm.config(), lm.weights(), ops, LlamaModel.LoraKernel.SGMV);
      Engine engine =
          new Engine(m, ec, id -> LoraAdapter.load(Path.of(id), lm.config(), ec.maxRank()), null);
      try (EngineLoop loop = new EngineLoop(engine, "fault-test")) {
        GenerationResult first =
            loop.submit(
                    new GenerationRequest(
                        "ok", new int[] {1, 5, 9}, null, SamplingParams.greedy(3)))
                .get(60, TimeUnit.SECONDS);
        assertTrue(first.ok(), "before the fault: " + first.errorMessage());

        device.failLaunchesFrom(40, 700); // a few launches into the next step
        List<CompletableFuture<GenerationResult>> fs = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
          fs.add(
              loop.submit(
                  new GenerationRequest(
                      "r" + i, new int[] {1, 7 + i, 3}, null, SamplingParams.greedy(16))));
        }
        for (CompletableFuture<GenerationResult> f : fs) {
          GenerationResult r = f.get(60, TimeUnit.SECONDS); // never hangs
          assertFalse(r.ok(), r.id());
          assertEquals(EngineError.INTERNAL, r.errorCode(), r.id());
          assertTrue(
              r.errorMessage().contains("cuLaunchKernel(")
                  && r.errorMessage().contains("CUDA_ERROR_ILLEGAL_ADDRESS"),
              r.id() + ": " + r.errorMessage());
        }
        assertInstanceOf(CudaException.class, loop.fatal());
        assertEquals(700, ((CudaException) loop.fatal()).result());
        IllegalStateException refused =
            assertThrows(
                IllegalStateException.class,
                () ->
                    loop.submit(
                        new GenerationRequest(
                            "late", new int[] {1}, null, SamplingParams.greedy(1))));
        assertTrue(refused.getMessage().contains("stopped after an error"), refused.getMessage());
      }
    }
  }
}
