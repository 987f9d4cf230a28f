package dev.lorastream.engine.ops.ref;

import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.ops.cpu.CpuTensor;
import dev.lorastream.engine.ops.cpu.OpChecks;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The control implementation of {@link Ops}: obvious scalar loops, one thread, sums in double. Every fast
 * backend (CPU Vector API, CUDA) is tested against it. Written for clarity, never for speed.
 *
 * <p>Tensors are {@link CpuTensor}s; weights of any dtype are read element by element through their decoder.
 * Stateless, so thread-safe for calls on disjoint outputs.
 */
public final class ReferenceOps implements Ops {

  @Override
  public String name() {
    return "reference";
  }

  @Override
  public DType activationDType() {
    return DType.F32;
  }

  // ---- memory ----------------------------------------------------------------------------------

  @Override
  public Tensor allocate(DType dtype, int... shape) {
    return CpuTensor.zeros(dtype, shape);
  }

  @Override
  public Tensor rows(Tensor t, int n) {
    return CpuTensor.of(t, "rows", "t").rows(n);
  }

  @Override
  public Tensor upload(HostTensor weight) {
    // A private copy, so the control never depends on the lifetime of the host mapping.
    MemorySegment copy = Arena.ofAuto().allocate(Math.max(1, weight.data().byteSize()));
    copy = copy.asSlice(0, weight.data().byteSize()).copyFrom(weight.data());
    return new CpuTensor(weight.dtype(), weight.shape(), copy);
  }

  @Override
  public void copyFromHost(float[] src, Tensor dst) {
    CpuTensor d = CpuTensor.of(dst, "copyFromHost", "dst");
    OpChecks.equal("copyFromHost", "src.length vs dst " + OpChecks.shape(dst), src.length, d.numel());
    for (int i = 0; i < src.length; i++) {
      d.set(i, src[i]);
    }
  }

  @Override
  public void copyToHost(Tensor src, float[] dst) {
    CpuTensor s = CpuTensor.of(src, "copyToHost", "src");
    OpChecks.equal("copyToHost", "dst.length vs src " + OpChecks.shape(src), dst.length, s.numel());
    for (int i = 0; i < dst.length; i++) {
      dst[i] = s.get(i);
    }
  }

  @Override
  public void copyRows(Tensor src, int srcRow, Tensor dst, int dstRow, int rows) {
    CpuTensor s = CpuTensor.of(src, "copyRows", "src");
    CpuTensor d = CpuTensor.of(dst, "copyRows", "dst");
    OpChecks.copyRows(src, srcRow, dst, dstRow, rows);
    long rowSize = src.numel() / src.dim(0);
    for (long i = 0; i < rows * rowSize; i++) {
      d.set(dstRow * rowSize + i, s.get(srcRow * rowSize + i));
    }
  }

  // ---- dense ops -------------------------------------------------------------------------------

  @Override
  public void embed(int[] tokens, Tensor table, Tensor out) {
    CpuTensor tab = CpuTensor.of(table, "embed", "table");
    CpuTensor o = CpuTensor.of(out, "embed", "out");
    OpChecks.embed(tokens, table, out);
    int h = table.dim(1);
    for (int t = 0; t < tokens.length; t++) {
      for (int i = 0; i < h; i++) {
        o.set((long) t * h + i, tab.get((long) tokens[t] * h + i));
      }
    }
  }

  @Override
  public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out) {
    CpuTensor xs = CpuTensor.of(x, "rmsNorm", "x");
    CpuTensor w = CpuTensor.of(weight, "rmsNorm", "weight");
    CpuTensor o = CpuTensor.of(out, "rmsNorm", "out");
    OpChecks.rmsNorm(x, weight, out);
    int rows = x.dim(0);
    int h = x.dim(1);
    for (int t = 0; t < rows; t++) {
      double sumSq = 0;
      for (int i = 0; i < h; i++) {
        double v = xs.get((long) t * h + i);
        sumSq += v * v;
      }
      double inv = 1.0 / Math.sqrt(sumSq / h + eps);
      for (int i = 0; i < h; i++) {
        o.set((long) t * h + i, (float) (xs.get((long) t * h + i) * inv * w.get(i)));
      }
    }
  }

  @Override
  public void add(Tensor acc, Tensor x) {
    CpuTensor a = CpuTensor.of(acc, "add", "acc");
    CpuTensor b = CpuTensor.of(x, "add", "x");
    OpChecks.elementwise("add", "acc", acc, "x", x);
    for (long i = 0; i < a.numel(); i++) {
      a.set(i, a.get(i) + b.get(i));
    }
  }

  @Override
  public void matmul(Tensor x, Tensor w, Tensor bias, Tensor y) {
    CpuTensor xs = CpuTensor.of(x, "matmul", "x");
    CpuTensor ws = CpuTensor.of(w, "matmul", "w");
    CpuTensor b = bias == null ? null : CpuTensor.of(bias, "matmul", "bias");
    CpuTensor ys = CpuTensor.of(y, "matmul", "y");
    OpChecks.matmul(x, w, bias, y, DType.F32, DType.F16, DType.BF16);
    int tokens = x.dim(0);
    int in = x.dim(1);
    int out = w.dim(0);
    for (int t = 0; t < tokens; t++) {
      for (int o = 0; o < out; o++) {
        double sum = b == null ? 0 : b.get(o);
        for (int i = 0; i < in; i++) {
          sum += (double) xs.get((long) t * in + i) * ws.get((long) o * in + i);
        }
        ys.set((long) t * out + o, (float) sum);
      }
    }
  }

  @Override
  public void rope(Tensor q, Tensor k, int[] positions, float[] invFreq, int headDim) {
    CpuTensor qs = CpuTensor.of(q, "rope", "q");
    CpuTensor ks = CpuTensor.of(k, "rope", "k");
    OpChecks.rope(q, k, positions, invFreq, headDim);
    rotate(qs, positions, invFreq, headDim);
    rotate(ks, positions, invFreq, headDim);
  }

  private static void rotate(CpuTensor x, int[] positions, float[] invFreq, int headDim) {
    int width = x.dim(1);
    int half = headDim / 2;
    for (int t = 0; t < positions.length; t++) {
      for (int head = 0; head < width / headDim; head++) {
        long base = (long) t * width + (long) head * headDim;
        for (int i = 0; i < half; i++) {
          float angle = positions[t] * invFreq[i]; // fp32, as the interface specifies
          double cos = Math.cos(angle);
          double sin = Math.sin(angle);
          double x0 = x.get(base + i);
          double x1 = x.get(base + i + half);
          x.set(base + i, (float) (x0 * cos - x1 * sin));
          x.set(base + i + half, (float) (x1 * cos + x0 * sin));
        }
      }
    }
  }

  @Override
  public void siluMul(Tensor gate, Tensor up, Tensor out) {
    CpuTensor g = CpuTensor.of(gate, "siluMul", "gate");
    CpuTensor u = CpuTensor.of(up, "siluMul", "up");
    CpuTensor o = CpuTensor.of(out, "siluMul", "out");
    OpChecks.elementwise("siluMul", "gate", gate, "up", up);
    OpChecks.elementwise("siluMul", "gate", gate, "out", out);
    for (long i = 0; i < g.numel(); i++) {
      double v = g.get(i);
      o.set(i, (float) (v / (1 + Math.exp(-v)) * u.get(i)));
    }
  }

  // ---- paged KV cache and attention -------------------------------------------------------------

  @Override
  public void writeKv(Tensor k, Tensor v, Tensor kCache, Tensor vCache, int[] slotMapping) {
    CpuTensor ks = CpuTensor.of(k, "writeKv", "k");
    CpuTensor vs = CpuTensor.of(v, "writeKv", "v");
    CpuTensor kc = CpuTensor.of(kCache, "writeKv", "kCache");
    CpuTensor vc = CpuTensor.of(vCache, "writeKv", "vCache");
    OpChecks.writeKv(k, v, kCache, vCache, slotMapping);
    int width = k.dim(1);
    for (int t = 0; t < slotMapping.length; t++) {
      for (int i = 0; i < width; i++) {
        kc.set((long) slotMapping[t] * width + i, ks.get((long) t * width + i));
        vc.set((long) slotMapping[t] * width + i, vs.get((long) t * width + i));
      }
    }
  }

  @Override
  public void pagedAttention(
      Tensor q, Tensor kCache, Tensor vCache, int[] blockTables, int maxBlocksPerSeq, int[] tokenSeq,
      int[] tokenPos, int nHeads, float scale, Tensor out) {
    CpuTensor qs = CpuTensor.of(q, "pagedAttention", "q");
    CpuTensor kc = CpuTensor.of(kCache, "pagedAttention", "kCache");
    CpuTensor vc = CpuTensor.of(vCache, "pagedAttention", "vCache");
    CpuTensor os = CpuTensor.of(out, "pagedAttention", "out");
    OpChecks.pagedAttention(q, kCache, vCache, blockTables, maxBlocksPerSeq, tokenSeq, tokenPos, nHeads, out);
    int blockSize = kCache.dim(1);
    int nKv = kCache.dim(2);
    int headDim = kCache.dim(3);
    int group = nHeads / nKv;
    for (int t = 0; t < tokenSeq.length; t++) {
      int len = tokenPos[t] + 1;
      for (int h = 0; h < nHeads; h++) {
        long qBase = ((long) t * nHeads + h) * headDim;
        int kvHead = h / group;
        long[] rowBase = new long[len]; // cache offset of position p's (kvHead) vector
        double[] score = new double[len];
        double max = Double.NEGATIVE_INFINITY;
        for (int p = 0; p < len; p++) {
          int block = blockTables[tokenSeq[t] * maxBlocksPerSeq + p / blockSize];
          rowBase[p] = (((long) block * blockSize + p % blockSize) * nKv + kvHead) * headDim;
          double dot = 0;
          for (int d = 0; d < headDim; d++) {
            dot += (double) qs.get(qBase + d) * kc.get(rowBase[p] + d);
          }
          score[p] = dot * scale;
          max = Math.max(max, score[p]);
        }
        double sum = 0;
        for (int p = 0; p < len; p++) {
          score[p] = Math.exp(score[p] - max);
          sum += score[p];
        }
        for (int d = 0; d < headDim; d++) {
          double acc = 0;
          for (int p = 0; p < len; p++) {
            acc += score[p] * vc.get(rowBase[p] + d);
          }
          os.set(qBase + d, (float) (acc / sum));
        }
      }
    }
  }

  // ---- LoRA ------------------------------------------------------------------------------------

  @Override
  public void sgmvShrink(Tensor x, Tensor a, int[] ranks, int[] segStarts, int[] segSlots, Tensor v) {
    CpuTensor xs = CpuTensor.of(x, "sgmvShrink", "x");
    CpuTensor as = CpuTensor.of(a, "sgmvShrink", "a");
    CpuTensor vs = CpuTensor.of(v, "sgmvShrink", "v");
    OpChecks.sgmvShrink(x, a, ranks, segStarts, segSlots, v);
    int tokens = x.dim(0);
    int maxRank = a.dim(1);
    int in = a.dim(2);
    int[] slotOf = rowSlots(tokens, segStarts, segSlots);
    for (int t = 0; t < tokens; t++) {
      int slot = slotOf[t];
      for (int r = 0; r < maxRank; r++) {
        double sum = 0;
        if (slot >= 0 && r < ranks[slot]) {
          long aBase = ((long) slot * maxRank + r) * in;
          for (int i = 0; i < in; i++) {
            sum += (double) xs.get((long) t * in + i) * as.get(aBase + i);
          }
        }
        vs.set((long) t * maxRank + r, (float) sum);
      }
    }
  }

  @Override
  public void sgmvExpand(Tensor v, Tensor bT, int[] ranks, int[] segStarts, int[] segSlots, Tensor y) {
    CpuTensor vs = CpuTensor.of(v, "sgmvExpand", "v");
    CpuTensor bs = CpuTensor.of(bT, "sgmvExpand", "bT");
    CpuTensor ys = CpuTensor.of(y, "sgmvExpand", "y");
    OpChecks.sgmvExpand(v, bT, ranks, segStarts, segSlots, y);
    int[] slotOf = rowSlots(v.dim(0), segStarts, segSlots);
    for (int t = 0; t < slotOf.length; t++) {
      expandRow(vs, (long) t * v.dim(1), bs, ranks, slotOf[t], ys, t);
    }
  }

  @Override
  public void bgmv(Tensor x, Tensor a, Tensor bT, int[] ranks, int[] rowSlots, Tensor y) {
    CpuTensor xs = CpuTensor.of(x, "bgmv", "x");
    CpuTensor as = CpuTensor.of(a, "bgmv", "a");
    CpuTensor bs = CpuTensor.of(bT, "bgmv", "bT");
    CpuTensor ys = CpuTensor.of(y, "bgmv", "y");
    OpChecks.bgmv(x, a, bT, ranks, rowSlots, y);
    int maxRank = a.dim(1);
    int in = a.dim(2);
    for (int t = 0; t < rowSlots.length; t++) {
      int slot = rowSlots[t];
      if (slot < 0) {
        continue;
      }
      // v = x[t] · a[slot]ᵀ, rounded to float like the two-op path (shrink writes an F32 tensor).
      CpuTensor v = CpuTensor.zeros(DType.F32, maxRank);
      for (int r = 0; r < ranks[slot]; r++) {
        double sum = 0;
        for (int i = 0; i < in; i++) {
          sum += (double) xs.get((long) t * in + i) * as.get(((long) slot * maxRank + r) * in + i);
        }
        v.set(r, (float) sum);
      }
      expandRow(v, 0, bs, ranks, slot, ys, t);
    }
  }

  /** y[t, :] += Σ_{r < ranks[slot]} v[vBase + r] · bT[slot, r, :]; nothing for slot −1. */
  private static void expandRow(CpuTensor v, long vBase, CpuTensor bT, int[] ranks, int slot, CpuTensor y, int t) {
    if (slot < 0) {
      return;
    }
    int maxRank = bT.dim(1);
    int out = bT.dim(2);
    for (int o = 0; o < out; o++) {
      double sum = 0;
      for (int r = 0; r < ranks[slot]; r++) {
        sum += (double) v.get(vBase + r) * bT.get(((long) slot * maxRank + r) * out + o);
      }
      y.set((long) t * out + o, (float) (y.get((long) t * out + o) + sum));
    }
  }

  /** The slot of every row (−1 for rows in no segment), from the segment layout. */
  static int[] rowSlots(int tokens, int[] segStarts, int[] segSlots) {
    int[] slotOf = new int[tokens];
    java.util.Arrays.fill(slotOf, -1);
    for (int j = 0; j < segSlots.length; j++) {
      for (int t = segStarts[j]; t < segStarts[j + 1]; t++) {
        slotOf[t] = segSlots[j];
      }
    }
    return slotOf;
  }

  @Override
  public void writeSlot(Tensor dst, int slot, float[] src, int rows, float scale) {
    CpuTensor d = CpuTensor.of(dst, "writeSlot", "dst");
    OpChecks.writeSlot(dst, slot, src, rows);
    int maxRank = dst.dim(1);
    int cols = dst.dim(2);
    for (int r = 0; r < maxRank; r++) {
      for (int c = 0; c < cols; c++) {
        float value = r < rows ? src[r * cols + c] * scale : 0f;
        d.set(((long) slot * maxRank + r) * cols + c, value);
      }
    }
  }
}
