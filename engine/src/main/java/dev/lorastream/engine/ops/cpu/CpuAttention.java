package dev.lorastream.engine.ops.cpu;

import static dev.lorastream.engine.ops.cpu.CpuMatmul.F;
import static dev.lorastream.engine.ops.cpu.CpuMatmul.L;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;

/**
 * Rotary embedding and paged attention for {@link CpuOps}, vectorized over the head dimension.
 * Arguments are already checked by the caller.
 */
final class CpuAttention {
  private CpuAttention() {}

  private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

  /** Per-thread buffers: attention scores and one head's output accumulator. */
  private static final class Scratch {
    float[] scores = new float[256];
    float[] acc = new float[128];
    float[] cos = new float[64];
    float[] sin = new float[64];
  }

  private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

  /**
   * Rotate-half RoPE on q [T, nHeads*headDim] and k [T, nKv*headDim], in place; parallel over
   * tokens.
   */
  static void rope(
      CpuParallel pool, CpuTensor q, CpuTensor k, int[] positions, float[] invFreq, int headDim) {
    int half = headDim / 2;
    pool.forRange(
        positions.length,
        pool.grain(positions.length, 2),
        (t0, t1) -> {
          Scratch s = SCRATCH.get();
          if (s.cos.length < half) {
            s.cos = new float[half];
            s.sin = new float[half];
          }
          for (int t = t0; t < t1; t++) {
            for (int i = 0; i < half; i++) {
              float angle = positions[t] * invFreq[i]; // fp32, as the interface specifies
              s.cos[i] = (float) Math.cos(angle);
              s.sin[i] = (float) Math.sin(angle);
            }
            rotateRow(q.segment(), t, q.dim(1), headDim, s.cos, s.sin);
            rotateRow(k.segment(), t, k.dim(1), headDim, s.cos, s.sin);
          }
        });
  }

  private static void rotateRow(
      MemorySegment x, int t, int width, int headDim, float[] cos, float[] sin) {
    int half = headDim / 2;
    int ub = F.loopBound(half);
    for (int head = 0; head < width / headDim; head++) {
      long lo = ((long) t * width + (long) head * headDim) * 4;
      long hi = lo + 4L * half;
      for (int i = 0; i < ub; i += L) {
        FloatVector x0 = FloatVector.fromMemorySegment(F, x, lo + 4L * i, LE);
        FloatVector x1 = FloatVector.fromMemorySegment(F, x, hi + 4L * i, LE);
        FloatVector c = FloatVector.fromArray(F, cos, i);
        FloatVector s = FloatVector.fromArray(F, sin, i);
        x0.mul(c).sub(x1.mul(s)).intoMemorySegment(x, lo + 4L * i, LE);
        x1.mul(c).add(x0.mul(s)).intoMemorySegment(x, hi + 4L * i, LE);
      }
      for (int i = ub; i < half; i++) {
        float x0 = x.get(CpuTensor.F32_LE, lo + 4L * i);
        float x1 = x.get(CpuTensor.F32_LE, hi + 4L * i);
        x.set(CpuTensor.F32_LE, lo + 4L * i, x0 * cos[i] - x1 * sin[i]);
        x.set(CpuTensor.F32_LE, hi + 4L * i, x1 * cos[i] + x0 * sin[i]);
      }
    }
  }

  /**
   * Two-pass softmax attention per (token, query head), parallel over tokens × heads: scores
   * q·k·scale for positions 0..tokenPos[t], then their softmax weights times V.
   */
  static void attend(
      CpuParallel pool,
      CpuTensor q,
      CpuTensor kCache,
      CpuTensor vCache,
      int[] blockTables,
      int maxBlocksPerSeq,
      int[] tokenSeq,
      int[] tokenPos,
      int nHeads,
      float scale,
      CpuTensor out) {
    int blockSize = kCache.dim(1);
    int nKv = kCache.dim(2);
    int headDim = kCache.dim(3);
    int group = nHeads / nKv;
    int items = tokenSeq.length * nHeads;
    pool.forRange(
        items,
        pool.grain(items, 4),
        (i0, i1) -> {
          Scratch s = SCRATCH.get();
          for (int item = i0; item < i1; item++) {
            int t = item / nHeads;
            int h = item % nHeads;
            int len = tokenPos[t] + 1;
            if (s.scores.length < len) {
              s.scores = new float[Math.max(len, 2 * s.scores.length)];
            }
            if (s.acc.length < headDim) {
              s.acc = new float[headDim];
            }
            long qRow = ((long) t * nHeads + h) * headDim * 4;
            int tableRow = tokenSeq[t] * maxBlocksPerSeq;
            int kvHead = h / group;
            float max = Float.NEGATIVE_INFINITY;
            for (int p = 0; p < len; p++) {
              long kRow =
                  cacheRow(
                      blockTables[tableRow + p / blockSize],
                      p % blockSize,
                      blockSize,
                      nKv,
                      kvHead,
                      headDim);
              float score = dot(q.segment(), qRow, kCache.segment(), kRow, headDim) * scale;
              s.scores[p] = score;
              max = Math.max(max, score);
            }
            float sum = 0;
            for (int p = 0; p < len; p++) {
              float e = (float) Math.exp(s.scores[p] - max);
              s.scores[p] = e;
              sum += e;
            }
            java.util.Arrays.fill(s.acc, 0, headDim, 0f);
            for (int p = 0; p < len; p++) {
              long vRow =
                  cacheRow(
                      blockTables[tableRow + p / blockSize],
                      p % blockSize,
                      blockSize,
                      nKv,
                      kvHead,
                      headDim);
              axpy(s.scores[p], vCache.segment(), vRow, s.acc, headDim);
            }
            float inv = 1f / sum;
            for (int d = 0; d < headDim; d++) {
              out.segment().set(CpuTensor.F32_LE, qRow + 4L * d, s.acc[d] * inv);
            }
          }
        });
  }

  /** Byte offset of (block, offset, kvHead, 0) in a [blocks, blockSize, nKv, headDim] F32 cache. */
  private static long cacheRow(
      int block, int offset, int blockSize, int nKv, int kvHead, int headDim) {
    return ((((long) block * blockSize + offset) * nKv + kvHead) * headDim) * 4;
  }

  private static float dot(MemorySegment a, long aRow, MemorySegment b, long bRow, int n) {
    int ub = F.loopBound(n);
    FloatVector acc = FloatVector.zero(F);
    for (int i = 0; i < ub; i += L) {
      acc =
          FloatVector.fromMemorySegment(F, a, aRow + 4L * i, LE)
              .fma(FloatVector.fromMemorySegment(F, b, bRow + 4L * i, LE), acc);
    }
    float sum = LaneMath.sum(acc);
    for (int i = ub; i < n; i++) {
      sum += a.get(CpuTensor.F32_LE, aRow + 4L * i) * b.get(CpuTensor.F32_LE, bRow + 4L * i);
    }
    return sum;
  }

  /** acc[0..n) += weight · v[row..]. */
  private static void axpy(float weight, MemorySegment v, long row, float[] acc, int n) {
    int ub = F.loopBound(n);
    for (int i = 0; i < ub; i += L) {
      FloatVector.fromMemorySegment(F, v, row + 4L * i, LE)
          .fma(FloatVector.broadcast(F, weight), FloatVector.fromArray(F, acc, i))
          .intoArray(acc, i);
    }
    for (int i = ub; i < n; i++) {
      acc[i] += weight * v.get(CpuTensor.F32_LE, row + 4L * i);
    }
  }
}
