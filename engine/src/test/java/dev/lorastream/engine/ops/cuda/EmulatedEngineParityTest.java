package dev.lorastream.engine.ops.cuda;

/**
 * {@link CudaEngineParityTest} without a GPU: the whole engine (continuous batching, paged KV
 * cache, SGMV and BGMV LoRA) on {@link CudaOps} over {@link KernelEmulator}, with the tiny-hd64
 * model so the emulated kernels finish in seconds. Greedy tokens must equal the CPU backend's.
 * Skipped when the emulator cannot be built.
 */
class EmulatedEngineParityTest extends CudaEngineParityTest {
  @Override
  void assumeDevice() {
    KernelEmulator.assumeAvailable();
  }

  @Override
  CudaOps open() {
    return KernelEmulator.ops("auto");
  }

  @Override
  String preset() {
    return "tiny-hd64";
  }
}
