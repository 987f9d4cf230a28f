package dev.lorastream.engine.ops.cpu;

import static dev.lorastream.engine.ops.cpu.CpuMatmul.F;
import static dev.lorastream.engine.ops.cpu.CpuMatmul.I;
import static dev.lorastream.engine.ops.cpu.CpuMatmul.L;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The register-blocked inner loops of {@link CpuMatmul}. Accumulators are named locals (not arrays)
 * so C2 keeps them in vector registers. All dot products run over packed activations (see {@link
 * CpuMatmul#pack}).
 */
final class CpuKernels {
  private CpuKernels() {}

  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
  private static final int HIGH_HALF = 0xFFFF0000;

  /**
   * sums[r] = Σₖ w[r, k]·x[xo + k] for 4 F32 rows starting at byte {@code row0}, {@code rowBytes}
   * apart.
   */
  static void direct4F32(
      MemorySegment w, long row0, long rowBytes, int in, float[] x, int xo, float[] sums) {
    FloatVector a0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector a2 = FloatVector.zero(F);
    FloatVector a3 = FloatVector.zero(F);
    long r1 = row0 + rowBytes;
    long r2 = r1 + rowBytes;
    long r3 = r2 + rowBytes;
    int ub = F.loopBound(in);
    for (int k = 0; k < ub; k += L) {
      FloatVector xv = FloatVector.fromArray(F, x, xo + k);
      long off = 4L * k;
      a0 = FloatVector.fromMemorySegment(F, w, row0 + off, LE).fma(xv, a0);
      a1 = FloatVector.fromMemorySegment(F, w, r1 + off, LE).fma(xv, a1);
      a2 = FloatVector.fromMemorySegment(F, w, r2 + off, LE).fma(xv, a2);
      a3 = FloatVector.fromMemorySegment(F, w, r3 + off, LE).fma(xv, a3);
    }
    LaneMath.sum4(a0, a1, a2, a3, sums);
    float s0 = sums[0];
    float s1 = sums[1];
    float s2 = sums[2];
    float s3 = sums[3];
    for (int k = ub; k < in; k++) {
      float xk = x[xo + k];
      s0 += w.get(CpuTensor.F32_LE, row0 + 4L * k) * xk;
      s1 += w.get(CpuTensor.F32_LE, r1 + 4L * k) * xk;
      s2 += w.get(CpuTensor.F32_LE, r2 + 4L * k) * xk;
      s3 += w.get(CpuTensor.F32_LE, r3 + 4L * k) * xk;
    }
    sums[0] = s0;
    sums[1] = s1;
    sums[2] = s2;
    sums[3] = s3;
  }

  /** Like {@link #direct4F32} for BF16 rows, decoding in registers (even lanes, then odd lanes). */
  static void direct4Bf16(
      MemorySegment w, long row0, long rowBytes, int in, float[] x, int xo, float[] sums) {
    FloatVector a0 = FloatVector.zero(F);
    FloatVector a1 = FloatVector.zero(F);
    FloatVector a2 = FloatVector.zero(F);
    FloatVector a3 = FloatVector.zero(F);
    FloatVector b0 = FloatVector.zero(F);
    FloatVector b1 = FloatVector.zero(F);
    FloatVector b2 = FloatVector.zero(F);
    FloatVector b3 = FloatVector.zero(F);
    long r1 = row0 + rowBytes;
    long r2 = r1 + rowBytes;
    long r3 = r2 + rowBytes;
    int block = 2 * L;
    int ub = in / block * block;
    for (int k = 0; k < ub; k += block) {
      FloatVector xe = FloatVector.fromArray(F, x, xo + k);
      FloatVector xd = FloatVector.fromArray(F, x, xo + k + L);
      long off = 2L * k;
      IntVector v0 = IntVector.fromMemorySegment(I, w, row0 + off, LE);
      IntVector v1 = IntVector.fromMemorySegment(I, w, r1 + off, LE);
      IntVector v2 = IntVector.fromMemorySegment(I, w, r2 + off, LE);
      IntVector v3 = IntVector.fromMemorySegment(I, w, r3 + off, LE);
      a0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a0);
      a1 = v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a1);
      a2 = v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a2);
      a3 = v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a3);
      b0 = v0.and(HIGH_HALF).reinterpretAsFloats().fma(xd, b0);
      b1 = v1.and(HIGH_HALF).reinterpretAsFloats().fma(xd, b1);
      b2 = v2.and(HIGH_HALF).reinterpretAsFloats().fma(xd, b2);
      b3 = v3.and(HIGH_HALF).reinterpretAsFloats().fma(xd, b3);
    }
    LaneMath.sum4(a0.add(b0), a1.add(b1), a2.add(b2), a3.add(b3), sums);
    float s0 = sums[0];
    float s1 = sums[1];
    float s2 = sums[2];
    float s3 = sums[3];
    for (int k = ub; k < in; k++) { // the tail is in natural order
      float xk = x[xo + k];
      s0 += bf16(w, row0, k) * xk;
      s1 += bf16(w, r1, k) * xk;
      s2 += bf16(w, r2, k) * xk;
      s3 += bf16(w, r3, k) * xk;
    }
    sums[0] = s0;
    sums[1] = s1;
    sums[2] = s2;
    sums[3] = s3;
  }

  private static float bf16(MemorySegment w, long row, int k) {
    return Float.intBitsToFloat(w.get(CpuTensor.I16_LE, row + 2L * k) << 16);
  }

  /** Decodes {@code n} bf16 values at byte {@code from} into {@code dst[at..]}, in packed order. */
  static void decodeBf16(MemorySegment w, long from, int n, float[] dst, int at) {
    int block = 2 * L;
    int ub = n / block * block;
    for (int k = 0; k < ub; k += block) {
      IntVector v = IntVector.fromMemorySegment(I, w, from + 2L * k, LE);
      v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, at + k);
      v.and(HIGH_HALF).reinterpretAsFloats().intoArray(dst, at + k + L);
    }
    for (int k = ub; k < n; k++) {
      dst[at + k] = bf16(w, from, k);
    }
  }

  /**
   * acc[r][j] += w[r, :kl] · x[j, :kl] for 4 tile rows (w row r at {@code r * kl}) and 4 tokens (x
   * row j at {@code xo + j * xs}); acc[r][j] is the L-lane vector at {@code ao + r * as + j * L}.
   * Scalar tails go into lane 0.
   */
  static void tile4x4(float[] w, int kl, float[] x, int xo, int xs, float[] acc, int ao, int as) {
    int w1 = kl;
    int w2 = 2 * kl;
    int w3 = 3 * kl;
    int x1 = xo + xs;
    int x2 = x1 + xs;
    int x3 = x2 + xs;
    int c1 = ao + as;
    int c2 = c1 + as;
    int c3 = c2 + as;
    FloatVector c00 = FloatVector.fromArray(F, acc, ao);
    FloatVector c01 = FloatVector.fromArray(F, acc, ao + L);
    FloatVector c02 = FloatVector.fromArray(F, acc, ao + 2 * L);
    FloatVector c03 = FloatVector.fromArray(F, acc, ao + 3 * L);
    FloatVector c10 = FloatVector.fromArray(F, acc, c1);
    FloatVector c11 = FloatVector.fromArray(F, acc, c1 + L);
    FloatVector c12 = FloatVector.fromArray(F, acc, c1 + 2 * L);
    FloatVector c13 = FloatVector.fromArray(F, acc, c1 + 3 * L);
    FloatVector c20 = FloatVector.fromArray(F, acc, c2);
    FloatVector c21 = FloatVector.fromArray(F, acc, c2 + L);
    FloatVector c22 = FloatVector.fromArray(F, acc, c2 + 2 * L);
    FloatVector c23 = FloatVector.fromArray(F, acc, c2 + 3 * L);
    FloatVector c30 = FloatVector.fromArray(F, acc, c3);
    FloatVector c31 = FloatVector.fromArray(F, acc, c3 + L);
    FloatVector c32 = FloatVector.fromArray(F, acc, c3 + 2 * L);
    FloatVector c33 = FloatVector.fromArray(F, acc, c3 + 3 * L);
    int ub = F.loopBound(kl);
    for (int k = 0; k < ub; k += L) {
      FloatVector v0 = FloatVector.fromArray(F, w, k);
      FloatVector v1 = FloatVector.fromArray(F, w, w1 + k);
      FloatVector v2 = FloatVector.fromArray(F, w, w2 + k);
      FloatVector v3 = FloatVector.fromArray(F, w, w3 + k);
      FloatVector xv = FloatVector.fromArray(F, x, xo + k);
      c00 = v0.fma(xv, c00);
      c10 = v1.fma(xv, c10);
      c20 = v2.fma(xv, c20);
      c30 = v3.fma(xv, c30);
      xv = FloatVector.fromArray(F, x, x1 + k);
      c01 = v0.fma(xv, c01);
      c11 = v1.fma(xv, c11);
      c21 = v2.fma(xv, c21);
      c31 = v3.fma(xv, c31);
      xv = FloatVector.fromArray(F, x, x2 + k);
      c02 = v0.fma(xv, c02);
      c12 = v1.fma(xv, c12);
      c22 = v2.fma(xv, c22);
      c32 = v3.fma(xv, c32);
      xv = FloatVector.fromArray(F, x, x3 + k);
      c03 = v0.fma(xv, c03);
      c13 = v1.fma(xv, c13);
      c23 = v2.fma(xv, c23);
      c33 = v3.fma(xv, c33);
    }
    c00.intoArray(acc, ao);
    c01.intoArray(acc, ao + L);
    c02.intoArray(acc, ao + 2 * L);
    c03.intoArray(acc, ao + 3 * L);
    c10.intoArray(acc, c1);
    c11.intoArray(acc, c1 + L);
    c12.intoArray(acc, c1 + 2 * L);
    c13.intoArray(acc, c1 + 3 * L);
    c20.intoArray(acc, c2);
    c21.intoArray(acc, c2 + L);
    c22.intoArray(acc, c2 + 2 * L);
    c23.intoArray(acc, c2 + 3 * L);
    c30.intoArray(acc, c3);
    c31.intoArray(acc, c3 + L);
    c32.intoArray(acc, c3 + 2 * L);
    c33.intoArray(acc, c3 + 3 * L);
    for (int k = ub; k < kl; k++) {
      for (int r = 0; r < 4; r++) {
        for (int j = 0; j < 4; j++) {
          acc[ao + r * as + j * L] += w[r * kl + k] * x[xo + j * xs + k];
        }
      }
    }
  }

  /** {@link #tile4x4} for one token. */
  static void tile4x1(float[] w, int kl, float[] x, int xo, float[] acc, int ao, int as) {
    FloatVector c0 = FloatVector.fromArray(F, acc, ao);
    FloatVector c1 = FloatVector.fromArray(F, acc, ao + as);
    FloatVector c2 = FloatVector.fromArray(F, acc, ao + 2 * as);
    FloatVector c3 = FloatVector.fromArray(F, acc, ao + 3 * as);
    int ub = F.loopBound(kl);
    for (int k = 0; k < ub; k += L) {
      FloatVector xv = FloatVector.fromArray(F, x, xo + k);
      c0 = FloatVector.fromArray(F, w, k).fma(xv, c0);
      c1 = FloatVector.fromArray(F, w, kl + k).fma(xv, c1);
      c2 = FloatVector.fromArray(F, w, 2 * kl + k).fma(xv, c2);
      c3 = FloatVector.fromArray(F, w, 3 * kl + k).fma(xv, c3);
    }
    c0.intoArray(acc, ao);
    c1.intoArray(acc, ao + as);
    c2.intoArray(acc, ao + 2 * as);
    c3.intoArray(acc, ao + 3 * as);
    for (int k = ub; k < kl; k++) {
      for (int r = 0; r < 4; r++) {
        acc[ao + r * as] += w[r * kl + k] * x[xo + k];
      }
    }
  }
}
