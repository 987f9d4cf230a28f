package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.tensor.DType;
import java.util.SplittableRandom;
import jcuda.driver.CUresult;
import org.junit.jupiter.api.Test;

/** Host-side conversions, the activation dtype rule and error naming. */
class HostSideRulesTest {

  @Test
  void bf16RoundsToNearestEvenLikeTheDevice() {
    assertEquals((short) 0x3f80, HostConvert.toBf16(1f));
    assertEquals(
        (short) 0x3f80, HostConvert.toBf16(Float.intBitsToFloat(0x3f808000))); // tie → even (down)
    assertEquals(
        (short) 0x3f82, HostConvert.toBf16(Float.intBitsToFloat(0x3f818000))); // tie → even (up)
    assertEquals((short) 0x3f81, HostConvert.toBf16(Float.intBitsToFloat(0x3f808001)));
    assertTrue(Float.isNaN(HostConvert.fromBf16(HostConvert.toBf16(Float.NaN))));
    assertEquals(
        Float.POSITIVE_INFINITY, HostConvert.fromBf16(HostConvert.toBf16(Float.POSITIVE_INFINITY)));
    SplittableRandom r = new SplittableRandom(1);
    for (int i = 0; i < 10000; i++) {
      float f = (float) (r.nextGaussian() * 100);
      assertEquals(
          dev.lorastream.engine.ops.cpu.CpuTensor.toBf16(f), HostConvert.toBf16(f), "value " + f);
      float back = HostConvert.decode(DType.F16, HostConvert.encode(DType.F16, f));
      assertTrue(Math.abs(back - f) <= Math.abs(f) * 1e-3 + 1e-4, f + " -> " + back);
    }
  }

  @Test
  void activationDTypeFollowsTheFirstUploadUnlessForced() {
    ActivationDType auto = new ActivationDType("auto");
    assertEquals(DType.F16, auto.onUpload(DType.F16));
    assertEquals(DType.F16, auto.onUpload(DType.BF16)); // decided once
    assertEquals(DType.BF16, new ActivationDType("auto").onUpload(DType.F32));
    assertEquals(DType.BF16, new ActivationDType("auto").onUpload(DType.BF16));
    assertEquals(DType.BF16, new ActivationDType("auto").get());
    assertEquals(DType.F16, new ActivationDType("f16").onUpload(DType.F32));
    assertEquals(DType.BF16, new ActivationDType("bf16").onUpload(DType.F16));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> new ActivationDType("fp8"));
    assertTrue(e.getMessage().contains("fp8") && e.getMessage().contains("lorastream.cuda.dtype"));
  }

  @Test
  void cudaErrorsNameTheCallAndTheError() {
    CudaException e =
        assertThrows(
            CudaException.class,
            () -> CudaException.check("cuMemAlloc(pool)", CUresult.CUDA_ERROR_OUT_OF_MEMORY));
    assertEquals("cuMemAlloc(pool) failed: CUDA_ERROR_OUT_OF_MEMORY (2)", e.getMessage());
    CudaException.check("cuInit", CUresult.CUDA_SUCCESS);
  }
}
