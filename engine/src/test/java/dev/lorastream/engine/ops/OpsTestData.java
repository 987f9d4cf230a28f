package dev.lorastream.engine.ops;

import static org.junit.jupiter.api.Assertions.fail;

import dev.lorastream.engine.ops.cpu.NativeCpu;
import dev.lorastream.engine.ops.cpu.NativeCpu.Kernel;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** Random inputs, weight encoding and the tolerance check shared by the ops parity tests. */
final class OpsTestData {
  private OpsTestData() {}

  /** {@link #tolerance(DType, Kernel)} for the kernel a default {@code CpuOps} runs here. */
  static double tolerance(DType weightDType) {
    return tolerance(weightDType, NativeCpu.choice().kernel());
  }

  /**
   * Tolerance per weight dtype and CPU kernel, relative (see {@link #assertClose}).
   *
   * <p>1e-5 where the kernel multiplies the F32 activations by the weights decoded exactly (every
   * dtype on the Java and {@code fma} kernels, F32 and F16 weights on {@code bf16dot}): only the
   * float accumulation order differs (the reference sums in double). 1e-5 is ~100 ulps, far above
   * the ~1e-6 seen for dot products of length 1100, far below any real bug (a dropped term of 1100
   * moves a result by ~3%).
   *
   * <p>1e-2 for BF16 weights on {@code bf16dot} and {@code amx}, which round the activations to
   * BF16: each term off by at most 2^-9 of itself, independently, so an output is off by about
   * 2^-9/√3 ≈ 1.1e-3 of the outputs' rms, and the largest of thousands by under 5e-3 of it. A
   * dropped term of 1100 still moves a result by ~3%, three times this.
   */
  static double tolerance(DType weightDType, Kernel kernel) {
    boolean roundsActivations = kernel == Kernel.BF16DOT || kernel == Kernel.AMX;
    return weightDType == DType.BF16 && roundsActivations ? 1e-2 : 1e-5;
  }

  static float[] random(SplittableRandom rnd, int n, float scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (rnd.nextDouble() * 2 - 1) * scale;
    }
    return v;
  }

  /** A host weight of the given dtype holding {@code values} (rounded to it). */
  static HostTensor weight(String name, DType dtype, float[] values, int... shape) {
    MemorySegment seg = MemorySegment.ofArray(new byte[values.length * dtype.bytes()]);
    for (int i = 0; i < values.length; i++) {
      switch (dtype) {
        case F32 -> seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, values[i]);
        case F16 ->
            seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Float.floatToFloat16(values[i]));
        case BF16 ->
            seg.setAtIndex(
                ValueLayout.JAVA_SHORT_UNALIGNED,
                i,
                dev.lorastream.engine.ops.cpu.CpuTensor.toBf16(values[i]));
      }
    }
    return new HostTensor(name, dtype, shape, seg);
  }

  /** An F32 activation tensor on {@code ops} holding {@code values}. */
  static Tensor activation(Ops ops, float[] values, int... shape) {
    Tensor t = ops.allocate(DType.F32, shape);
    ops.copyFromHost(values, t);
    return t;
  }

  static float[] read(Ops ops, Tensor t) {
    float[] out = new float[Math.toIntExact(t.numel())];
    ops.copyToHost(t, out);
    return out;
  }

  /**
   * Elementwise {@code |actual − expected| <= rtol · (|expected| + rms(expected))}: relative for
   * large values, with a floor at the output's typical size so cancellations near zero do not
   * demand impossible digits.
   */
  static void assertClose(String what, float[] expected, float[] actual, double rtol) {
    if (expected.length != actual.length) {
      fail(what + ": length " + actual.length + " vs expected " + expected.length);
    }
    double sq = 0;
    for (float e : expected) {
      sq += (double) e * e;
    }
    double rms = Math.sqrt(sq / Math.max(1, expected.length));
    double worst = 0;
    int worstAt = -1;
    for (int i = 0; i < expected.length; i++) {
      double err = Math.abs((double) actual[i] - expected[i]);
      double bound = rtol * (Math.abs(expected[i]) + rms) + Float.MIN_NORMAL;
      if (!(err <= bound) && (worstAt < 0 || err / bound > worst)) {
        worst = err / bound;
        worstAt = i;
      }
    }
    if (worstAt >= 0) {
      fail(
          what
              + ": element "
              + worstAt
              + " is "
              + actual[worstAt]
              + ", expected "
              + expected[worstAt]
              + " (rtol "
              + rtol
              + ", rms "
              + rms
              + ", "
              + worst
              + "x over)");
    }
  }
}
