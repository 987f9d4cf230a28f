package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.tensor.DType;
import org.junit.jupiter.api.BeforeEach;

/**
 * {@link SampleKernelParityTest} on the kernel emulator; skipped with the reason when it cannot be
 * built.
 */
class EmulatedSampleKernelParityTest extends SampleKernelParityTest {
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
