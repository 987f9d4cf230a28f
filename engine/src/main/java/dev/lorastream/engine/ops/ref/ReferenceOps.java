package dev.lorastream.engine.ops.ref;

import dev.lorastream.engine.ops.OpChecks;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.util.EnumSet;

/**
 * The control implementation of {@link Ops}: obvious scalar loops, one thread, sums in double.
 * Every fast backend (CPU Vector API, CUDA) is tested against it. Written for clarity, never for
 * speed.
 *
 * <p>It shares no code with the backends it checks: its tensors are its own {@link RefTensor}s (a
 * float per element, rounded to the tensor's dtype on every store), and a weight of any dtype is
 * decoded element by element at {@link #upload}. What it does share is the contract itself, {@link
 * OpChecks} (F32 activations, weights and adapter slots of any dtype), so every backend refuses
 * exactly the same calls. Stateless, so thread-safe for calls on disjoint outputs.
 */
public final class ReferenceOps implements Ops {
  private static final OpChecks CONTRACT =
      new OpChecks(
          DType.F32,
          EnumSet.allOf(DType.class),
          EnumSet.allOf(DType.class),
          EnumSet.allOf(DType.class));

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
    return RefTensor.zeros(dtype, shape);
  }

  @Override
  public Tensor rows(Tensor t, int n) {
    return RefTensor.of(t, "rows", "t").rows(n);
  }

  @Override
  public Tensor view(Tensor t, int... shape) {
    RefTensor r = RefTensor.of(t, "view", "t");
    OpChecks.viewElements(r, shape);
    return r.view(shape);
  }

  @Override
  public Tensor upload(HostTensor weight) {
    // A private copy, so the control never depends on the lifetime of the host mapping.
    RefTensor t = RefTensor.zeros(weight.dtype(), weight.shape());
    for (long i = 0; i < t.numel(); i++) {
      t.set(i, weight.getFloat(i));
    }
    return t;
  }

  @Override
  public void copyFromHost(float[] src, Tensor dst) {
    RefTensor d = RefTensor.of(dst, "copyFromHost", "dst");
    OpChecks.copyFromHost(src, dst);
    for (int i = 0; i < src.length; i++) {
      d.set(i, src[i]);
    }
  }

  @Override
  public void copyToHost(Tensor src, float[] dst) {
    RefTensor s = RefTensor.of(src, "copyToHost", "src");
    OpChecks.copyToHost(src, dst);
    for (int i = 0; i < dst.length; i++) {
      dst[i] = s.get(i);
    }
  }

  @Override
  public void copyRows(Tensor src, int srcRow, Tensor dst, int dstRow, int rows) {
    RefTensor s = RefTensor.of(src, "copyRows", "src");
    RefTensor d = RefTensor.of(dst, "copyRows", "dst");
    OpChecks.copyRows(src, srcRow, dst, dstRow, rows);
    long rowSize = src.numel() / src.dim(0);
    for (long i = 0; i < rows * rowSize; i++) {
      d.set(dstRow * rowSize + i, s.get(srcRow * rowSize + i));
    }
  }

  // ---- dense ops -------------------------------------------------------------------------------

  @Override
  public void embed(int[] tokens, Tensor table, Tensor out) {
    RefTensor tab = RefTensor.of(table, "embed", "table");
    RefTensor o = RefTensor.of(out, "embed", "out");
    CONTRACT.embed(tokens, table, out);
    int h = table.dim(1);
    for (int t = 0; t < tokens.length; t++) {
      for (int i = 0; i < h; i++) {
        o.set((long) t * h + i, tab.get((long) tokens[t] * h + i));
      }
    }
  }

  @Override
  public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out) {
    RefTensor xs = RefTensor.of(x, "rmsNorm", "x");
    RefTensor w = RefTensor.of(weight, "rmsNorm", "weight");
    RefTensor o = RefTensor.of(out, "rmsNorm", "out");
    CONTRACT.rmsNorm(x, weight, out);
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
    RefTensor a = RefTensor.of(acc, "add", "acc");
    RefTensor b = RefTensor.of(x, "add", "x");
    CONTRACT.elementwise("add", "acc", acc, "x", x);
    for (long i = 0; i < a.numel(); i++) {
      a.set(i, a.get(i) + b.get(i));
    }
  }

  @Override
  public void matmul(Tensor x, Tensor w, Tensor bias, Tensor y) {
    RefTensor xs = RefTensor.of(x, "matmul", "x");
    RefTensor ws = RefTensor.of(w, "matmul", "w");
    RefTensor b = bias == null ? null : RefTensor.of(bias, "matmul", "bias");
    RefTensor ys = RefTensor.of(y, "matmul", "y");
    CONTRACT.matmul(x, w, bias, y);
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
    RefTensor qs = RefTensor.of(q, "rope", "q");
    RefTensor ks = RefTensor.of(k, "rope", "k");
    CONTRACT.rope(q, k, positions, invFreq, headDim);
    rotate(qs, positions, invFreq, headDim);
    rotate(ks, positions, invFreq, headDim);
  }

  private static void rotate(RefTensor x, int[] positions, float[] invFreq, int headDim) {
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
    RefTensor g = RefTensor.of(gate, "siluMul", "gate");
    RefTensor u = RefTensor.of(up, "siluMul", "up");
    RefTensor o = RefTensor.of(out, "siluMul", "out");
    CONTRACT.elementwise("siluMul", "gate", gate, "up", up);
    CONTRACT.elementwise("siluMul", "gate", gate, "out", out);
    for (long i = 0; i < g.numel(); i++) {
      double v = g.get(i);
      o.set(i, (float) (v / (1 + Math.exp(-v)) * u.get(i)));
    }
  }

  // ---- paged KV cache and attention -------------------------------------------------------------

  @Override
  public void writeKv(Tensor k, Tensor v, Tensor kCache, Tensor vCache, int[] slotMapping) {
    RefTensor ks = RefTensor.of(k, "writeKv", "k");
    RefTensor vs = RefTensor.of(v, "writeKv", "v");
    RefTensor kc = RefTensor.of(kCache, "writeKv", "kCache");
    RefTensor vc = RefTensor.of(vCache, "writeKv", "vCache");
    CONTRACT.writeKv(k, v, kCache, vCache, slotMapping);
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
      Tensor q,
      Tensor kCache,
      Tensor vCache,
      int[] blockTables,
      int maxBlocksPerSeq,
      int[] tokenSeq,
      int[] tokenPos,
      int nHeads,
      float scale,
      Tensor out) {
    RefTensor qs = RefTensor.of(q, "pagedAttention", "q");
    RefTensor kc = RefTensor.of(kCache, "pagedAttention", "kCache");
    RefTensor vc = RefTensor.of(vCache, "pagedAttention", "vCache");
    RefTensor os = RefTensor.of(out, "pagedAttention", "out");
    CONTRACT.pagedAttention(
        q, kCache, vCache, blockTables, maxBlocksPerSeq, tokenSeq, tokenPos, nHeads, out);
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
  public void sgmvShrink(
      Tensor x, Tensor a, int[] ranks, int[] rowStarts, int[] segStarts, int[] segSlots, Tensor v) {
    RefTensor xs = RefTensor.of(x, "sgmvShrink", "x");
    RefTensor as = RefTensor.of(a, "sgmvShrink", "a");
    RefTensor vs = RefTensor.of(v, "sgmvShrink", "v");
    CONTRACT.sgmvShrink(x, a, ranks, rowStarts, segStarts, segSlots, v);
    int tokens = x.dim(0);
    int maxRank = v.dim(1);
    int in = a.dim(1);
    int[] slotOf = rowSlots(tokens, segStarts, segSlots);
    for (int t = 0; t < tokens; t++) {
      int slot = slotOf[t];
      for (int r = 0; r < maxRank; r++) {
        double sum = 0;
        if (slot >= 0 && r < ranks[slot]) {
          long aBase = ((long) rowStarts[slot] + r) * in;
          for (int i = 0; i < in; i++) {
            sum += (double) xs.get((long) t * in + i) * as.get(aBase + i);
          }
        }
        vs.set((long) t * maxRank + r, (float) sum);
      }
    }
  }

  @Override
  public void sgmvExpand(
      Tensor v,
      Tensor bT,
      int[] ranks,
      int[] rowStarts,
      int[] segStarts,
      int[] segSlots,
      Tensor y) {
    RefTensor vs = RefTensor.of(v, "sgmvExpand", "v");
    RefTensor bs = RefTensor.of(bT, "sgmvExpand", "bT");
    RefTensor ys = RefTensor.of(y, "sgmvExpand", "y");
    CONTRACT.sgmvExpand(v, bT, ranks, rowStarts, segStarts, segSlots, y);
    int[] slotOf = rowSlots(v.dim(0), segStarts, segSlots);
    for (int t = 0; t < slotOf.length; t++) {
      expandRow(vs, (long) t * v.dim(1), bs, ranks, rowStarts, slotOf[t], ys, t);
    }
  }

  @Override
  public void bgmv(
      Tensor x,
      Tensor a,
      Tensor bT,
      int[] ranks,
      int[] aRows,
      int[] bRows,
      int[] rowSlots,
      Tensor y) {
    RefTensor xs = RefTensor.of(x, "bgmv", "x");
    RefTensor as = RefTensor.of(a, "bgmv", "a");
    RefTensor bs = RefTensor.of(bT, "bgmv", "bT");
    RefTensor ys = RefTensor.of(y, "bgmv", "y");
    CONTRACT.bgmv(x, a, bT, ranks, aRows, bRows, rowSlots, y);
    int in = a.dim(1);
    for (int t = 0; t < rowSlots.length; t++) {
      int slot = rowSlots[t];
      if (slot < 0) {
        continue;
      }
      // v = x[t] · A(slot)ᵀ, rounded to float like the two-op path (shrink writes an F32 tensor).
      RefTensor v = RefTensor.zeros(DType.F32, Math.max(1, ranks[slot]));
      for (int r = 0; r < ranks[slot]; r++) {
        double sum = 0;
        long aBase = ((long) aRows[slot] + r) * in;
        for (int i = 0; i < in; i++) {
          sum += (double) xs.get((long) t * in + i) * as.get(aBase + i);
        }
        v.set(r, (float) sum);
      }
      expandRow(v, 0, bs, ranks, bRows, slot, ys, t);
    }
  }

  /** y[t, :] += Σ_{r < ranks[slot]} v[vBase + r] · bT[rowStarts[slot] + r, :]; none for −1. */
  private static void expandRow(
      RefTensor v,
      long vBase,
      RefTensor bT,
      int[] ranks,
      int[] rowStarts,
      int slot,
      RefTensor y,
      int t) {
    if (slot < 0) {
      return;
    }
    int out = bT.dim(1);
    for (int o = 0; o < out; o++) {
      double sum = 0;
      for (int r = 0; r < ranks[slot]; r++) {
        sum += (double) v.get(vBase + r) * bT.get(((long) rowStarts[slot] + r) * out + o);
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
  public void writeRows(Tensor dst, int firstRow, float[] src, int rows, float scale) {
    RefTensor d = RefTensor.of(dst, "writeRows", "dst");
    CONTRACT.writeRows(dst, firstRow, src, rows);
    long base = (long) firstRow * dst.dim(1);
    for (int i = 0; i < src.length; i++) {
      d.set(base + i, src[i] * scale);
    }
  }
}
