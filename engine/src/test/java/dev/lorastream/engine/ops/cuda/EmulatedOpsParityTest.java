package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.tensor.DType;
import org.junit.jupiter.api.BeforeEach;

/**
 * {@link CudaOpsParityTest}'s every case on machines without a GPU: {@link CudaOps} itself (checks,
 * geometry, staging, pool offsets, argument order) over {@link KernelEmulator}, which runs the real
 * kernel sources on the CPU. Skipped with the reason when the emulator cannot be built (no g++ or
 * no CUDA headers).
 */
class EmulatedOpsParityTest extends CudaOpsParityTest {
  @Override
  @BeforeEach // an overriding method is a lifecycle method only when annotated again
  void needDevice() {
    KernelEmulator.assumeAvailable();
  }

  @Override
  CudaOps open(DType dtype) {
    return KernelEmulator.ops(dtype.name());
  }
}
