package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.lorastream.engine.ops.Ops;
import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.ops.ref.ReferenceOps;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every op of {@link CudaOps} against the control {@link ReferenceOps} (fp32, sums in double), for
 * F16 and BF16, fixed seeds. Inputs are rounded to the dtype first, so only the device's compute
 * precision differs; overwritten outputs are poisoned with NaN before each call. Needs a GPU:
 * skipped with the reason otherwise (the host-side halves are covered by {@link CudaChecksTest},
 * {@link LaunchGeometryTest} and friends).
 */
class CudaOpsParityTest {
  /**
   * Relative tolerance per activation dtype (see {@link #assertClose}): ~2 ulps of the 16-bit
   * format.
   */
  static double tolerance(DType t) {
    return switch (t) {
      case F16 -> 1e-3;
      case BF16 -> 1e-2;
      case F32 -> 1e-5;
      case I8 -> throw new IllegalArgumentException("no CUDA activations are I8");
    };
  }

  private ReferenceOps ref;
  private CudaOps gpu;
  private DType t;
  private SplittableRandom rnd;

  @BeforeEach
  void needDevice() {
    Assumptions.assumeTrue(CudaOps.available(), "no usable GPU: " + CudaOps.availability());
  }

  /**
   * The backend under test: the real GPU's here, the kernel emulator's in {@link
   * EmulatedOpsParityTest}.
   */
  CudaOps open(DType dtype) {
    return new CudaOps(dtype.name(), 1L << 30);
  }

  @AfterEach
  void close() {
    if (gpu != null) {
      gpu.close();
      gpu = null;
    }
  }

  private void start(DType dtype) {
    t = dtype;
    ref = new ReferenceOps();
    gpu = open(dtype);
    rnd = new SplittableRandom(42);
  }

  // ---- data helpers
  // ------------------------------------------------------------------------------

  /** Random values already representable in the dtype. */
  private float[] values(int n, float scale) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] =
          HostConvert.decode(t, HostConvert.encode(t, (float) (rnd.nextDouble() * 2 - 1) * scale));
    }
    return v;
  }

  /** The same activation on both backends. */
  private Tensor[] act(float[] v, int... shape) {
    Tensor r = ref.allocate(DType.F32, shape);
    ref.copyFromHost(v, r);
    Tensor g = gpu.allocate(t, shape);
    gpu.copyFromHost(v, g);
    return new Tensor[] {r, g};
  }

  /** The same weight on both backends (the GPU converts the F32 host copy at upload, exactly). */
  private Tensor[] weight(float[] v, int... shape) {
    HostTensor h = HostTensor.ofFloats("w", v, shape);
    return new Tensor[] {ref.upload(h), gpu.upload(h)};
  }

  /** An output on both backends, the GPU one filled with NaN so unwritten elements fail. */
  private Tensor[] poisoned(int... shape) {
    Tensor[] o = act(new float[(int) HostTensor.numel(shape)], shape);
    float[] nan = new float[(int) o[1].numel()];
    Arrays.fill(nan, Float.NaN);
    gpu.copyFromHost(nan, o[1]);
    return o;
  }

  private void assertSame(String what, Tensor[] pair) {
    float[] e = new float[(int) pair[0].numel()];
    float[] a = new float[(int) pair[1].numel()];
    ref.copyToHost(pair[0], e);
    gpu.copyToHost(pair[1], a);
    assertClose(t + " " + what, e, a, tolerance(t));
  }

  /** {@code |a − e| <= rtol·(|e| + rms(e))} elementwise; NaN always fails. */
  static void assertClose(String what, float[] e, float[] a, double rtol) {
    assertEquals(e.length, a.length, what + " length");
    double sq = 0;
    for (float x : e) {
      sq += (double) x * x;
    }
    double rms = Math.sqrt(sq / Math.max(1, e.length));
    for (int i = 0; i < e.length; i++) {
      double err = Math.abs((double) a[i] - e[i]);
      if (!(err <= rtol * (Math.abs(e[i]) + rms) + Float.MIN_NORMAL)) {
        fail(
            what
                + ": element "
                + i
                + " is "
                + a[i]
                + ", expected "
                + e[i]
                + " (rtol "
                + rtol
                + ", rms "
                + rms
                + ")");
      }
    }
  }

  // ---- dense ops
  // -----------------------------------------------------------------------------------

  @ParameterizedTest
  @EnumSource(names = {"F16", "BF16"})
  void copiesRoundTripAndRowsCopy(DType dtype) {
    start(dtype);
    float[] v = values(37 * 172, 3f);
    Tensor[] x = act(v, 37, 172);
    assertSame("copyFromHost/copyToHost", x);
    Tensor[] y = poisoned(5, 172);
    ref.copyRows(x[0], 30, y[0], 0, 5);
    gpu.copyRows(x[1], 30, y[1], 0, 5);
    assertSame("copyRows", y);
    assertSame("rows view", new Tensor[] {ref.rows(x[0], 3), gpu.rows(x[1], 3)});
  }

  @ParameterizedTest
  @EnumSource(names = {"F16", "BF16"})
  void matmulWithAndWithoutBias(DType dtype) {
    start(dtype);
    for (int[] mnk : new int[][] {{1, 512, 64}, {32, 172, 64}, {77, 64, 172}, {130, 200, 1100}}) {
      Tensor[] x = act(values(mnk[0] * mnk[2], 1f), mnk[0], mnk[2]);
      Tensor[] w = weight(values(mnk[1] * mnk[2], 0.1f), mnk[1], mnk[2]);
      Tensor[] b = weight(values(mnk[1], 0.5f), mnk[1]);
      Tensor[] y = poisoned(mnk[0], mnk[1]);
      ref.matmul(x[0], w[0], null, y[0]);
      gpu.matmul(x[1], w[1], null, y[1]);
      assertSame("matmul " + Arrays.toString(mnk), y);
      ref.matmul(x[0], w[0], b[0], y[0]);
      gpu.matmul(x[1], w[1], b[1], y[1]);
      assertSame("matmul+bias " + Arrays.toString(mnk), y);
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"F16", "BF16"})
  void rmsNormAddSiluMulEmbed(DType dtype) {
    start(dtype);
    Tensor[] x = act(values(9 * 64, 2f), 9, 64);
    Tensor[] w = weight(values(64, 1f), 64);
    Tensor[] out = poisoned(9, 64);
    ref.rmsNorm(x[0], w[0], 1e-5f, out[0]);
    gpu.rmsNorm(x[1], w[1], 1e-5f, out[1]);
    assertSame("rmsNorm", out);
    ref.rmsNorm(x[0], w[0], 1e-5f, x[0]); // in place
    gpu.rmsNorm(x[1], w[1], 1e-5f, x[1]);
    assertSame("rmsNorm in place", x);
    Tensor[] d = act(values(9 * 64, 1f), 9, 64);
    ref.add(x[0], d[0]);
    gpu.add(x[1], d[1]);
    assertSame("add", x);
    Tensor[] g = act(values(9 * 172, 4f), 9, 172);
    Tensor[] u = act(values(9 * 172, 1f), 9, 172);
    Tensor[] o = poisoned(9, 172);
    ref.siluMul(g[0], u[0], o[0]);
    gpu.siluMul(g[1], u[1], o[1]);
    assertSame("siluMul", o);
    Tensor[] table = weight(values(512 * 64, 1f), 512, 64);
    int[] tokens = {1, 511, 0, 7, 7, 300};
    Tensor[] e = poisoned(6, 64);
    ref.embed(tokens, table[0], e[0]);
    gpu.embed(tokens, table[1], e[1]);
    assertSame("embed", e);
  }

  @ParameterizedTest
  @EnumSource(names = {"F16", "BF16"})
  void ropeWriteKvAndPagedAttentionWithGqa(DType dtype) {
    start(dtype);
    int hd = 64, nh = 4, nkv = 2, bs = 4, blocks = 8; // paged_attention_T has hd 64, 128, 256
    // two sequences: 6 prefill tokens of s0 and 1 decode token of s1 at position 9
    int[] seq = {0, 0, 0, 0, 0, 0, 1};
    int[] pos = {0, 1, 2, 3, 4, 5, 9};
    int[] tables = {3, 5, -1, 0, 6, 2}; // maxBlocks 3: s0 → 3,5; s1 → 0,6,2
    int[] slots = new int[seq.length];
    for (int i = 0; i < seq.length; i++) {
      slots[i] = tables[seq[i] * 3 + pos[i] / bs] * bs + pos[i] % bs;
    }
    float[] inv = new float[hd / 2];
    for (int i = 0; i < inv.length; i++) {
      inv[i] = (float) Math.pow(10000, -2.0 * i / hd);
    }
    Tensor[] q = act(values(7 * nh * hd, 1f), 7, nh * hd);
    Tensor[] k = act(values(7 * nkv * hd, 1f), 7, nkv * hd);
    Tensor[] v = act(values(7 * nkv * hd, 1f), 7, nkv * hd);
    ref.rope(q[0], k[0], pos, inv, hd);
    gpu.rope(q[1], k[1], pos, inv, hd);
    assertSame("rope q", q);
    assertSame("rope k", k);
    // s1's earlier positions 0..8 come from a previous step
    Tensor[] kc = act(values(blocks * bs * nkv * hd, 1f), blocks, bs, nkv, hd);
    Tensor[] vc = act(values(blocks * bs * nkv * hd, 1f), blocks, bs, nkv, hd);
    ref.writeKv(k[0], v[0], kc[0], vc[0], slots);
    gpu.writeKv(k[1], v[1], kc[1], vc[1], slots);
    assertSame("writeKv k", kc);
    assertSame("writeKv v", vc);
    Tensor[] out = poisoned(7, nh * hd);
    float scale = (float) (1 / Math.sqrt(hd));
    ref.pagedAttention(q[0], kc[0], vc[0], tables, 3, seq, pos, nh, scale, out[0]);
    gpu.pagedAttention(q[1], kc[1], vc[1], tables, 3, seq, pos, nh, scale, out[1]);
    assertSame("pagedAttention", out);
  }

  // ---- LoRA
  // --------------------------------------------------------------------------------------

  /** Punica's layouts: identical, distinct, uniform, skewed; slot −1 rows mixed in. */
  static final int[][][] LAYOUTS = {
    {{0, 40}, {0}}, // identical
    {{0, 1, 2, 3, 4, 5, 6, 7, 8}, {0, 1, 2, 3, -1, 0, 1, 2}}, // distinct (decode)
    {{0, 8, 16, 24, 32, 37}, {0, 1, 2, 3, -1}}, // uniform
    {{0, 30, 31, 32, 33, 33, 35}, {2, 0, -1, 1, 3, 3}}, // skewed, with an empty segment
  };

  @ParameterizedTest
  @EnumSource(names = {"F16", "BF16"})
  void sgmvAndBgmvOverEveryLayout(DType dtype) {
    start(dtype);
    loraParity(16, new int[] {16, 3, 8, 5}, LAYOUTS);
  }

  /** The kernels serve every rank up to {@link Ops#MAX_RANK}, the one limit the host checks. */
  @ParameterizedTest
  @EnumSource(names = {"F16", "BF16"})
  void sgmvAndBgmvAtTheLargestRank(DType dtype) {
    start(dtype);
    loraParity(Ops.MAX_RANK, new int[] {Ops.MAX_RANK, 3, 130, 65}, new int[][][] {LAYOUTS[3]});
  }

  private void loraParity(int maxRank, int[] ranks, int[][][] layouts) {
    int slots = 4, in = 200, out = 172;
    Tensor[] a = act(new float[slots * maxRank * in], slots * maxRank, in);
    Tensor[] bT = act(new float[slots * maxRank * out], slots * maxRank, out);
    int[] rows = new int[slots]; // slot s in block slots-1-s: out of order, as a churned pool is
    for (int s = 0; s < slots; s++) {
      rows[s] = (slots - 1 - s) * maxRank;
      float[] av = values(ranks[s] * in, 0.2f);
      float[] bv = values(ranks[s] * out, 0.2f);
      ref.writeRows(a[0], rows[s], av, ranks[s], 1f);
      gpu.writeRows(a[1], rows[s], av, ranks[s], 1f);
      ref.writeRows(bT[0], rows[s], bv, ranks[s], 0.5f);
      gpu.writeRows(bT[1], rows[s], bv, ranks[s], 0.5f);
    }
    assertSame("writeRows a", a);
    assertSame("writeRows bT", bT);
    for (int[][] layout : layouts) {
      int[] starts = layout[0];
      int[] segSlots = layout[1];
      int tokens = starts[starts.length - 1];
      String name = "layout " + Arrays.toString(starts) + " slots " + Arrays.toString(segSlots);
      Tensor[] x = act(values(tokens * in, 1f), tokens, in);
      Tensor[] v = poisoned(tokens, maxRank);
      ref.sgmvShrink(x[0], a[0], ranks, rows, starts, segSlots, v[0]);
      gpu.sgmvShrink(x[1], a[1], ranks, rows, starts, segSlots, v[1]);
      assertSame("sgmvShrink " + name, v);
      float[] y0 = values(tokens * out, 1f);
      Tensor[] y = act(y0, tokens, out);
      ref.sgmvExpand(v[0], bT[0], ranks, rows, starts, segSlots, y[0]);
      gpu.sgmvExpand(v[1], bT[1], ranks, rows, starts, segSlots, y[1]);
      assertSame("sgmvExpand " + name, y);
      int[] rowSlots = new int[tokens];
      for (int j = 0; j < segSlots.length; j++) {
        Arrays.fill(rowSlots, starts[j], starts[j + 1], segSlots[j]);
      }
      Tensor[] yb = act(y0, tokens, out);
      ref.bgmv(x[0], a[0], bT[0], ranks, rows, rows, rowSlots, yb[0]);
      gpu.bgmv(x[1], a[1], bT[1], ranks, rows, rows, rowSlots, yb[1]);
      assertSame("bgmv " + name, yb);
    }
  }
}
