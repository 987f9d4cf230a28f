package dev.lorastream.engine.ops.cpu;

import static dev.lorastream.engine.ops.cpu.CpuMatmul.F;
import static dev.lorastream.engine.ops.cpu.CpuMatmul.L;

import dev.lorastream.engine.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * Punica-style LoRA ops for {@link CpuOps}. Shrink is a matmul per segment ({@code x[seg] · a[slot,
 * :rank]ᵀ}, through {@link CpuMatmul}); expand is vectorized over the long {@code out} dimension
 * with the rank loop innermost; bgmv groups equal consecutive row slots into segments and runs
 * shrink then expand. Work items are (segment, token chunk, row group) or (segment, column chunk),
 * so a skewed batch still spreads over all threads. Arguments are already checked by the caller.
 */
final class CpuLora {
  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  /** Tokens of one segment handled by one shrink work item. */
  private static final int TOKEN_CHUNK = Integer.getInteger("lorastream.cpu.lora.tokenChunk", 64);

  /** Output columns handled by one expand work item: a multiple of every vector length. */
  private static final int COLUMN_CHUNK = 256;

  private final CpuParallel pool;
  private final ThreadLocal<CpuMatmul.Scratch> scratch;

  /** Runs on {@code pool}, with the per-thread {@code scratch} of the owning {@link CpuOps}. */
  CpuLora(CpuParallel pool, ThreadLocal<CpuMatmul.Scratch> scratch) {
    this.pool = pool;
    this.scratch = scratch;
  }

  /**
   * v[t, r] = x[t] · a[rowStarts[slot] + r] for r < ranks[slot], 0 elsewhere. x [T, in], a [rows,
   * in], v [T, R].
   */
  void shrink(
      CpuTensor x,
      CpuTensor a,
      int[] ranks,
      int[] rowStarts,
      int[] segStarts,
      int[] segSlots,
      CpuTensor v) {
    int maxRank = v.dim(1);
    int in = a.dim(1);
    boolean bf16 = a.dtype() == DType.BF16;
    v.segment().fill((byte) 0);
    int tokens = x.dim(0);
    // [tokens, in], in the calling thread's scratch (see CpuOps.matmul)
    float[] packed =
        CpuMatmul.pack(x.segment(), 0, in, tokens, in, bf16, scratch.get().packed(tokens * in));
    // Work items: (segment j, token chunk start, row group g), as parallel int arrays.
    int[][] items = new int[3][16];
    int n = 0;
    for (int j = 0; j < segSlots.length; j++) {
      int slot = segSlots[j];
      int rank = slot < 0 ? 0 : ranks[slot];
      for (int t = segStarts[j]; t < segStarts[j + 1] && rank > 0; t += TOKEN_CHUNK) {
        for (int g = 0; g < CpuMatmul.groups(rank); g++) {
          if (n == items[0].length) {
            for (int c = 0; c < 3; c++) {
              items[c] = Arrays.copyOf(items[c], 2 * n);
            }
          }
          items[0][n] = j;
          items[1][n] = t;
          items[2][n++] = g;
        }
      }
    }
    long rowBytes = (long) in * a.dtype().bytes();
    pool.forRange(
        n,
        pool.grain(n, 4),
        (i0, i1) -> {
          CpuMatmul.Scratch s = scratch.get();
          for (int i = i0; i < i1; i++) {
            int j = items[0][i];
            int t0 = items[1][i];
            int nt = Math.min(TOKEN_CHUNK, segStarts[j + 1] - t0);
            int slot = segSlots[j];
            CpuMatmul.Weights w =
                new CpuMatmul.Weights(a.segment(), rowStarts[slot] * rowBytes, bf16, in);
            CpuMatmul.Out out = new CpuMatmul.Out(v.segment(), (long) t0 * maxRank, maxRank, null);
            CpuMatmul.runGroup(w, ranks[slot], items[2][i], packed, t0, nt, out, s);
          }
        });
  }

  /**
   * y[t, :] += Σ_{r < ranks[slot]} v[t, r] · bT[rowStarts[slot] + r, :]. v [T, R], bT [rows, out],
   * y [T, out].
   */
  void expand(
      CpuTensor v,
      CpuTensor bT,
      int[] ranks,
      int[] rowStarts,
      int[] segStarts,
      int[] segSlots,
      CpuTensor y) {
    int maxRank = v.dim(1);
    int out = bT.dim(1);
    int chunks = (out + COLUMN_CHUNK - 1) / COLUMN_CHUNK;
    int items = segSlots.length * chunks;
    MemorySegment vm = v.segment();
    MemorySegment bm = bT.segment();
    MemorySegment ym = y.segment();
    pool.forRange(
        items,
        pool.grain(items, 4),
        (i0, i1) -> {
          for (int i = i0; i < i1; i++) {
            int j = i / chunks;
            int slot = segSlots[j];
            if (slot < 0 || ranks[slot] == 0) {
              continue;
            }
            int c0 = (i % chunks) * COLUMN_CHUNK;
            int c1 = Math.min(out, c0 + COLUMN_CHUNK);
            long slotBase = (long) rowStarts[slot] * out;
            for (int t = segStarts[j]; t < segStarts[j + 1]; t++) {
              expandRow(
                  vm,
                  (long) t * maxRank,
                  ranks[slot],
                  bm,
                  slotBase,
                  out,
                  ym,
                  (long) t * out,
                  c0,
                  c1);
            }
          }
        });
  }

  /** y[yRow + c] += Σ_r v[vRow + r] · bT[slotBase + r * out + c] for columns c in [c0, c1). */
  private static void expandRow(
      MemorySegment v,
      long vRow,
      int rank,
      MemorySegment bT,
      long slotBase,
      int out,
      MemorySegment y,
      long yRow,
      int c0,
      int c1) {
    int ub = c0 + F.loopBound(c1 - c0);
    for (int c = c0; c < ub; c += L) {
      FloatVector acc = FloatVector.fromMemorySegment(F, y, 4 * (yRow + c), LE);
      for (int r = 0; r < rank; r++) {
        FloatVector vr = FloatVector.broadcast(F, v.getAtIndex(CpuTensor.F32_LE, vRow + r));
        acc =
            FloatVector.fromMemorySegment(F, bT, 4 * (slotBase + (long) r * out + c), LE)
                .fma(vr, acc);
      }
      acc.intoMemorySegment(y, 4 * (yRow + c), LE);
    }
    for (int c = ub; c < c1; c++) {
      float acc = y.getAtIndex(CpuTensor.F32_LE, yRow + c);
      for (int r = 0; r < rank; r++) {
        acc +=
            v.getAtIndex(CpuTensor.F32_LE, vRow + r)
                * bT.getAtIndex(CpuTensor.F32_LE, slotBase + (long) r * out + c);
      }
      y.setAtIndex(CpuTensor.F32_LE, yRow + c, acc);
    }
  }

  /**
   * y[t] += x[t] · A(idx[t])ᵀ · B(idx[t]): runs of equal slots become segments of shrink and
   * expand.
   */
  void bgmv(
      CpuTensor x,
      CpuTensor a,
      CpuTensor bT,
      int[] ranks,
      int[] aRows,
      int[] bRows,
      int[] rowSlots,
      CpuTensor y) {
    int tokens = rowSlots.length;
    int[] starts = new int[tokens + 1];
    int[] slots = new int[tokens];
    int segs = 0;
    for (int t = 0; t < tokens; t++) {
      if (segs == 0 || rowSlots[t] != slots[segs - 1]) {
        starts[segs] = t;
        slots[segs++] = rowSlots[t];
      }
    }
    starts[segs] = tokens;
    int[] segStarts = Arrays.copyOf(starts, segs + 1);
    int[] segSlots = Arrays.copyOf(slots, segs);
    int maxRank = 1;
    for (int slot : segSlots) {
      maxRank = slot < 0 ? maxRank : Math.max(maxRank, ranks[slot]);
    }
    CpuTensor v = CpuTensor.zeros(DType.F32, tokens, maxRank); // [T, maxRank]
    shrink(x, a, ranks, aRows, segStarts, segSlots, v);
    expand(v, bT, ranks, bRows, segStarts, segSlots, y);
  }
}
