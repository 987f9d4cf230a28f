package dev.lorastream.engine.ops.cpu;

import static dev.lorastream.engine.ops.cpu.CpuMatmul.F;
import static dev.lorastream.engine.ops.cpu.CpuMatmul.L;

import java.util.function.IntPredicate;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;

/**
 * Vector operations with one result in every execution tier, for the CPU backend's kernels.
 *
 * <p>Why. The Vector API leaves some float results to the implementation: {@code reduceLanes(ADD)}
 * may add the lanes in any order, and {@code lanewise(EXP)} may come from a vector math library.
 * HotSpot's interpreter and C1 run the API's Java fallback (lanes added 0, 1, 2, ... in turn;
 * {@code (float) Math.exp} per lane), C2 runs intrinsics (another order; SVML), so a cold process
 * and a warm one computed different bits for the same input (about half of all matmul outputs), and
 * greedy or seeded sampling could pick a different token near a tie after a restart.
 *
 * <p>How. Everything here is lanewise add, mul, fma, min and max, integer arithmetic, fixed lane
 * rearranges and blends, whose results Java defines exactly (IEEE 754, one rounding per operation,
 * no contraction). Stateless and thread-safe.
 */
final class LaneMath {
  private LaneMath() {}

  // Rotations left: lane i of v.rearrange(ROT_k) is lane (i + k) mod L of v. L is at most 64
  // (2048-bit SVE).
  private static final VectorShuffle<Float> ROT_32 = rotation(32);
  private static final VectorShuffle<Float> ROT_16 = rotation(16);
  private static final VectorShuffle<Float> ROT_8 = rotation(8);
  private static final VectorShuffle<Float> ROT_4 = rotation(4);
  private static final VectorShuffle<Float> ROT_2 = rotation(2);
  private static final VectorShuffle<Float> ROT_1 = rotation(1);
  private static final VectorShuffle<Float> ROT_HALF = rotation(L / 2);
  private static final VectorShuffle<Float> ROT_QUARTER = rotation(L / 4);
  private static final VectorShuffle<Float> ROT_QUARTER_BACK = rotation(3 * L / 4);

  /** Lanes [L/2, L). */
  private static final VectorMask<Float> HIGH_HALF = mask(i -> i >= L / 2);

  /** Lanes [L/4, L/2) and [3L/4, L). */
  private static final VectorMask<Float> ODD_QUARTERS = mask(i -> i / Math.max(1, L / 4) % 2 == 1);

  private static VectorShuffle<Float> rotation(int k) {
    return VectorShuffle.iota(F, k % L, 1, true);
  }

  private static VectorMask<Float> mask(IntPredicate lane) {
    boolean[] bits = new boolean[L];
    for (int i = 0; i < L; i++) {
      bits[i] = lane.test(i);
    }
    return VectorMask.fromArray(F, bits, 0);
  }

  /**
   * Σ lanes of {@code v} as a fixed pairwise tree: lane i plus lane i + L/2, those sums pairwise
   * again at distance L/4, and so on (for 16 lanes: ((v0+v8)+(v4+v12)) + ((v2+v10)+(v6+v14)) +
   * ...). About as fast as {@code reduceLanes(ADD)} once compiled: log2(L) rotations and adds.
   */
  static float sum(FloatVector v) {
    if (L >= 64) {
      v = v.add(v.rearrange(ROT_32));
    }
    if (L >= 32) {
      v = v.add(v.rearrange(ROT_16));
    }
    if (L >= 16) {
      v = v.add(v.rearrange(ROT_8));
    }
    if (L >= 8) {
      v = v.add(v.rearrange(ROT_4));
    }
    if (L >= 4) {
      v = v.add(v.rearrange(ROT_2));
    }
    if (L >= 2) {
      v = v.add(v.rearrange(ROT_1));
    }
    return v.lane(0);
  }

  /**
   * {@code sums[i] = }{@link #sum}{@code (ai)} for four vectors, bit for bit, with half the
   * rotations: the four trees share vectors once each has fewer than L partial sums left. For the
   * 4-row matmul kernels, where four separate sums would also make C2 stop inlining (node count)
   * and box the vectors.
   */
  static void sum4(FloatVector a0, FloatVector a1, FloatVector a2, FloatVector a3, float[] sums) {
    if (L < 4) {
      sums[0] = sum(a0);
      sums[1] = sum(a1);
      sums[2] = sum(a2);
      sums[3] = sum(a3);
      return;
    }
    // Distance L/2: a0's pair sums in the low half, a1's in the high half (there the rotation
    // wraps: the same
    // sums with operands swapped, and + commutes exactly); a2 and a3 likewise.
    FloatVector m01 =
        a0.add(a0.rearrange(ROT_HALF)).blend(a1.add(a1.rearrange(ROT_HALF)), HIGH_HALF);
    FloatVector m23 =
        a2.add(a2.rearrange(ROT_HALF)).blend(a3.add(a3.rearrange(ROT_HALF)), HIGH_HALF);
    // Distance L/4, left in m01 and right in m23, so that quarters 0, 1, 2, 3 hold a0's, a2's, a1's
    // and a3's
    // partial sums.
    FloatVector m =
        m01.add(m01.rearrange(ROT_QUARTER))
            .blend(m23.add(m23.rearrange(ROT_QUARTER_BACK)), ODD_QUARTERS);
    // Distances L/8, ..., 1 within each quarter.
    if (L >= 64) {
      m = m.add(m.rearrange(ROT_8));
    }
    if (L >= 32) {
      m = m.add(m.rearrange(ROT_4));
    }
    if (L >= 16) {
      m = m.add(m.rearrange(ROT_2));
    }
    if (L >= 8) {
      m = m.add(m.rearrange(ROT_1));
    }
    sums[0] = m.lane(0);
    sums[1] = m.lane(L / 2);
    sums[2] = m.lane(L / 4);
    sums[3] = m.lane(3 * L / 4);
  }

  // exp: e^x = 2^n · e^r with n = round(x / ln 2), r = x − n·ln 2 in [−ln2/2, ln2/2] (Cephes expf).
  private static final float EXP_LO = -104f; // below: e^x rounds to 0 anyway (2^-150)
  private static final float EXP_HI = 89f; // above: e^x overflows to +inf anyway (n = 128)
  private static final float LOG2E = 1.44269504088896341f;
  private static final float LN2_HI = 0.693359375f; // 355/512: n · LN2_HI is exact
  private static final float LN2_LO = -2.12194440e-4f; // ln 2 − LN2_HI

  /**
   * 1.5 · 2²³: adding it rounds a float of magnitude < 2²² to an integer, kept in the low mantissa
   * bits.
   */
  private static final float ROUND = 12582912f;

  private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);

  /**
   * e^x per lane, within 1 ulp (Cephes' expf polynomial): +inf above ~88.72, 0 or subnormal below
   * ~−87.3, NaN for NaN. Replaces {@code lanewise(EXP)}, whose bits differ between C2 (SVML) and
   * the Java fallback.
   */
  static FloatVector exp(FloatVector x) {
    FloatVector c = x.max(EXP_LO).min(EXP_HI);
    FloatVector t = c.fma(LOG2E, ROUND); // ROUND + n
    FloatVector n = t.sub(ROUND);
    FloatVector r1 = n.lanewise(VectorOperators.FMA, -LN2_HI, c); // c − n·LN2_HI, exact
    FloatVector r = n.lanewise(VectorOperators.FMA, -LN2_LO, r1);
    FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
    p = p.lanewise(VectorOperators.FMA, r, 8.3334519073e-3f);
    p = p.lanewise(VectorOperators.FMA, r, 4.1665795894e-2f);
    p = p.lanewise(VectorOperators.FMA, r, 1.6666665459e-1f);
    p = p.lanewise(VectorOperators.FMA, r, 5.0000001201e-1f);
    FloatVector er = p.fma(r.mul(r), r).add(1f); // e^r = 1 + r + r²·p(r)
    // 2^n as two normal powers 2^h · 2^(n−h), h = n >> 1, so n in [−150, 128] needs no special
    // case.
    IntVector ni = t.reinterpretAsInts().sub(ROUND_BITS);
    IntVector h = ni.lanewise(VectorOperators.ASHR, 1);
    FloatVector s1 = h.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
    FloatVector s2 = ni.sub(h).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
    return er.mul(s1).mul(s2);
  }
}
