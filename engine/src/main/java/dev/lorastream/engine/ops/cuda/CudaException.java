package dev.lorastream.engine.ops.cuda;

import jcuda.driver.CUresult;

/**
 * A failed CUDA driver call: names the call (with the kernel or buffer it was about) and the
 * driver's error name, e.g. {@code cuLaunchKernel(gemm_bf16) failed: CUDA_ERROR_INVALID_VALUE (1)}.
 */
public final class CudaException extends RuntimeException {
  private final int result;

  public CudaException(String call, int result) {
    super(call + " failed: " + errorName(result) + " (" + result + ")");
    this.result = result;
  }

  /**
   * A failure with no driver code (the kernel emulator's), e.g. {@code emu_launch(add_f16) failed:
   * deadlock ...}.
   */
  CudaException(String call, String error) {
    super(call + " failed: " + error);
    this.result = -1;
  }

  /** The driver's {@code CUresult} code, or -1 for the emulator's failures. */
  public int result() {
    return result;
  }

  /** Throws unless {@code result} is {@code CUDA_SUCCESS}. */
  public static void check(String call, int result) {
    if (result != CUresult.CUDA_SUCCESS) {
      throw new CudaException(call, result);
    }
  }

  /** {@code CUresult.stringFor} is plain Java (no native library), so this works without a GPU. */
  static String errorName(int result) {
    return CUresult.stringFor(result);
  }
}
