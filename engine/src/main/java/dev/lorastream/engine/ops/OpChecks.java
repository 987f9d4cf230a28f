package dev.lorastream.engine.ops;

import dev.lorastream.engine.tensor.DType;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;

/**
 * The boundary contract of {@link Ops}, written once and checked by every backend (CPU, CUDA, the
 * reference): the shapes in {@link Ops}' Javadoc, the slot metadata of the LoRA ops, and the
 * dtypes, parameterised by the backend's activation dtype ({@link Ops#activationDType()}) and the
 * dtypes it keeps weights and adapter slots in. A backend adds only its own limits on top (the CUDA
 * kernels' widths and maxima, in {@code CudaChecks}).
 *
 * <p>Every failure is an {@link IllegalArgumentException} naming the op, the argument and the
 * values, with the tensor's true dtype, e.g. {@code matmul: x F32[4, 64] has dtype F32, expected
 * BF16 (activations)}. Immutable, so thread-safe.
 */
public final class OpChecks {
  private final DType activations;
  private final Set<DType> weights;
  private final Set<DType> adapterA;
  private final Set<DType> adapterB;
  private final Set<DType> adapterSlots; // A or B

  /**
   * @param activations the dtype of every activation, KV cache and LoRA intermediate
   * @param weights the dtypes a dense weight (matmul weight and bias, norm weight, embedding table)
   *     may have
   * @param adapterA the dtypes of the LoRA A slot buffers ({@code a [slots, maxRank, in]})
   * @param adapterB the dtypes of the LoRA B slot buffers ({@code bT [slots, maxRank, out]})
   */
  public OpChecks(DType activations, Set<DType> weights, Set<DType> adapterA, Set<DType> adapterB) {
    this.activations = activations;
    this.weights = Set.copyOf(weights);
    this.adapterA = Set.copyOf(adapterA);
    this.adapterB = Set.copyOf(adapterB);
    Set<DType> slots = EnumSet.noneOf(DType.class);
    slots.addAll(adapterA);
    slots.addAll(adapterB);
    this.adapterSlots = Set.copyOf(slots);
  }

  /**
   * The contract of a backend that keeps every tensor, weights and slots included, in {@code
   * dtype}.
   */
  public static OpChecks allIn(DType dtype) {
    Set<DType> one = EnumSet.of(dtype);
    return new OpChecks(dtype, one, one, one);
  }

  /** The activation dtype this contract checks for. */
  public DType activations() {
    return activations;
  }

  // ---- single rules ----------------------------------------------------------------------------

  /** Fails unless {@code t} has rank {@code rank}. */
  public static void rank(String op, String arg, Tensor t, int rank) {
    if (t.rank() != rank) {
      throw new IllegalArgumentException(
          op + ": " + arg + " " + shape(t) + " must have rank " + rank);
    }
  }

  /**
   * Fails unless every tensor of {@code ts} (named together as {@code args}) is in the activation
   * dtype.
   */
  private void activations(String op, String args, Tensor... ts) {
    for (Tensor t : ts) {
      if (t.dtype() != activations) {
        throw new IllegalArgumentException(
            op
                + ": "
                + args
                + " "
                + shape(t)
                + " has dtype "
                + t.dtype()
                + ", expected "
                + activations
                + " (activations)");
      }
    }
  }

  /** Fails unless {@code t}'s dtype is in {@code allowed}, the dtypes of a {@code role}. */
  private static void dtype(String op, String arg, Tensor t, Set<DType> allowed, String role) {
    if (!allowed.contains(t.dtype())) {
      throw new IllegalArgumentException(
          op
              + ": "
              + arg
              + " "
              + shape(t)
              + " has dtype "
              + t.dtype()
              + ", expected "
              + names(allowed)
              + " ("
              + role
              + ")");
    }
  }

  private static String names(Set<DType> dtypes) {
    StringBuilder b = new StringBuilder();
    for (DType d : DType.values()) {
      if (dtypes.contains(d)) {
        b.append(b.isEmpty() ? "" : " or ").append(d);
      }
    }
    return b.toString();
  }

  /** Fails unless {@code a} and {@code b} have the same shape. */
  public static void sameShape(String op, String argA, Tensor a, String argB, Tensor b) {
    if (!Arrays.equals(a.shape(), b.shape())) {
      throw new IllegalArgumentException(
          op
              + ": "
              + argA
              + " "
              + shape(a)
              + " and "
              + argB
              + " "
              + shape(b)
              + " must have the same shape");
    }
  }

  /** Fails unless dimension {@code da} of {@code a} equals dimension {@code db} of {@code b}. */
  public static void sameDim(
      String op, String argA, Tensor a, int da, String argB, Tensor b, int db, String what) {
    if (a.dim(da) != b.dim(db)) {
      throw new IllegalArgumentException(
          op
              + ": "
              + argA
              + " "
              + shape(a)
              + " and "
              + argB
              + " "
              + shape(b)
              + " disagree on "
              + what
              + " ("
              + a.dim(da)
              + " vs "
              + b.dim(db)
              + ")");
    }
  }

  /** Fails unless {@code actual == expected}, naming {@code what}. */
  public static void equal(String op, String what, long actual, long expected) {
    if (actual != expected) {
      throw new IllegalArgumentException(
          op + ": " + what + " is " + actual + ", expected " + expected);
    }
  }

  /** Fails unless {@code 0 <= v < bound} (or {@code -1 <= v} when {@code allowMinusOne}). */
  public static void index(String op, String what, int v, int bound, boolean allowMinusOne) {
    if (v >= bound || v < (allowMinusOne ? -1 : 0)) {
      throw new IllegalArgumentException(
          op
              + ": "
              + what
              + " = "
              + v
              + " is out of range ["
              + (allowMinusOne ? -1 : 0)
              + ", "
              + bound
              + ")");
    }
  }

  /**
   * The element count of {@code shape}, which must not exceed {@code t}'s: a {@link Ops#view} takes
   * the first elements of a tensor.
   */
  public static long viewElements(Tensor t, int... shape) {
    long n = 1;
    for (int d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException(
            "view: negative dimension in " + java.util.Arrays.toString(shape));
      }
      n *= d;
    }
    if (n > t.numel()) {
      throw new IllegalArgumentException(
          "view: "
              + java.util.Arrays.toString(shape)
              + " needs "
              + n
              + " elements but "
              + shape(t)
              + " has "
              + t.numel());
    }
    return n;
  }

  /** A tensor's dtype and shape for messages: {@code "F32[3, 64]"}. */
  public static String shape(Tensor t) {
    return t.dtype() + Arrays.toString(t.shape());
  }

  /**
   * Checks the LoRA slot metadata: {@code ranks[s]} within {@code [0, maxRank]}, segment starts
   * non-decreasing within {@code [0, T]}, one more start than slots, slots within {@code [-1,
   * slots)}.
   */
  public static void segments(
      String op,
      int[] ranks,
      int[] rowStarts,
      int rows,
      int maxRank,
      int[] segStarts,
      int[] segSlots,
      int tokens) {
    checkRows(op, ranks, rowStarts, rows, maxRank);
    equal(op, "segStarts.length", segStarts.length, segSlots.length + 1L);
    for (int j = 0; j < segStarts.length; j++) {
      int lo = j == 0 ? 0 : segStarts[j - 1];
      if (segStarts[j] < lo || segStarts[j] > tokens) {
        throw new IllegalArgumentException(
            op
                + ": segStarts["
                + j
                + "] = "
                + segStarts[j]
                + " must be within ["
                + lo
                + ", "
                + tokens
                + "]");
      }
    }
    for (int j = 0; j < segSlots.length; j++) {
      index(op, "segSlots[" + j + "]", segSlots[j], ranks.length, true);
    }
  }

  /**
   * Checks one rank and one first row per slot, each rank within {@code [0, maxRank]} and each
   * slot's rows {@code rowStarts[s] .. rowStarts[s] + ranks[s] - 1} within {@code [0, rows)}.
   */
  public static void checkRows(String op, int[] ranks, int[] rowStarts, int rows, int maxRank) {
    equal(op, "rowStarts.length", rowStarts.length, ranks.length);
    for (int s = 0; s < ranks.length; s++) {
      if (ranks[s] < 0 || ranks[s] > maxRank) {
        throw new IllegalArgumentException(
            op + ": ranks[" + s + "] = " + ranks[s] + " is outside [0, maxRank=" + maxRank + "]");
      }
      if (ranks[s] > 0 && (rowStarts[s] < 0 || (long) rowStarts[s] + ranks[s] > rows)) {
        throw new IllegalArgumentException(
            op
                + ": slot "
                + s
                + " has rows ["
                + rowStarts[s]
                + ", "
                + ((long) rowStarts[s] + ranks[s])
                + ") outside the "
                + rows
                + " rows of its buffer");
      }
    }
  }

  // ---- whole-op contracts (the Javadoc of Ops, checked) ---------------------------------------

  /** matmul: x [T, in], y [T, out] activations; w [out, in], bias [out] or null weights. */
  public void matmul(Tensor x, Tensor w, Tensor bias, Tensor y) {
    String op = "matmul";
    rank(op, "x", x, 2);
    rank(op, "w", w, 2);
    rank(op, "y", y, 2);
    activations(op, "x", x);
    activations(op, "y", y);
    dtype(op, "w", w, weights, "weights");
    sameDim(op, "x", x, 1, "w", w, 1, "in");
    sameDim(op, "x", x, 0, "y", y, 0, "T");
    sameDim(op, "w", w, 0, "y", y, 1, "out");
    if (bias != null) {
      rank(op, "bias", bias, 1);
      dtype(op, "bias", bias, weights, "weights");
      sameDim(op, "w", w, 0, "bias", bias, 0, "out");
    }
  }

  /** rmsNorm: x, out [T, H] activations, weight [H]. */
  public void rmsNorm(Tensor x, Tensor weight, Tensor out) {
    String op = "rmsNorm";
    rank(op, "x", x, 2);
    activations(op, "x", x);
    sameShape(op, "x", x, "out", out);
    activations(op, "out", out);
    rank(op, "weight", weight, 1);
    dtype(op, "weight", weight, weights, "weights");
    sameDim(op, "x", x, 1, "weight", weight, 0, "H");
  }

  /** add and siluMul: activations of the same shape. */
  public void elementwise(String op, String argA, Tensor a, String argB, Tensor b) {
    activations(op, argA, a);
    activations(op, argB, b);
    sameShape(op, argA, a, argB, b);
  }

  /** embed: table [V, H] a weight, out [T, H] activations, tokens within [0, V). */
  public void embed(int[] tokens, Tensor table, Tensor out) {
    String op = "embed";
    rank(op, "table", table, 2);
    rank(op, "out", out, 2);
    dtype(op, "table", table, weights, "weights");
    activations(op, "out", out);
    sameDim(op, "table", table, 1, "out", out, 1, "H");
    equal(op, "tokens.length", tokens.length, out.dim(0));
    for (int t = 0; t < tokens.length; t++) {
      index(op, "tokens[" + t + "]", tokens[t], table.dim(0), false);
    }
  }

  /**
   * rope: q [T, nHeads * headDim], k [T, nKv * headDim] activations, positions [T], invFreq
   * [headDim / 2].
   */
  public void rope(Tensor q, Tensor k, int[] positions, float[] invFreq, int headDim) {
    String op = "rope";
    rank(op, "q", q, 2);
    rank(op, "k", k, 2);
    activations(op, "q", q);
    activations(op, "k", k);
    if (headDim <= 0 || headDim % 2 != 0) {
      throw new IllegalArgumentException(
          op + ": headDim = " + headDim + " must be positive and even");
    }
    if (q.dim(1) % headDim != 0 || k.dim(1) % headDim != 0) {
      throw new IllegalArgumentException(
          op
              + ": q "
              + shape(q)
              + " and k "
              + shape(k)
              + " widths must be multiples of headDim "
              + headDim);
    }
    sameDim(op, "q", q, 0, "k", k, 0, "T");
    equal(op, "positions.length", positions.length, q.dim(0));
    equal(op, "invFreq.length", invFreq.length, headDim / 2);
  }

  /**
   * writeKv: k, v [T, nKv * headDim]; caches [numBlocks, blockSize, nKv, headDim]; all activations.
   */
  public void writeKv(Tensor k, Tensor v, Tensor kCache, Tensor vCache, int[] slotMapping) {
    String op = "writeKv";
    rank(op, "k", k, 2);
    sameShape(op, "k", k, "v", v);
    rank(op, "kCache", kCache, 4);
    sameShape(op, "kCache", kCache, "vCache", vCache);
    activations(op, "k/v/caches", k, v, kCache, vCache);
    equal(
        op,
        "k width (nKv * headDim) vs cache " + shape(kCache),
        k.dim(1),
        (long) kCache.dim(2) * kCache.dim(3));
    equal(op, "slotMapping.length", slotMapping.length, k.dim(0));
    int slots = kCache.dim(0) * kCache.dim(1);
    for (int t = 0; t < slotMapping.length; t++) {
      index(op, "slotMapping[" + t + "]", slotMapping[t], slots, false);
    }
  }

  /**
   * pagedAttention: q, out [T, nHeads * headDim], caches [blocks, blockSize, nKv, headDim]; all
   * activations.
   */
  public void pagedAttention(
      Tensor q,
      Tensor kCache,
      Tensor vCache,
      int[] blockTables,
      int maxBlocksPerSeq,
      int[] tokenSeq,
      int[] tokenPos,
      int nHeads,
      Tensor out) {
    String op = "pagedAttention";
    rank(op, "q", q, 2);
    sameShape(op, "q", q, "out", out);
    rank(op, "kCache", kCache, 4);
    sameShape(op, "kCache", kCache, "vCache", vCache);
    activations(op, "q/out/caches", q, out, kCache, vCache);
    int nKv = kCache.dim(2);
    int headDim = kCache.dim(3);
    if (nHeads <= 0 || nHeads % nKv != 0) {
      throw new IllegalArgumentException(
          op + ": nHeads = " + nHeads + " must be a positive multiple of nKv = " + nKv);
    }
    equal(
        op,
        "q width vs nHeads " + nHeads + " * headDim " + headDim,
        q.dim(1),
        (long) nHeads * headDim);
    int tokens = q.dim(0);
    equal(op, "tokenSeq.length", tokenSeq.length, tokens);
    equal(op, "tokenPos.length", tokenPos.length, tokens);
    int blockSize = kCache.dim(1);
    for (int t = 0; t < tokens; t++) {
      int s = tokenSeq[t];
      if (s < 0 || (long) (s + 1) * maxBlocksPerSeq > blockTables.length) {
        throw new IllegalArgumentException(
            op
                + ": tokenSeq["
                + t
                + "] = "
                + s
                + " has no row in blockTables (length "
                + blockTables.length
                + ", maxBlocksPerSeq "
                + maxBlocksPerSeq
                + ")");
      }
      int last = tokenPos[t] / blockSize;
      if (tokenPos[t] < 0 || last >= maxBlocksPerSeq) {
        throw new IllegalArgumentException(
            op
                + ": tokenPos["
                + t
                + "] = "
                + tokenPos[t]
                + " needs block "
                + last
                + " but maxBlocksPerSeq = "
                + maxBlocksPerSeq);
      }
      for (int b = 0; b <= last; b++) {
        index(
            op,
            "blockTables[" + (s * maxBlocksPerSeq + b) + "]",
            blockTables[s * maxBlocksPerSeq + b],
            kCache.dim(0),
            false);
      }
    }
  }

  /** sgmvShrink: x [T, in], v [T, maxRank] activations, a [rows, in] an A row buffer. */
  public void sgmvShrink(
      Tensor x, Tensor a, int[] ranks, int[] rowStarts, int[] segStarts, int[] segSlots, Tensor v) {
    String op = "sgmvShrink";
    rank(op, "x", x, 2);
    rank(op, "a", a, 2);
    rank(op, "v", v, 2);
    activations(op, "x", x);
    activations(op, "v", v);
    dtype(op, "a", a, adapterA, "adapter A rows");
    sameDim(op, "x", x, 1, "a", a, 1, "in");
    sameDim(op, "x", x, 0, "v", v, 0, "T");
    segments(op, ranks, rowStarts, a.dim(0), v.dim(1), segStarts, segSlots, x.dim(0));
  }

  /** sgmvExpand: v [T, maxRank], y [T, out] activations, bT [rows, out] a B row buffer. */
  public void sgmvExpand(
      Tensor v,
      Tensor bT,
      int[] ranks,
      int[] rowStarts,
      int[] segStarts,
      int[] segSlots,
      Tensor y) {
    String op = "sgmvExpand";
    rank(op, "v", v, 2);
    rank(op, "bT", bT, 2);
    rank(op, "y", y, 2);
    activations(op, "v", v);
    activations(op, "y", y);
    dtype(op, "bT", bT, adapterB, "adapter B rows");
    sameDim(op, "v", v, 0, "y", y, 0, "T");
    sameDim(op, "bT", bT, 1, "y", y, 1, "out");
    segments(op, ranks, rowStarts, bT.dim(0), v.dim(1), segStarts, segSlots, v.dim(0));
  }

  /**
   * bgmv: x [T, in], y [T, out] activations, a [rows, in] and bT [rows, out] row buffers; ranks at
   * most {@link Ops#MAX_RANK}.
   */
  public void bgmv(
      Tensor x,
      Tensor a,
      Tensor bT,
      int[] ranks,
      int[] aRows,
      int[] bRows,
      int[] rowSlots,
      Tensor y) {
    String op = "bgmv";
    rank(op, "x", x, 2);
    rank(op, "a", a, 2);
    rank(op, "bT", bT, 2);
    rank(op, "y", y, 2);
    activations(op, "x", x);
    activations(op, "y", y);
    dtype(op, "a", a, adapterA, "adapter A rows");
    dtype(op, "bT", bT, adapterB, "adapter B rows");
    sameDim(op, "x", x, 1, "a", a, 1, "in");
    sameDim(op, "x", x, 0, "y", y, 0, "T");
    sameDim(op, "bT", bT, 1, "y", y, 1, "out");
    checkRows(op, ranks, aRows, a.dim(0), Ops.MAX_RANK);
    checkRows(op, ranks, bRows, bT.dim(0), Ops.MAX_RANK);
    equal(op, "rowSlots.length", rowSlots.length, x.dim(0));
    for (int t = 0; t < rowSlots.length; t++) {
      index(op, "rowSlots[" + t + "]", rowSlots[t], ranks.length, true);
    }
  }

  /** writeRows: dst [rows, cols] a row buffer (A or B), src [n, cols] for its rows firstRow.. */
  public void writeRows(Tensor dst, int firstRow, float[] src, int rows) {
    String op = "writeRows";
    rank(op, "dst", dst, 2);
    dtype(op, "dst", dst, adapterSlots, "adapter rows");
    if (rows < 0 || firstRow < 0 || (long) firstRow + rows > dst.dim(0)) {
      throw new IllegalArgumentException(
          op
              + ": rows ["
              + firstRow
              + ", "
              + ((long) firstRow + rows)
              + ") are outside the "
              + dst.dim(0)
              + " rows of dst "
              + shape(dst));
    }
    equal(
        op,
        "src.length (rows " + rows + " * cols " + dst.dim(1) + ")",
        src.length,
        (long) rows * dst.dim(1));
  }

  /** copyFromHost: one host float per element of {@code dst}. */
  public static void copyFromHost(float[] src, Tensor dst) {
    equal("copyFromHost", "src.length vs dst " + shape(dst), src.length, dst.numel());
  }

  /** copyToHost: one host float per element of {@code src}. */
  public static void copyToHost(Tensor src, float[] dst) {
    equal("copyToHost", "dst.length vs src " + shape(src), dst.length, src.numel());
  }

  /** copyRows: same dtype and row width, row ranges inside both tensors. */
  public static void copyRows(Tensor src, int srcRow, Tensor dst, int dstRow, int rows) {
    String op = "copyRows";
    if (src.rank() < 2 || dst.rank() < 2) {
      throw new IllegalArgumentException(
          op + ": src " + shape(src) + " and dst " + shape(dst) + " must both be 2-D or more");
    }
    if (src.dtype() != dst.dtype() || src.numel() / src.dim(0) != dst.numel() / dst.dim(0)) {
      throw new IllegalArgumentException(
          op + ": src " + shape(src) + " and dst " + shape(dst) + " differ in dtype or row size");
    }
    if (rows < 0
        || srcRow < 0
        || dstRow < 0
        || srcRow + rows > src.dim(0)
        || dstRow + rows > dst.dim(0)) {
      throw new IllegalArgumentException(
          op
              + ": rows ["
              + srcRow
              + ", "
              + (srcRow + rows)
              + ") of src "
              + shape(src)
              + " to rows ["
              + dstRow
              + ", "
              + (dstRow + rows)
              + ") of dst "
              + shape(dst)
              + " are out of range");
    }
  }
}
