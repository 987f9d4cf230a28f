package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lorastream.engine.tensor.DType;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The backend's kernel table ({@link CudaKernel}: symbols and argument kinds, which {@code
 * KernelAbiTest} checks against ABI.md) against the kernels as compiled from their sources by the
 * emulator build: the same symbols, no more and no fewer, and the same parameter kinds in the same
 * order. A {@code long} passed where a kernel takes an {@code int} would work on little-endian
 * hosts by accident and fail on the GPU.
 */
class EmulatedAbiTest {
  @BeforeEach
  void needEmulator() {
    KernelEmulator.assumeAvailable();
  }

  @Test
  void everyKernelOfTheTableIsCompiledWithTheArgumentKindsTheBackendPasses() {
    List<String> expected = new ArrayList<>();
    for (CudaKernel k : CudaKernel.values()) {
      for (DType t : new DType[] {DType.F16, DType.BF16}) {
        String sym = k.symbol(t);
        expected.add(sym);
        assertEquals(
            k.argKinds(),
            KernelEmulator.symbolParams(sym),
            sym + ": parameter kinds in the source vs CudaKernel");
      }
    }
    assertEquals(
        expected.stream().sorted().toList(),
        KernelEmulator.symbols(),
        "compiled kernel symbols vs CudaKernel");
  }
}
