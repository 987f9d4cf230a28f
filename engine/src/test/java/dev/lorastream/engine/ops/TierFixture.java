package dev.lorastream.engine.ops;

import static dev.lorastream.engine.ops.OpsTestData.activation;
import static dev.lorastream.engine.ops.OpsTestData.random;
import static dev.lorastream.engine.ops.OpsTestData.read;
import static dev.lorastream.engine.ops.OpsTestData.weight;

import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.tensor.DType;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A fixed set of small CPU op calls whose outputs must be bit-identical in every JIT tier (see
 * {@link CpuOpsTierDeterminismTest}). Shapes are small enough for {@code -Xint} yet hit every code
 * path: vector tails (in = 100 and 600 are not multiples of 16 or 32), the direct (T ≤ 3) and tiled
 * (T ≥ 4) matmul and LoRA shrink paths, two k-blocks, GQA attention over a few paged positions,
 * silu's exp over 4096 values.
 *
 * <p>{@code main [warmupRuns]} runs it {@code warmupRuns} times (default 0), then once more on the
 * same 1-thread {@link CpuOps}, and prints that last run's outputs, one line each: its label, a
 * tab, then the float bits as space-separated hex ints.
 */
final class TierFixture {
  private TierFixture() {}

  private static final int SLOTS = 2;
  private static final int MAX_RANK = 8;
  private static final int[] RANKS = {8, 5};
  private static final int[] ROW_STARTS = {8, 0}; // slot 1's rows come first

  /** Every output of one run, by label, in a fixed order. Inputs come from fixed seeds. */
  static Map<String, float[]> run(Ops ops) {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
      matmul(ops, dtype, 1, 100, 12, out);
      matmul(ops, dtype, 3, 100, 5, out);
      matmul(ops, dtype, 6, 600, 8, out);
      shrink(ops, dtype, out);
    }
    rmsNormRope(ops, out);
    siluMul(ops, out);
    attention(ops, out);
    return out;
  }

  private static void matmul(
      Ops ops, DType dtype, int tokens, int in, int rows, Map<String, float[]> out) {
    SplittableRandom rnd = new SplittableRandom(tokens * 1000L + in);
    Tensor x = activation(ops, random(rnd, tokens * in, 1f), tokens, in);
    Tensor w = ops.upload(weight("w", dtype, random(rnd, rows * in, 0.1f), rows, in));
    Tensor y = ops.allocate(DType.F32, tokens, rows);
    ops.matmul(x, w, null, y);
    out.put("matmul " + dtype + " T=" + tokens + " in=" + in + " out=" + rows, read(ops, y));
  }

  /** Two segments: 2 tokens (direct path) on slot 1, 5 tokens (tiled path) on slot 0. */
  private static void shrink(Ops ops, DType dtype, Map<String, float[]> out) {
    int in = 100;
    int tokens = 7;
    SplittableRandom rnd = new SplittableRandom(17);
    Tensor a = ops.allocate(dtype, SLOTS * MAX_RANK, in); // [rows, in]
    for (int s = 0; s < SLOTS; s++) {
      ops.writeRows(a, ROW_STARTS[s], random(rnd, RANKS[s] * in, 0.1f), RANKS[s], 1f);
    }
    Tensor x = activation(ops, random(rnd, tokens * in, 1f), tokens, in);
    Tensor v = ops.allocate(DType.F32, tokens, MAX_RANK);
    ops.sgmvShrink(x, a, RANKS, ROW_STARTS, new int[] {0, 2, 7}, new int[] {1, 0}, v);
    out.put("sgmvShrink " + dtype + " in=" + in, read(ops, v));
  }

  private static void rmsNormRope(Ops ops, Map<String, float[]> out) {
    int tokens = 3;
    int h = 100;
    SplittableRandom rnd = new SplittableRandom(5);
    Tensor x = activation(ops, random(rnd, tokens * h, 2f), tokens, h);
    Tensor norm = ops.upload(weight("norm", DType.F32, random(rnd, h, 1.5f), h));
    Tensor n = ops.allocate(DType.F32, tokens, h);
    ops.rmsNorm(x, norm, 1e-5f, n);
    out.put("rmsNorm h=" + h, read(ops, n));
    int headDim = 40;
    float[] invFreq = new float[headDim / 2];
    for (int i = 0; i < invFreq.length; i++) {
      invFreq[i] = (float) Math.pow(10000, -2.0 * i / headDim);
    }
    Tensor q = activation(ops, random(rnd, tokens * 2 * headDim, 2f), tokens, 2 * headDim);
    Tensor k = activation(ops, random(rnd, tokens * headDim, 2f), tokens, headDim);
    ops.rope(q, k, new int[] {0, 7, 300}, invFreq, headDim);
    out.put("rope q", read(ops, q));
    out.put("rope k", read(ops, k));
  }

  /**
   * silu over [-10, 10] with its vector exp: 4096 values, as the C2 and fallback exp of the Vector
   * API differ in about one silu result in 250.
   */
  private static void siluMul(Ops ops, Map<String, float[]> out) {
    int tokens = 2;
    int h = 2048;
    SplittableRandom rnd = new SplittableRandom(6);
    Tensor gate = activation(ops, random(rnd, tokens * h, 10f), tokens, h);
    Tensor up = activation(ops, random(rnd, tokens * h, 1f), tokens, h);
    Tensor s = ops.allocate(DType.F32, tokens, h);
    ops.siluMul(gate, up, s);
    out.put("siluMul h=" + h, read(ops, s));
  }

  /**
   * One sequence of 9 positions in 3 blocks of 4 (block table 2, 0, 1); 4 heads over 2 kv heads.
   */
  private static void attention(Ops ops, Map<String, float[]> out) {
    for (int headDim : new int[] {64, 40}) {
      SplittableRandom rnd = new SplittableRandom(headDim);
      int blockSize = 4;
      int nHeads = 4;
      int nKv = 2;
      int len = 9;
      int[] blockTable = {2, 0, 1};
      int[] slots = new int[len];
      for (int p = 0; p < len; p++) {
        slots[p] = blockTable[p / blockSize] * blockSize + p % blockSize;
      }
      Tensor kc =
          ops.allocate(DType.F32, 3, blockSize, nKv, headDim); // [blocks, blockSize, nKv, headDim]
      Tensor vc = ops.allocate(DType.F32, 3, blockSize, nKv, headDim);
      ops.writeKv(
          activation(ops, random(rnd, len * nKv * headDim, 1f), len, nKv * headDim),
          activation(ops, random(rnd, len * nKv * headDim, 1f), len, nKv * headDim),
          kc,
          vc,
          slots);
      int tokens = 2; // positions 3 and 8 of sequence 0
      Tensor q =
          activation(ops, random(rnd, tokens * nHeads * headDim, 3f), tokens, nHeads * headDim);
      Tensor o = ops.allocate(DType.F32, tokens, nHeads * headDim);
      ops.pagedAttention(
          q,
          kc,
          vc,
          blockTable,
          3,
          new int[] {0, 0},
          new int[] {3, 8},
          nHeads,
          (float) (1 / Math.sqrt(headDim)),
          o);
      out.put("pagedAttention headDim=" + headDim, read(ops, o));
    }
  }

  public static void main(String[] args) {
    int warmupRuns = args.length > 0 ? Integer.parseInt(args[0]) : 0;
    try (CpuOps ops = new CpuOps(1)) {
      for (int i = 0; i < warmupRuns; i++) {
        run(ops);
      }
      StringBuilder sb = new StringBuilder();
      for (Map.Entry<String, float[]> e : run(ops).entrySet()) {
        sb.append(e.getKey()).append('\t');
        for (float f : e.getValue()) {
          sb.append(Integer.toHexString(Float.floatToRawIntBits(f))).append(' ');
        }
        sb.append('\n');
      }
      System.out.print(sb);
    }
  }
}
