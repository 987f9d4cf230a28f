package dev.lorastream.engine.ops.cuda;

import static dev.lorastream.engine.ops.cpu.OpChecks.equal;
import static dev.lorastream.engine.ops.cpu.OpChecks.index;
import static dev.lorastream.engine.ops.cpu.OpChecks.rank;
import static dev.lorastream.engine.ops.cpu.OpChecks.sameDim;
import static dev.lorastream.engine.ops.cpu.OpChecks.sameShape;
import static dev.lorastream.engine.ops.cpu.OpChecks.shape;

import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.ops.cpu.OpChecks;
import dev.lorastream.engine.tensor.DType;

/**
 * The CUDA backend's boundary: the shape contracts of {@link dev.lorastream.engine.ops.Ops} with every tensor
 * in the activation dtype {@code T}, plus the kernels' limits and alignment ({@code kernels/ABI.md}, "Launch
 * geometry and limits"). Runs before any launch; a kernel never sees a call it cannot do. Every failure is an
 * {@link IllegalArgumentException} naming the op and the values, e.g. {@code sgmvShrink: no kernel for
 * in=4096 maxRank=128 dtype=bf16 (maxRank must be <= 64)}.
 */
final class CudaChecks {
  private CudaChecks() {}

  static String name(DType t) {
    return t.name().toLowerCase(java.util.Locale.ROOT);
  }

  /** All of {@code ts} in dtype {@code t}. */
  static void dtypes(String op, DType t, String args, Tensor... ts) {
    for (Tensor x : ts) {
      if (x.dtype() != t) {
        throw new IllegalArgumentException(
            op + ": no kernel for " + args + " " + shape(x) + " with activations dtype=" + name(t)
                + " (the cuda backend computes every tensor in " + t + ")");
      }
    }
  }

  /** A width the kernels read in pairs ({@code T2}). */
  static void even(String op, String what, int v, DType t) {
    if (v % 2 != 0) {
      throw new IllegalArgumentException(
          op + ": no kernel for " + what + "=" + v + " dtype=" + name(t) + " (must be even: rows are read in pairs)");
    }
  }

  static void matmul(Tensor x, Tensor w, Tensor bias, Tensor y, DType t) {
    String op = "matmul";
    rank(op, "x", x, 2);
    rank(op, "w", w, 2);
    rank(op, "y", y, 2);
    dtypes(op, t, "x/w/y", x, w, y);
    sameDim(op, "x", x, 1, "w", w, 1, "in");
    sameDim(op, "x", x, 0, "y", y, 0, "T");
    sameDim(op, "w", w, 0, "y", y, 1, "out");
    if (bias != null) {
      rank(op, "bias", bias, 1);
      dtypes(op, t, "bias", bias);
      sameDim(op, "w", w, 0, "bias", bias, 0, "out");
    }
    even(op, "K", x.dim(1), t);
    even(op, "N", w.dim(0), t);
  }

  static void rmsNorm(Tensor x, Tensor weight, Tensor out, DType t) {
    String op = "rmsNorm";
    rank(op, "x", x, 2);
    sameShape(op, "x", x, "out", out);
    rank(op, "weight", weight, 1);
    sameDim(op, "x", x, 1, "weight", weight, 0, "H");
    dtypes(op, t, "x/weight/out", x, weight, out);
    even(op, "H", x.dim(1), t);
  }

  static void elementwise(String op, String argA, Tensor a, String argB, Tensor b, DType t) {
    sameShape(op, argA, a, argB, b);
    dtypes(op, t, argA + "/" + argB, a, b);
  }

  static void embed(int[] tokens, Tensor table, Tensor out, DType t) {
    String op = "embed";
    rank(op, "table", table, 2);
    rank(op, "out", out, 2);
    dtypes(op, t, "table/out", table, out);
    sameDim(op, "table", table, 1, "out", out, 1, "H");
    equal(op, "tokens.length", tokens.length, out.dim(0));
    for (int i = 0; i < tokens.length; i++) {
      index(op, "tokens[" + i + "]", tokens[i], table.dim(0), false);
    }
    even(op, "H", table.dim(1), t);
  }

  static void rope(Tensor q, Tensor k, int[] positions, float[] invFreq, int headDim, DType t) {
    String op = "rope";
    rank(op, "q", q, 2);
    rank(op, "k", k, 2);
    dtypes(op, t, "q/k", q, k);
    if (headDim <= 0 || headDim % 2 != 0) {
      throw new IllegalArgumentException(op + ": headDim = " + headDim + " must be positive and even");
    }
    if (q.dim(1) % headDim != 0 || k.dim(1) % headDim != 0) {
      throw new IllegalArgumentException(
          op + ": q " + shape(q) + " and k " + shape(k) + " widths must be multiples of headDim " + headDim);
    }
    sameDim(op, "q", q, 0, "k", k, 0, "T");
    equal(op, "positions.length", positions.length, q.dim(0));
    equal(op, "invFreq.length", invFreq.length, headDim / 2);
  }

  static void writeKv(Tensor k, Tensor v, Tensor kCache, Tensor vCache, int[] slotMapping, DType t) {
    String op = "writeKv";
    rank(op, "k", k, 2);
    sameShape(op, "k", k, "v", v);
    rank(op, "kCache", kCache, 4);
    sameShape(op, "kCache", kCache, "vCache", vCache);
    dtypes(op, t, "k/v/caches", k, v, kCache, vCache);
    equal(op, "k width (nKv * headDim) vs cache " + shape(kCache), k.dim(1), (long) kCache.dim(2) * kCache.dim(3));
    equal(op, "slotMapping.length", slotMapping.length, k.dim(0));
    int slots = kCache.dim(0) * kCache.dim(1);
    for (int i = 0; i < slotMapping.length; i++) {
      index(op, "slotMapping[" + i + "]", slotMapping[i], slots, false);
    }
  }

  static void pagedAttention(
      Tensor q, Tensor kCache, Tensor vCache, int[] blockTables, int maxBlocksPerSeq, int[] tokenSeq,
      int[] tokenPos, int nHeads, Tensor out, DType t) {
    String op = "pagedAttention";
    dtypes(op, t, "q/out/caches", q, out, kCache, vCache);
    // the shape contract is the CPU one with the dtype swapped: reuse it through F32-typed shadows
    OpChecks.pagedAttention(
        ShapeOnly.of(q), ShapeOnly.of(kCache), ShapeOnly.of(vCache), blockTables, maxBlocksPerSeq, tokenSeq,
        tokenPos, nHeads, ShapeOnly.of(out));
    int hd = kCache.dim(3);
    if (!LaunchGeometry.HEAD_DIMS.contains(hd)) {
      throw new IllegalArgumentException(
          op + ": no kernel for headDim=" + hd + " nHeads=" + nHeads + " dtype=" + name(t) + " (headDim must be one of "
              + new java.util.TreeSet<>(LaunchGeometry.HEAD_DIMS) + ")");
    }
    if (q.dim(0) > 65535) {
      throw new IllegalArgumentException(op + ": no kernel for T=" + q.dim(0) + " tokens in one call (max 65535)");
    }
  }

  /** maxRank within the kernels' limit, and the LoRA widths even. */
  static void loraLimits(String op, int in, int out, int maxRank, DType t) {
    if (maxRank > LaunchGeometry.MAX_RANK) {
      throw new IllegalArgumentException(
          op + ": no kernel for " + (in > 0 ? "in=" + in + " " : "") + (out > 0 ? "out=" + out + " " : "")
              + "maxRank=" + maxRank + " dtype=" + name(t) + " (maxRank must be <= " + LaunchGeometry.MAX_RANK + ")");
    }
    if (in > 0) {
      even(op, "in", in, t);
    }
    if (out > 0) {
      even(op, "out", out, t);
    }
  }

  static void sgmvShrink(Tensor x, Tensor a, int[] ranks, int[] segStarts, int[] segSlots, Tensor v, DType t) {
    String op = "sgmvShrink";
    dtypes(op, t, "x/a/v", x, a, v);
    OpChecks.sgmvShrink(ShapeOnly.of(x), a, ranks, segStarts, segSlots, ShapeOnly.of(v));
    loraLimits(op, x.dim(1), 0, a.dim(1), t);
    segmentCount(op, segSlots.length);
  }

  static void sgmvExpand(Tensor v, Tensor bT, int[] ranks, int[] segStarts, int[] segSlots, Tensor y, DType t) {
    String op = "sgmvExpand";
    dtypes(op, t, "v/bT/y", v, bT, y);
    OpChecks.sgmvExpand(ShapeOnly.of(v), bT, ranks, segStarts, segSlots, ShapeOnly.of(y));
    loraLimits(op, 0, y.dim(1), bT.dim(1), t);
    segmentCount(op, segSlots.length);
  }

  static void bgmv(Tensor x, Tensor a, Tensor bT, int[] ranks, int[] rowSlots, Tensor y, DType t) {
    String op = "bgmv";
    dtypes(op, t, "x/a/bT/y", x, a, bT, y);
    OpChecks.bgmv(ShapeOnly.of(x), a, bT, ranks, rowSlots, ShapeOnly.of(y));
    loraLimits(op, x.dim(1), y.dim(1), a.dim(1), t);
  }

  private static void segmentCount(String op, int segments) {
    if (segments > 65535) {
      throw new IllegalArgumentException(op + ": no kernel for S=" + segments + " segments in one call (max 65535)");
    }
  }

  static void writeSlot(Tensor dst, int slot, float[] src, int rows, DType t) {
    OpChecks.writeSlot(dst, slot, src, rows);
    dtypes("writeSlot", t, "dst", dst);
  }

  /** An F32-typed stand-in with the same shape, for reusing the CPU shape contracts. */
  private static final class ShapeOnly extends Tensor {
    private ShapeOnly(int[] shape) {
      super(DType.F32, shape);
    }

    static Tensor of(Tensor t) {
      return new ShapeOnly(t.shape());
    }
  }
}
