package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.lorastream.engine.ops.Tensor;
import dev.lorastream.engine.ops.cuda.DeviceApi.DevPtr;
import dev.lorastream.engine.ops.cuda.LaunchGeometry.Launch;
import dev.lorastream.engine.ops.ref.ReferenceOps;
import dev.lorastream.engine.sample.Sampler;
import dev.lorastream.engine.sample.SamplingParams;
import dev.lorastream.engine.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The kernels no {@link dev.lorastream.engine.ops.Ops} method launches yet, against their CPU
 * twins: {@code argmax_T} and {@code sample_T} against {@link Sampler} (same token, row by row, for
 * greedy, temperature, top-k, top-p and per-row seeds; ties; a flat row that takes the exact slow
 * path), at the ABI's 256 threads and the 1024 the kernel is tuned for; {@code add_rms_norm_T}
 * against {@link ReferenceOps}' add then rmsNorm. On a GPU here, on the kernel emulator in {@link
 * EmulatedSampleKernelParityTest}.
 */
class SampleKernelParityTest {
  private CudaOps ops;
  private DType t;

  @BeforeEach
  void needDevice() {
    Assumptions.assumeTrue(CudaOps.available(), "no usable GPU: " + CudaOps.availability());
  }

  CudaOps open(DType dtype) {
    return new CudaOps(dtype.name(), 1L << 30);
  }

  @AfterEach
  void close() {
    if (ops != null) {
      ops.close();
      ops = null;
    }
  }

  private void start(DType dtype) {
    t = dtype;
    ops = open(dtype);
  }

  private DevPtr ptr(Tensor x) {
    return new DevPtr(((CudaTensor) x).byteOffset());
  }

  /** Raw bytes to a fresh pool block (kept until {@link #close}: the test is short). */
  private DevPtr upload(MemorySegment bytes) {
    CudaContext c = ops.context();
    long off = c.pool.allocate(bytes.byteSize());
    long staging = c.computeRing.reserve(bytes.byteSize());
    c.computeRing.slice(staging, bytes.byteSize()).copyFrom(bytes);
    c.computeRing.toDevice(staging, bytes.byteSize(), new DevPtr(off));
    return new DevPtr(off);
  }

  private int[] downloadInts(DevPtr p, int n) {
    CudaContext c = ops.context();
    long staging = c.computeRing.reserve(4L * n);
    c.computeRing.fromDevice(p, staging, 4L * n);
    c.sync("download");
    return c.computeRing.slice(staging, 4L * n).toArray(ValueLayout.JAVA_INT);
  }

  private void launch(CudaKernel k, Launch g, Object... args) {
    ops.context().api.launch(k, t, g, ops.context().compute, args);
  }

  /** Logits already representable in the dtype, as the device holds them. */
  private float[] logits(SplittableRandom rnd, int rows, int vocab, float scale) {
    float[] v = new float[rows * vocab];
    for (int i = 0; i < v.length; i++) {
      v[i] = HostConvert.decode(t, HostConvert.encode(t, (float) rnd.nextGaussian() * scale));
    }
    return v;
  }

  private Tensor device(float[] v, int rows, int cols) {
    Tensor x = ops.allocate(t, rows, cols);
    ops.copyFromHost(v, x);
    return x;
  }

  @ParameterizedTest
  @EnumSource(names = {"F16", "BF16"})
  void argmaxTakesTheLowestIdOnTies(DType dtype) {
    start(dtype);
    int rows = 5;
    int vocab = 3001;
    float[] l = logits(new SplittableRandom(7), rows, vocab, 2f);
    l[1 * vocab + 2999] = 50f; // row 1: the max near the end
    l[2 * vocab + 17] = 40f; // row 2: a tie between 17 and 1800, 17 wins
    l[2 * vocab + 1800] = 40f;
    Arrays.fill(l, 3 * vocab, 4 * vocab, -1f); // row 3: all equal, id 0
    l[4 * vocab] = 60f; // row 4: id 0 is the max
    Tensor x = device(l, rows, vocab);
    int[] expected = new int[rows];
    for (int r = 0; r < rows; r++) {
      expected[r] = Sampler.argmax(l, r * vocab, vocab);
    }
    for (int block : new int[] {256, 1024}) {
      DevPtr out = upload(MemorySegment.ofArray(new int[rows]));
      launch(CudaKernel.ARGMAX, new Launch(rows, 1, block), ptr(x), out, rows, vocab);
      assertArrayEquals(expected, downloadInts(out, rows), t + " argmax, block " + block);
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"F16", "BF16"})
  void sampleDrawsTheTokenSamplerDraws(DType dtype) {
    start(dtype);
    int vocab = 3001;
    // per row: temperature, top-k, top-p, seed, step
    Object[][] rows = {
      {0f, 0, 1f, 0L, 0}, // greedy
      {1f, 0, 1f, 1L, 0},
      {0.7f, 0, 1f, 2L, 3},
      {1.3f, 40, 1f, 3L, 1},
      {0.9f, 0, 0.9f, 4L, 7},
      {1f, 5, 0.5f, -5L, 2},
      {2f, 1, 1f, 6L, 0}, // top-k 1 = greedy by another road
      {0.5f, 0, 0.3f, Long.MAX_VALUE, 11},
      {1f, 0, 1f, 8L, 4}, // flat row: every token a candidate → the exact slow path
      {1f, 2500, 0.95f, 9L, 5}, // flat-ish row with top-k and top-p on the slow path
    };
    int n = rows.length;
    SplittableRandom rnd = new SplittableRandom(11);
    float[] l = logits(rnd, n, vocab, 3f);
    Arrays.fill(l, 8 * vocab, 9 * vocab, 0.25f);
    for (int j = 0; j < vocab; j++) {
      l[9 * vocab + j] =
          HostConvert.decode(t, HostConvert.encode(t, (float) (rnd.nextDouble() * 0.01)));
    }
    float[] temp = new float[n];
    int[] topK = new int[n];
    float[] topP = new float[n];
    long[] seed = new long[n];
    int[] step = new int[n];
    int[] expected = new int[n];
    for (int r = 0; r < n; r++) {
      temp[r] = (float) rows[r][0];
      topK[r] = (int) rows[r][1];
      topP[r] = (float) rows[r][2];
      seed[r] = (long) rows[r][3];
      step[r] = (int) rows[r][4];
      SamplingParams p =
          new SamplingParams(temp[r], topK[r], topP[r], seed[r], 1, List.of(), List.of());
      expected[r] = Sampler.sample(l, r * vocab, vocab, p, step[r]);
    }
    Tensor x = device(l, n, vocab);
    DevPtr dTemp = upload(MemorySegment.ofArray(temp));
    DevPtr dTopK = upload(MemorySegment.ofArray(topK));
    DevPtr dTopP = upload(MemorySegment.ofArray(topP));
    DevPtr dSeed = upload(MemorySegment.ofArray(seed));
    DevPtr dStep = upload(MemorySegment.ofArray(step));
    for (int block : new int[] {256, 1024}) {
      DevPtr out = upload(MemorySegment.ofArray(new int[n]));
      launch(
          CudaKernel.SAMPLE,
          new Launch(n, 1, block),
          ptr(x),
          dTemp,
          dTopK,
          dTopP,
          dSeed,
          dStep,
          out,
          n,
          vocab);
      assertArrayEquals(expected, downloadInts(out, n), t + " sample, block " + block);
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"F16", "BF16"})
  void tinyPositiveTemperaturesDrawTheGreedyTokenAsSamplerDoes(DType dtype) {
    start(dtype);
    int vocab = 3001;
    // 1e-45 (the smallest float, subnormal), another subnormal, 1e-38, the smallest normal, 1e-30:
    // (logit / T) overflowed float before; now every row is the greedy token, as in Sampler
    float[] temp = {1e-45f, 1e-40f, 1e-38f, Float.MIN_NORMAL, 1e-30f, Float.MIN_VALUE};
    int n = temp.length;
    float[] l = logits(new SplittableRandom(13), n, vocab, 3f);
    int[] maxAt = {5, 3000, 17, 1200, 0, 2222};
    for (int r = 0; r < n; r++) {
      l[r * vocab + maxAt[r]] = 20f;
    }
    int[] topK = new int[n];
    float[] topP = new float[n];
    Arrays.fill(topP, 1f);
    topP[5] = 0.5f;
    topK[4] = 7;
    long[] seed = new long[n];
    int[] step = new int[n];
    int[] expected = new int[n];
    for (int r = 0; r < n; r++) {
      seed[r] = 100 + r;
      step[r] = r;
      SamplingParams p =
          new SamplingParams(temp[r], topK[r], topP[r], seed[r], 1, List.of(), List.of());
      expected[r] = Sampler.sample(l, r * vocab, vocab, p, step[r]);
    }
    assertArrayEquals(maxAt, expected, t + " Sampler at tiny temperatures");
    Tensor x = device(l, n, vocab);
    DevPtr dTemp = upload(MemorySegment.ofArray(temp));
    DevPtr dTopK = upload(MemorySegment.ofArray(topK));
    DevPtr dTopP = upload(MemorySegment.ofArray(topP));
    DevPtr dSeed = upload(MemorySegment.ofArray(seed));
    DevPtr dStep = upload(MemorySegment.ofArray(step));
    for (int block : new int[] {256, 1024}) {
      DevPtr out = upload(MemorySegment.ofArray(new int[n]));
      launch(
          CudaKernel.SAMPLE,
          new Launch(n, 1, block),
          ptr(x),
          dTemp,
          dTopK,
          dTopP,
          dSeed,
          dStep,
          out,
          n,
          vocab);
      assertArrayEquals(maxAt, downloadInts(out, n), t + " sample at tiny T, block " + block);
    }
  }

  @ParameterizedTest
  @EnumSource(names = {"F16", "BF16"})
  void addRmsNormEqualsAddThenRmsNorm(DType dtype) {
    start(dtype);
    int m = 7;
    int h = 200;
    SplittableRandom rnd = new SplittableRandom(5);
    float[] res = logits(rnd, m, h, 1f);
    float[] x = logits(rnd, m, h, 1f);
    float[] w = logits(rnd, 1, h, 1f);
    ReferenceOps ref = new ReferenceOps();
    Tensor rRes = ref.allocate(DType.F32, m, h);
    ref.copyFromHost(res, rRes);
    Tensor rX = ref.allocate(DType.F32, m, h);
    ref.copyFromHost(x, rX);
    Tensor rW = ref.allocate(DType.F32, h);
    ref.copyFromHost(w, rW);
    Tensor rOut = ref.allocate(DType.F32, m, h);
    ref.add(rRes, rX);
    ref.rmsNorm(rRes, rW, 1e-5f, rOut);
    float[] eRes = new float[m * h];
    float[] eOut = new float[m * h];
    ref.copyToHost(rRes, eRes);
    ref.copyToHost(rOut, eOut);

    Tensor dRes = device(res, m, h);
    Tensor dX = device(x, m, h);
    Tensor dW = ops.allocate(t, h);
    ops.copyFromHost(w, dW);
    Tensor dOut = ops.allocate(t, m, h);
    float[] nan = new float[m * h];
    Arrays.fill(nan, Float.NaN);
    ops.copyFromHost(nan, dOut);
    launch(
        CudaKernel.ADD_RMS_NORM,
        LaunchGeometry.perRow(m),
        ptr(dRes),
        ptr(dX),
        ptr(dW),
        ptr(dOut),
        m,
        h,
        1e-5f);
    float[] aRes = new float[m * h];
    float[] aOut = new float[m * h];
    ops.copyToHost(dRes, aRes);
    ops.copyToHost(dOut, aOut);
    CudaOpsParityTest.assertClose(
        t + " add_rms_norm residual", eRes, aRes, CudaOpsParityTest.tolerance(t));
    CudaOpsParityTest.assertClose(
        t + " add_rms_norm out", eOut, aOut, 2 * CudaOpsParityTest.tolerance(t));
  }
}
