package dev.lorastream.engine.ops.cuda;

import dev.lorastream.engine.ops.OpChecks;
import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.tensor.DType;
import java.util.EnumMap;
import java.util.Map;

/**
 * The CUDA backend's boundary: the contract of {@link dev.lorastream.engine.ops.Ops} ({@link
 * OpChecks}) with every tensor in the activation dtype {@code T}, then the kernels' own limits and
 * alignment ({@code kernels/ABI.md}, "Launch geometry and limits"). Runs before any launch; a
 * kernel never sees a call it cannot do. Every failure is an {@link IllegalArgumentException}
 * naming the op and the values, e.g. {@code sgmvShrink: no kernel for in=4096 maxRank=512
 * dtype=bf16 (maxRank must be <= 256)}.
 */
final class CudaChecks {
  private CudaChecks() {}

  private static final Map<DType, OpChecks> CONTRACTS = new EnumMap<>(DType.class);

  static {
    for (DType t : DType.values()) {
      CONTRACTS.put(t, OpChecks.allIn(t));
    }
  }

  /** The contract of a backend computing every tensor in {@code t}. */
  static OpChecks contract(DType t) {
    return CONTRACTS.get(t);
  }

  static String name(DType t) {
    return t.name().toLowerCase(java.util.Locale.ROOT);
  }

  /** A width the kernels read in pairs ({@code T2}). */
  static void even(String op, String what, int v, DType t) {
    if (v % 2 != 0) {
      throw new IllegalArgumentException(
          op
              + ": no kernel for "
              + what
              + "="
              + v
              + " dtype="
              + name(t)
              + " (must be even: rows are read in pairs)");
    }
  }

  static void matmul(Tensor x, Tensor w, Tensor bias, Tensor y, DType t) {
    contract(t).matmul(x, w, bias, y);
    even("matmul", "K", x.dim(1), t);
    even("matmul", "N", w.dim(0), t);
  }

  static void rmsNorm(Tensor x, Tensor weight, Tensor out, DType t) {
    contract(t).rmsNorm(x, weight, out);
    even("rmsNorm", "H", x.dim(1), t);
  }

  static void elementwise(String op, String argA, Tensor a, String argB, Tensor b, DType t) {
    contract(t).elementwise(op, argA, a, argB, b);
  }

  static void embed(int[] tokens, Tensor table, Tensor out, DType t) {
    contract(t).embed(tokens, table, out);
    even("embed", "H", table.dim(1), t);
  }

  static void rope(Tensor q, Tensor k, int[] positions, float[] invFreq, int headDim, DType t) {
    contract(t).rope(q, k, positions, invFreq, headDim);
  }

  static void writeKv(
      Tensor k, Tensor v, Tensor kCache, Tensor vCache, int[] slotMapping, DType t) {
    contract(t).writeKv(k, v, kCache, vCache, slotMapping);
  }

  static void pagedAttention(
      Tensor q,
      Tensor kCache,
      Tensor vCache,
      int[] blockTables,
      int maxBlocksPerSeq,
      int[] tokenSeq,
      int[] tokenPos,
      int nHeads,
      Tensor out,
      DType t) {
    String op = "pagedAttention";
    contract(t)
        .pagedAttention(
            q, kCache, vCache, blockTables, maxBlocksPerSeq, tokenSeq, tokenPos, nHeads, out);
    int hd = kCache.dim(3);
    if (!LaunchGeometry.HEAD_DIMS.contains(hd)) {
      throw new IllegalArgumentException(
          op
              + ": no kernel for headDim="
              + hd
              + " nHeads="
              + nHeads
              + " dtype="
              + name(t)
              + " (headDim must be one of "
              + new java.util.TreeSet<>(LaunchGeometry.HEAD_DIMS)
              + ")");
    }
    if (q.dim(0) > 65535) {
      throw new IllegalArgumentException(
          op + ": no kernel for T=" + q.dim(0) + " tokens in one call (max 65535)");
    }
  }

  /** maxRank within the kernels' limit, and the LoRA widths even. */
  static void loraLimits(String op, int in, int out, int maxRank, DType t) {
    if (maxRank > Ops.MAX_RANK) {
      throw new IllegalArgumentException(
          op
              + ": no kernel for "
              + (in > 0 ? "in=" + in + " " : "")
              + (out > 0 ? "out=" + out + " " : "")
              + "maxRank="
              + maxRank
              + " dtype="
              + name(t)
              + " (maxRank must be <= "
              + Ops.MAX_RANK
              + ")");
    }
    if (in > 0) {
      even(op, "in", in, t);
    }
    if (out > 0) {
      even(op, "out", out, t);
    }
  }

  static void sgmvShrink(
      Tensor x,
      Tensor a,
      int[] ranks,
      int[] rowStarts,
      int[] segStarts,
      int[] segSlots,
      Tensor v,
      DType t) {
    contract(t).sgmvShrink(x, a, ranks, rowStarts, segStarts, segSlots, v);
    loraLimits("sgmvShrink", x.dim(1), 0, v.dim(1), t);
    segmentCount("sgmvShrink", segSlots.length);
  }

  static void sgmvExpand(
      Tensor v,
      Tensor bT,
      int[] ranks,
      int[] rowStarts,
      int[] segStarts,
      int[] segSlots,
      Tensor y,
      DType t) {
    contract(t).sgmvExpand(v, bT, ranks, rowStarts, segStarts, segSlots, y);
    loraLimits("sgmvExpand", 0, y.dim(1), v.dim(1), t);
    segmentCount("sgmvExpand", segSlots.length);
  }

  static void bgmv(
      Tensor x,
      Tensor a,
      Tensor bT,
      int[] ranks,
      int[] aRows,
      int[] bRows,
      int[] rowSlots,
      Tensor y,
      DType t) {
    contract(t).bgmv(x, a, bT, ranks, aRows, bRows, rowSlots, y);
    loraLimits("bgmv", x.dim(1), y.dim(1), maxRank(ranks), t);
  }

  /** The largest of {@code ranks} (at least 1): the kernels' {@code max_rank} for bgmv. */
  static int maxRank(int[] ranks) {
    int m = 1;
    for (int r : ranks) {
      m = Math.max(m, r);
    }
    return m;
  }

  private static void segmentCount(String op, int segments) {
    if (segments > 65535) {
      throw new IllegalArgumentException(
          op + ": no kernel for S=" + segments + " segments in one call (max 65535)");
    }
  }

  static void writeRows(Tensor dst, int firstRow, float[] src, int rows, DType t) {
    contract(t).writeRows(dst, firstRow, src, rows);
  }
}
