package dev.lorastream.engine.ops.cpu;

import static dev.lorastream.engine.ops.cpu.CpuMatmul.F;
import static dev.lorastream.engine.ops.cpu.CpuMatmul.L;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * {@link LaneMath} computes what its documentation says, bit for bit where it promises an order.
 * That the bits are also the same in every JIT tier is {@code CpuOpsTierDeterminismTest}'s job.
 */
class LaneMathTest {
  /** Lanes of mixed magnitudes, so that a different summation order gives different bits. */
  private static float[] lanes(SplittableRandom rnd) {
    float[] v = new float[L];
    for (int i = 0; i < L; i++) {
      v[i] = (float) ((rnd.nextDouble() - 0.5) * Math.pow(10, rnd.nextInt(5)));
    }
    return v;
  }

  /** The documented tree in scalar code: lane i += lane i + d for d = L/2, L/4, ..., 1. */
  private static float pairwiseTree(float[] lanes) {
    float[] t = lanes.clone();
    for (int d = L / 2; d > 0; d /= 2) {
      for (int i = 0; i < d; i++) {
        t[i] = t[i] + t[i + d];
      }
    }
    return t[0];
  }

  @Test
  void sumIsThePairwiseTree() {
    SplittableRandom rnd = new SplittableRandom(1);
    int differsFromSequential = 0;
    for (int n = 0; n < 2000; n++) {
      float[] v = lanes(rnd);
      float expected = pairwiseTree(v);
      assertEquals(
          Float.floatToRawIntBits(expected),
          Float.floatToRawIntBits(LaneMath.sum(FloatVector.fromArray(F, v, 0))),
          () -> "sum of " + java.util.Arrays.toString(v));
      float sequential = 0;
      for (float x : v) {
        sequential += x;
      }
      differsFromSequential += sequential != expected ? 1 : 0;
    }
    assertTrue(
        L < 4 || differsFromSequential > 100, "inputs too tame to tell summation orders apart");
  }

  @Test
  void sum4IsFourSums() {
    SplittableRandom rnd = new SplittableRandom(2);
    float[] sums = new float[4];
    for (int n = 0; n < 2000; n++) {
      FloatVector[] a = new FloatVector[4];
      for (int i = 0; i < 4; i++) {
        a[i] = FloatVector.fromArray(F, lanes(rnd), 0);
      }
      LaneMath.sum4(a[0], a[1], a[2], a[3], sums);
      for (int i = 0; i < 4; i++) {
        assertEquals(
            Float.floatToRawIntBits(LaneMath.sum(a[i])),
            Float.floatToRawIntBits(sums[i]),
            "sums[" + i + "]");
      }
    }
  }

  @Test
  void expIsWithinOneUlpOfMathExpIncludingOverflowAndUnderflow() {
    float[] in = new float[L];
    float[] out = new float[L];
    int k = 0;
    double worstUlp = 0;
    for (float x = -110f; x < 95f; x = Math.nextUp(x + 1e-3f * Math.max(1f, Math.abs(x)))) {
      in[k++] = x;
      if (k == L) {
        LaneMath.exp(FloatVector.fromArray(F, in, 0)).intoArray(out, 0);
        for (int i = 0; i < L; i++) {
          double exact = Math.exp(in[i]);
          double ulp =
              Math.ulp((float) exact); // the float spacing there, subnormal and infinite included
          double err =
              Float.isInfinite((float) exact)
                  ? (out[i] == Float.POSITIVE_INFINITY ? 0 : 99)
                  : Math.abs(out[i] - exact) / ulp;
          float at = in[i];
          float got = out[i];
          assertTrue(err <= 1, () -> "exp(" + at + ") = " + got + ", Math.exp " + exact);
          worstUlp = Math.max(worstUlp, err);
        }
        k = 0;
      }
    }
    float[] special = {
      Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 88.73f, -104.5f, 1f
    };
    float[] expected = {
      Float.NaN, Float.POSITIVE_INFINITY, 0f, 1f, 1f, Float.POSITIVE_INFINITY, 0f, 2.7182817f
    };
    for (int i = 0; i < special.length; i += L) {
      int n = Math.min(L, special.length - i);
      java.util.Arrays.fill(in, 0f);
      System.arraycopy(special, i, in, 0, n);
      LaneMath.exp(FloatVector.fromArray(F, in, 0)).intoArray(out, 0);
      for (int j = 0; j < n; j++) {
        assertEquals(expected[i + j], out[j], "exp(" + special[i + j] + ")");
      }
    }
  }
}
