package dev.lorastream.engine.ops.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The matmul core: {@code y[t, o] = Σᵢ x[t, i]·w[o, i] (+ bias[o])} for one group of 4 weight rows
 * and a range of token rows. {@code matmul} and {@code sgmvShrink} are loops over such groups.
 *
 * <p>Memory plan. Decode ({@code T <= DIRECT_TOKENS}) is bandwidth bound: each group streams its 4
 * weight rows straight from the (mapped) weight memory once per token, the extra tokens re-reading
 * them from L1/L2. For more tokens the group walks {@code in} in blocks of {@link #K_BLOCK}: the 4
 * weight rows of one block are decoded once into an F32 scratch tile (4 × K_BLOCK floats, in L1)
 * and multiplied with every token by a 4-rows × 4-tokens register-blocked kernel (16 vector
 * accumulators, kept unreduced in an array between blocks). So every weight byte is read from
 * memory exactly once per call whatever T is.
 *
 * <p>BF16. A 32-bit lane holds two bf16 values: {@code lane << 16} is the even element and {@code
 * lane & 0xFFFF0000} the odd one, each already a valid float. So an int vector of {@code 2L} bf16
 * values decodes with one shift and one and into "even elements, then odd elements". Instead of
 * shuffling the weights back, the activations are packed once per call in the same order ({@link
 * #pack}); a dot product does not care about the order of its terms.
 */
final class CpuMatmul {
  private CpuMatmul() {}

  static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
  static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
  static final int L = F.length();

  /** bf16 elements decoded from one int vector. */
  static final int BF16_BLOCK = 2 * L;

  /** Elements of {@code in} per scratch tile; a multiple of {@link #BF16_BLOCK}. */
  static final int K_BLOCK =
      Math.max(1, Integer.getInteger("lorastream.cpu.matmul.kBlock", 512) / BF16_BLOCK)
          * BF16_BLOCK;

  /**
   * Up to this many tokens a group reads weights straight from memory instead of a scratch tile.
   */
  static final int DIRECT_TOKENS = Integer.getInteger("lorastream.cpu.matmul.directTokens", 3);

  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  /**
   * A weight matrix {@code [rows, in]} inside {@code seg} starting at byte {@code base}; F32 or
   * BF16.
   */
  record Weights(MemorySegment seg, long base, boolean bf16, int in) {
    long rowByte(int row) {
      return base + (long) row * in * (bf16 ? 2 : 4);
    }

    float get(int row, int i) {
      long at = rowByte(row);
      return bf16
          ? Float.intBitsToFloat(seg.get(CpuTensor.I16_LE, at + 2L * i) << 16)
          : seg.get(CpuTensor.F32_LE, at + 4L * i);
    }
  }

  /**
   * Where results go: y[(t) * stride + col0 + o] for token t of the range and weight row o, plus
   * bias[o].
   */
  record Out(MemorySegment seg, long base, int stride, float[] bias) {
    void put(int t, int o, float v) {
      seg.setAtIndex(
          CpuTensor.F32_LE, base + (long) t * stride + o, bias == null ? v : v + bias[o]);
    }
  }

  /**
   * One thread's scratch, owned by a {@link CpuOps} and reused by every call it makes on that
   * thread: the packed activations of the calls this thread makes ({@code packed}, written before a
   * parallel loop and only read during it), and the decoded weight tile and unreduced accumulators
   * of the row groups this thread runs. Buffers grow to the largest call seen and are then reused,
   * so steady-state calls allocate nothing here. Not thread-safe: one thread at a time.
   */
  static final class Scratch {
    final float[] tile = new float[4 * K_BLOCK]; // [4 rows, K_BLOCK]
    private float[] packed =
        new float[0]; // [tokens, in], packed order, of the latest call; may be longer
    private float[] acc = new float[0]; // [4 rows, nt tokens, L lanes]
    final float[] sums = new float[4]; // [4 rows]
    private java.lang.foreign.MemorySegment bf16 =
        java.lang.foreign.MemorySegment.NULL; // the native bf16dot's packed activations

    private java.lang.foreign.MemorySegment scores =
        java.lang.foreign.MemorySegment.NULL; // the native attention's softmax row

    private java.lang.foreign.MemorySegment u8 =
        java.lang.foreign.MemorySegment.NULL; // the int8 kernel's quantized activations and scales

    /**
     * A native buffer of at least {@code bytes} for the native {@code ls_pack_u8} (activations and
     * their per-token scales); its contents are not cleared.
     */
    java.lang.foreign.MemorySegment u8(long bytes) {
      return u8 = atLeast(u8, bytes);
    }

    private java.lang.foreign.MemorySegment amx =
        java.lang.foreign.MemorySegment.NULL; // the AMX kernel's packed activation tiles

    /** A native buffer of at least {@code bytes}, 64-byte aligned, for {@code ls_matmul_amx}. */
    java.lang.foreign.MemorySegment amx(long bytes) {
      return amx = atLeast(amx, bytes);
    }

    /** A native buffer of at least {@code n} floats for the native attention's scores. */
    java.lang.foreign.MemorySegment scores(long n) {
      return scores = atLeast(scores, 4 * n);
    }

    /**
     * A native buffer of at least {@code n} BF16 values for the native {@code ls_pack_bf16}; its
     * contents are not cleared.
     */
    java.lang.foreign.MemorySegment bf16(long n) {
      return bf16 = atLeast(bf16, 2 * n);
    }

    /**
     * {@code seg} when it holds {@code bytes}, else a new 64-byte aligned native buffer of twice
     * that (at least 256 bytes) freed by the GC, so that a growing size reallocates rarely.
     */
    private static java.lang.foreign.MemorySegment atLeast(
        java.lang.foreign.MemorySegment seg, long bytes) {
      return seg.byteSize() >= bytes
          ? seg
          : java.lang.foreign.Arena.ofAuto().allocate(Math.max(256, 2 * bytes), 64);
    }

    /** A buffer of at least {@code n} floats for {@link #pack}; its contents are not cleared. */
    float[] packed(int n) {
      if (packed.length < n) {
        packed = new float[n];
      }
      return packed;
    }

    /** The first {@code n} accumulators, zeroed. */
    float[] acc(int n) {
      if (acc.length < n) {
        acc = new float[n];
      }
      java.util.Arrays.fill(acc, 0, n, 0f);
      return acc;
    }
  }

  /**
   * Packs rows of x (F32, {@code tokens × in}, row {@code t} at float index {@code base + t *
   * stride}) into the first {@code tokens × in} floats of {@code xs} ({@code [tokens, in]}), in the
   * BF16 element order when {@code bf16}; returns {@code xs}. Every one of those floats is written;
   * the rest of {@code xs} is untouched.
   */
  static float[] pack(
      MemorySegment x, long base, int stride, int tokens, int in, boolean bf16, float[] xs) {
    int full = bf16 ? in / BF16_BLOCK * BF16_BLOCK : 0;
    for (int t = 0; t < tokens; t++) {
      long row = (base + (long) t * stride) * 4;
      int dst = t * in;
      for (int b = 0; b < full; b += BF16_BLOCK) {
        for (int j = 0; j < L; j++) {
          xs[dst + b + j] = x.get(CpuTensor.F32_LE, row + 4L * (b + 2 * j));
          xs[dst + b + L + j] = x.get(CpuTensor.F32_LE, row + 4L * (b + 2 * j + 1));
        }
      }
      MemorySegment.copy(x, CpuTensor.F32_LE, row + 4L * full, xs, dst + full, in - full);
    }
    return xs;
  }

  /** The natural index of packed position {@code p} (identity for F32). */
  static int natural(int p, int in, boolean bf16) {
    if (!bf16 || p >= in / BF16_BLOCK * BF16_BLOCK) {
      return p;
    }
    int b = p - p % BF16_BLOCK;
    int j = p % BF16_BLOCK;
    return j < L ? b + 2 * j : b + 2 * (j - L) + 1;
  }

  /**
   * Rows {@code [o0, o0+4)} of w times packed tokens {@code [t0, t0+nt)} of xs, written to {@code
   * out} (token index relative to t0). Needs {@code o0 + 4 <= rows}.
   */
  static void group(Weights w, int o0, float[] xs, int t0, int nt, Out out, Scratch s) {
    int in = w.in();
    if (nt <= DIRECT_TOKENS) {
      for (int t = 0; t < nt; t++) {
        int xo = (t0 + t) * in;
        if (w.bf16()) {
          CpuKernels.direct4Bf16(w.seg(), w.rowByte(o0), (long) in * 2, in, xs, xo, s.sums);
        } else {
          CpuKernels.direct4F32(w.seg(), w.rowByte(o0), (long) in * 4, in, xs, xo, s.sums);
        }
        for (int r = 0; r < 4; r++) {
          out.put(t, o0 + r, s.sums[r]);
        }
      }
      return;
    }
    int rowStride = nt * L; // acc: [4 rows][nt tokens][L lanes]
    float[] acc = s.acc(4 * rowStride);
    float[] tile = s.tile;
    for (int k0 = 0; k0 < in; k0 += K_BLOCK) {
      int kl = Math.min(K_BLOCK, in - k0);
      for (int r = 0; r < 4; r++) {
        long from = w.rowByte(o0 + r) + (long) k0 * (w.bf16() ? 2 : 4);
        if (w.bf16()) {
          CpuKernels.decodeBf16(w.seg(), from, kl, tile, r * kl);
        } else {
          MemorySegment.copy(w.seg(), CpuTensor.F32_LE, from, tile, r * kl, kl);
        }
      }
      int t = 0;
      for (; t + 4 <= nt; t += 4) {
        CpuKernels.tile4x4(tile, kl, xs, (t0 + t) * in + k0, in, acc, t * L, rowStride);
      }
      for (; t < nt; t++) {
        CpuKernels.tile4x1(tile, kl, xs, (t0 + t) * in + k0, acc, t * L, rowStride);
      }
    }
    for (int t = 0; t < nt; t++) {
      LaneMath.sum4(
          FloatVector.fromArray(F, acc, t * L),
          FloatVector.fromArray(F, acc, rowStride + t * L),
          FloatVector.fromArray(F, acc, 2 * rowStride + t * L),
          FloatVector.fromArray(F, acc, 3 * rowStride + t * L),
          s.sums);
      for (int r = 0; r < 4; r++) {
        out.put(t, o0 + r, s.sums[r]);
      }
    }
  }

  /** Rows {@code [o0, o1)} one scalar dot at a time: for matrices with fewer than 4 rows. */
  static void scalarRows(Weights w, int o0, int o1, float[] xs, int t0, int nt, Out out) {
    int in = w.in();
    for (int o = o0; o < o1; o++) {
      for (int t = 0; t < nt; t++) {
        float sum = 0;
        for (int p = 0; p < in; p++) {
          sum += xs[(t0 + t) * in + p] * w.get(o, natural(p, in, w.bf16()));
        }
        out.put(t, o, sum);
      }
    }
  }

  /**
   * All rows of a {@code [rows, in]} matrix for tokens {@code [t0, t0+nt)}: runs group {@code g} of
   * {@link #groups}(rows). Groups are 4 rows; the last one is shifted back to end at {@code rows}
   * (its overlap recomputes identical values), so there are no row tails unless rows < 4.
   */
  static void runGroup(Weights w, int rows, int g, float[] xs, int t0, int nt, Out out, Scratch s) {
    if (rows < 4) {
      scalarRows(w, 0, rows, xs, t0, nt, out);
    } else {
      group(w, Math.min(4 * g, rows - 4), xs, t0, nt, out, s);
    }
  }

  /** Number of row groups {@link #runGroup} expects for a matrix of {@code rows} rows. */
  static int groups(int rows) {
    return rows == 0 ? 0 : rows < 4 ? 1 : (rows + 3) / 4;
  }
}
