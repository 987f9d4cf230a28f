package dev.lorastream.engine.ops.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.ops.cpu.CpuOps.WeightFormat;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The int8 weight option: quantization, the VNNI kernel's exact integer arithmetic, its error. */
class CpuInt8Test {

  @BeforeAll
  static void needTheKernel() {
    assumeTrue(NativeCpu.canRunInt8(), "no int8 kernel here: " + NativeCpu.int8Unavailable());
  }

  private static CpuOps int8(int threads) {
    return new CpuOps(threads, NativeCpu.choice().kernel(), WeightFormat.INT8);
  }

  @Test
  void eachRowIsScaledByItsLargestMagnitudeAndRoundedToNearestEven() {
    // row 0: max 1.27 -> scale 0.01; -0.635 is -63.5 steps: the even -64; row 1 all zero
    float[] w = {1.27f, -0.635f, 0f, 0.01f, 0f, 0f, 0f, 0f};
    try (CpuOps ops = int8(1)) {
      Tensor t = ops.uploadLinear(weight(DType.F32, w, 2, 4));
      CpuInt8Weight q = (CpuInt8Weight) t;
      assertEquals(DType.I8, t.dtype());
      assertArrayEquals(
          new byte[] {127, -64, 0, 1, 0, 0, 0, 0}, q.q.toArray(ValueLayout.JAVA_BYTE));
      assertArrayEquals(
          new float[] {1.27f / 127, 0f}, q.scale.toArray(ValueLayout.JAVA_FLOAT), "scales");
      assertArrayEquals(new int[] {64, 0}, q.qsum.toArray(ValueLayout.JAVA_INT), "row sums");
    }
  }

  @Test
  void theStoredFormatKeepsTheWeightAsItIs() {
    try (CpuOps ops = new CpuOps(1)) {
      Tensor t = ops.uploadLinear(weight(DType.BF16, new float[] {1, 2, 3, 4}, 2, 2));
      assertEquals(DType.BF16, t.dtype());
      assertTrue(t instanceof CpuTensor);
    }
  }

  @Test
  void anUnknownWeightFormatIsRefusedNamingTheValidOnes() {
    var e = assertThrows(IllegalArgumentException.class, () -> WeightFormat.parse("int4"));
    assertEquals(
        "lorastream.cpu.weights=int4 is invalid: use stored (the default) or int8", e.getMessage());
  }

  /**
   * The kernel computes {@code xs[t] · ws[o] · Σ (u − 128) q} exactly in integers: the same float
   * operations in Java give the same bits, for tails of {@code in} (not a multiple of 64), partial
   * row groups, more tokens than one block of 48 and a bias.
   */
  @ParameterizedTest(name = "tokens {0}, in {1}, out {2}, {3}")
  @CsvSource({
    "1, 64, 8, F32",
    "5, 100, 7, BF16",
    "13, 2048, 12, BF16",
    "50, 130, 33, F32",
    "97, 96, 4, BF16"
  })
  void theKernelIsExactIntegerArithmeticOnTheQuantizedOperands(
      int tokens, int in, int out, DType dtype) {
    SplittableRandom rnd = new SplittableRandom(tokens * 31L + in);
    float[] w = random(rnd, out * in, 0.5f);
    float[] x = random(rnd, tokens * in, 3f);
    float[] bias = random(rnd, out, 1f);
    try (CpuOps ops = int8(2)) {
      CpuInt8Weight q = (CpuInt8Weight) ops.uploadLinear(weight(dtype, w, out, in));
      float[] y = matmul(ops, q, x, bias, tokens, in, out);
      byte[] qb = q.q.toArray(ValueLayout.JAVA_BYTE);
      float[] ws = q.scale.toArray(ValueLayout.JAVA_FLOAT);
      float[] expected = new float[tokens * out];
      for (int t = 0; t < tokens; t++) {
        float amax = 0;
        for (int i = 0; i < in; i++) {
          amax = Math.max(amax, Math.abs(x[t * in + i]));
        }
        float xs = amax / 127f;
        float inv = amax > 0 ? 127f / amax : 0f;
        for (int o = 0; o < out; o++) {
          long acc = 0;
          for (int i = 0; i < in; i++) {
            acc += (long) Math.rint(x[t * in + i] * inv) * qb[o * in + i];
          }
          expected[t * out + o] = xs * ws[o] * (float) acc + bias[o];
        }
      }
      assertArrayEquals(expected, y);
    }
  }

  /**
   * Against the F32 product: each weight is within {@code ws/2} of its value and each activation
   * within {@code xs/2}, so {@code |y − y_f32| ≤ Σ_i (|x_i| ws/2 + |w_i| xs/2 + ws xs/4)} plus
   * float rounding; the test holds the kernel to that bound, element by element.
   */
  @Test
  void theErrorAgainstF32StaysWithinTheQuantizationBound() {
    int tokens = 9, in = 1000, out = 40;
    SplittableRandom rnd = new SplittableRandom(7);
    float[] w = random(rnd, out * in, 0.05f);
    float[] x = random(rnd, tokens * in, 2f);
    try (CpuOps ops = int8(2)) {
      CpuInt8Weight q = (CpuInt8Weight) ops.uploadLinear(weight(DType.F32, w, out, in));
      float[] y = matmul(ops, q, x, null, tokens, in, out);
      double worstUse = 0;
      for (int t = 0; t < tokens; t++) {
        double xs = 0;
        for (int i = 0; i < in; i++) {
          xs = Math.max(xs, Math.abs(x[t * in + i]) / 127);
        }
        for (int o = 0; o < out; o++) {
          double ws = q.scale.getAtIndex(ValueLayout.JAVA_FLOAT, o);
          double exact = 0, bound = 0;
          for (int i = 0; i < in; i++) {
            exact += (double) x[t * in + i] * w[o * in + i];
            bound +=
                Math.abs(x[t * in + i]) * ws / 2 + Math.abs(w[o * in + i]) * xs / 2 + ws * xs / 4;
          }
          double err = Math.abs(y[t * out + o] - exact);
          assertTrue(
              err <= bound * 1.001 + 1e-6, "y[" + t + ", " + o + "] off by " + err + " > " + bound);
          worstUse = Math.max(worstUse, err / bound);
        }
      }
      // random errors add in quadrature: far inside the worst-case bound, yet not zero
      assertTrue(worstUse > 0.001 && worstUse < 0.5, "error / bound up to " + worstUse);
    }
  }

  @Test
  void aRowGetsTheSameBitsAloneAsInABatch() {
    int in = 300, out = 21, tokens = 17;
    SplittableRandom rnd = new SplittableRandom(3);
    float[] w = random(rnd, out * in, 0.1f);
    float[] x = random(rnd, tokens * in, 1f);
    try (CpuOps ops = int8(2)) {
      CpuInt8Weight q = (CpuInt8Weight) ops.uploadLinear(weight(DType.BF16, w, out, in));
      float[] all = matmul(ops, q, x, null, tokens, in, out);
      float[] row = new float[in];
      System.arraycopy(x, 11 * in, row, 0, in);
      float[] alone = matmul(ops, q, row, null, 1, in, out);
      float[] inBatch = new float[out];
      System.arraycopy(all, 11 * out, inBatch, 0, out);
      assertArrayEquals(alone, inBatch);
    }
  }

  private static float[] matmul(
      CpuOps ops, Tensor w, float[] x, float[] bias, int tokens, int in, int out) {
    Tensor xt = ops.allocate(DType.F32, tokens, in);
    ops.copyFromHost(x, xt);
    Tensor bt = null;
    if (bias != null) {
      bt = ops.allocate(DType.F32, out);
      ops.copyFromHost(bias, bt);
    }
    Tensor y = ops.allocate(DType.F32, tokens, out);
    ops.matmul(xt, w, bt, y);
    float[] r = new float[tokens * out];
    ops.copyToHost(y, r);
    return r;
  }

  private static float[] random(SplittableRandom rnd, int n, float scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) (rnd.nextDouble() * 2 - 1) * scale;
    }
    return v;
  }

  private static HostTensor weight(DType dtype, float[] values, int... shape) {
    MemorySegment seg = MemorySegment.ofArray(new byte[values.length * dtype.bytes()]);
    for (int i = 0; i < values.length; i++) {
      if (dtype == DType.F32) {
        seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, values[i]);
      } else {
        seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, CpuTensor.toBf16(values[i]));
        values[i] = Float.intBitsToFloat(CpuTensor.toBf16(values[i]) << 16); // what is stored
      }
    }
    return new HostTensor("w", dtype, shape, seg);
  }
}
