package dev.lorastream.engine.ops;

import static dev.lorastream.engine.ops.OpsTestData.activation;
import static dev.lorastream.engine.ops.OpsTestData.assertClose;
import static dev.lorastream.engine.ops.OpsTestData.random;
import static dev.lorastream.engine.ops.OpsTestData.read;
import static dev.lorastream.engine.ops.OpsTestData.tolerance;
import static dev.lorastream.engine.ops.OpsTestData.weight;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.ops.cpu.NativeCpu;
import dev.lorastream.engine.ops.cpu.NativeCpu.Kernel;
import dev.lorastream.engine.ops.ref.ReferenceOps;
import dev.lorastream.engine.tensor.DType;
import dev.lorastream.engine.tensor.HostTensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every dense op, the KV cache and paged attention of {@link CpuOps} against {@link ReferenceOps},
 * on random inputs with fixed seeds. Sizes are chosen to hit every code path: vector tails (not
 * multiples of 16 or 32), fewer than 4 weight rows, the direct (T ≤ 3) and tiled (T ≥ 4) matmul
 * paths, several k-blocks. Tolerances: {@link OpsTestData#tolerance}.
 */
class CpuOpsParityTest {
  private static final CpuOps CPU = new CpuOps(2);
  private static final ReferenceOps REF = new ReferenceOps();

  /** A backend per CPU kernel this machine runs ({@link NativeCpu#canRun}). */
  private static final Map<Kernel, CpuOps> KERNELS = new EnumMap<>(Kernel.class);

  static {
    for (Kernel k : Kernel.values()) {
      if (NativeCpu.canRun(k)) {
        KERNELS.put(k, new CpuOps(2, k));
      }
    }
  }

  @AfterAll
  static void close() {
    CPU.close();
    KERNELS.values().forEach(CpuOps::close);
  }

  @ParameterizedTest(name = "{0} T={1} in={2} out={3} bias={4}")
  @CsvSource({
    "F32, 1, 64, 128, false", "BF16, 1, 64, 128, true", "F16, 1, 64, 128, false",
    "F32, 1, 1000, 67, true", "BF16, 1, 1000, 67, false", "F16, 1, 1000, 67, true",
    "F32, 2, 33, 3, true", "BF16, 3, 33, 1, false", "BF16, 3, 97, 33, true",
    "F32, 4, 64, 4, false", "BF16, 5, 129, 7, true", "F32, 8, 31, 9, false",
    "F32, 37, 300, 130, true", "BF16, 37, 300, 130, true", "F16, 37, 300, 130, false",
    "F32, 64, 1100, 96, false", "BF16, 64, 1100, 96, true", "BF16, 130, 2048, 20, false",
  })
  void matmulMatchesReference(DType dtype, int tokens, int in, int out, boolean withBias) {
    SplittableRandom rnd = new SplittableRandom(tokens * 1000L + in + out);
    float[] x = random(rnd, tokens * in, 1f);
    HostTensor w = weight("w", dtype, random(rnd, out * in, 0.1f), out, in);
    HostTensor b = withBias ? weight("b", dtype, random(rnd, out, 1f), out) : null;
    float[] expected = matmul(REF, x, w, b, tokens, in, out);
    for (Kernel k : Kernel.values()) { // every kernel this machine runs: Java, native fma, bf16dot
      if (NativeCpu.canRun(k)) {
        assertClose(
            "matmul " + dtype + " on " + k,
            expected,
            matmul(KERNELS.get(k), x, w, b, tokens, in, out),
            tolerance(dtype, k));
      }
    }
  }

  private static float[] matmul(
      Ops ops, float[] x, HostTensor w, HostTensor b, int tokens, int in, int out) {
    Tensor y = ops.allocate(DType.F32, tokens, out);
    ops.matmul(activation(ops, x, tokens, in), ops.upload(w), b == null ? null : ops.upload(b), y);
    return read(ops, y);
  }

  /**
   * Each native kernel computes an output from the same operations whatever the number of tokens in
   * the call: a row's outputs are bit-identical alone and among others (a sequence decodes the same
   * tokens alone as in any batch).
   */
  @Test
  void eachKernelGivesARowTheSameBitsAloneAsInABatch() {
    SplittableRandom rnd = new SplittableRandom(11);
    int tokens = 13;
    int in = 200;
    int out = 22;
    float[] x = random(rnd, tokens * in, 1f);
    HostTensor w = weight("w", DType.BF16, random(rnd, out * in, 0.1f), out, in);
    for (Kernel k : Kernel.values()) {
      if (k == Kernel.VECTOR || !NativeCpu.canRun(k)) {
        continue;
      }
      float[] all = matmul(KERNELS.get(k), x, w, null, tokens, in, out);
      for (int t : new int[] {0, 5, 12}) {
        float[] row = java.util.Arrays.copyOfRange(x, t * in, (t + 1) * in);
        float[] alone = matmul(KERNELS.get(k), row, w, null, 1, in, out);
        assertArrayEquals(
            java.util.Arrays.copyOfRange(all, t * out, (t + 1) * out), alone, k + " row " + t);
      }
    }
  }

  @Test
  void matmulOverwritesOutputAndUsesMappedMemoryInPlace() {
    SplittableRandom rnd = new SplittableRandom(3);
    float[] x = random(rnd, 5 * 40, 1f);
    HostTensor w = weight("w", DType.BF16, random(rnd, 12 * 40, 1f), 12, 40);
    float[][] results = new float[2][];
    Ops[] backends = {REF, CPU};
    for (int i = 0; i < 2; i++) {
      Tensor y = activation(backends[i], random(new SplittableRandom(9), 5 * 12, 100f), 5, 12);
      backends[i].matmul(activation(backends[i], x, 5, 40), backends[i].upload(w), null, y);
      results[i] = read(backends[i], y);
    }
    assertClose("matmul into dirty y", results[0], results[1], tolerance(DType.BF16));
  }

  @ParameterizedTest(name = "{0} T={1} H={2}")
  @CsvSource({"F32, 1, 4096", "BF16, 3, 77", "F16, 37, 100", "F32, 5, 7"})
  void embedRmsNormAddSiluMulMatchReference(DType dtype, int tokens, int h) {
    SplittableRandom rnd = new SplittableRandom(h + tokens);
    int vocab = 50;
    HostTensor table = weight("table", dtype, random(rnd, vocab * h, 2f), vocab, h);
    HostTensor norm = weight("norm", dtype, random(rnd, h, 1.5f), h);
    int[] tokenIds = rnd.ints(tokens, 0, vocab).toArray();
    float[] other = random(rnd, tokens * h, 3f);
    float[] gate = random(rnd, tokens * h, 30f); // silu over a wide range, exp overflow included
    List<float[]> results = new ArrayList<>();
    for (Ops ops : new Ops[] {REF, CPU}) {
      Tensor e = ops.allocate(DType.F32, tokens, h);
      ops.embed(tokenIds, ops.upload(table), e);
      Tensor n = ops.allocate(DType.F32, tokens, h);
      ops.rmsNorm(e, ops.upload(norm), 1e-5f, n);
      ops.rmsNorm(e, ops.upload(norm), 1e-5f, e); // in place
      ops.add(n, activation(ops, other, tokens, h));
      Tensor s = ops.allocate(DType.F32, tokens, h);
      ops.siluMul(activation(ops, gate, tokens, h), n, s);
      results.add(read(ops, e));
      results.add(read(ops, n));
      results.add(read(ops, s));
    }
    assertClose("rmsNorm in place", results.get(0), results.get(3), tolerance(dtype));
    assertClose("rmsNorm + add", results.get(1), results.get(4), tolerance(dtype));
    assertClose("siluMul", results.get(2), results.get(5), tolerance(dtype));
  }

  @ParameterizedTest(name = "headDim={0}")
  @CsvSource({"64", "128", "6", "40"})
  void ropeMatchesReference(int headDim) {
    SplittableRandom rnd = new SplittableRandom(headDim);
    int tokens = 37;
    int nHeads = 4;
    int nKv = 2;
    float[] q = random(rnd, tokens * nHeads * headDim, 2f);
    float[] k = random(rnd, tokens * nKv * headDim, 2f);
    int[] positions = rnd.ints(tokens, 0, 4096).toArray();
    float[] invFreq = new float[headDim / 2];
    for (int i = 0; i < invFreq.length; i++) {
      invFreq[i] = (float) Math.pow(500000, -2.0 * i / headDim);
    }
    List<float[]> results = new ArrayList<>();
    for (Ops ops : new Ops[] {REF, CPU}) {
      Tensor qt = activation(ops, q, tokens, nHeads * headDim);
      Tensor kt = activation(ops, k, tokens, nKv * headDim);
      ops.rope(qt, kt, positions, invFreq, headDim);
      results.add(read(ops, qt));
      results.add(read(ops, kt));
    }
    assertClose("rope q", results.get(0), results.get(2), 1e-5);
    assertClose("rope k", results.get(1), results.get(3), 1e-5);
  }

  /**
   * Three sequences in shuffled, non-contiguous blocks of 4 positions; GQA 8 heads over 2 kv heads;
   * one call with a whole prefill (sequence 0, positions 0..12), a first token (sequence 1) and a
   * long decode (sequence 2 at position 29).
   */
  @ParameterizedTest(name = "headDim={0}")
  @CsvSource({"64", "40"})
  void writeKvAndPagedAttentionMatchReference(int headDim) {
    SplittableRandom rnd = new SplittableRandom(headDim * 31L);
    int blockSize = 4;
    int numBlocks = 24;
    int nHeads = 8;
    int nKv = 2;
    int maxBlocks = 8;
    int[] seqLen = {13, 1, 30};
    List<Integer> free = new ArrayList<>();
    for (int b = 0; b < numBlocks; b++) {
      free.add(b);
    }
    Collections.shuffle(free, new java.util.Random(5));
    int[] blockTables = new int[seqLen.length * maxBlocks];
    for (int s = 0, next = 0; s < seqLen.length; s++) {
      for (int b = 0; b < (seqLen[s] + blockSize - 1) / blockSize; b++) {
        blockTables[s * maxBlocks + b] = free.get(next++);
      }
    }
    // Every position of every sequence goes through writeKv (history and this step alike).
    int total = seqLen[0] + seqLen[1] + seqLen[2];
    int[] tokenSeq = new int[total];
    int[] tokenPos = new int[total];
    int[] slots = new int[total];
    for (int s = 0, t = 0; s < seqLen.length; s++) {
      for (int p = 0; p < seqLen[s]; p++, t++) {
        tokenSeq[t] = s;
        tokenPos[t] = p;
        slots[t] = blockTables[s * maxBlocks + p / blockSize] * blockSize + p % blockSize;
      }
    }
    float[] k = random(rnd, total * nKv * headDim, 1f);
    float[] v = random(rnd, total * nKv * headDim, 1f);
    // The step: all of sequence 0 (prefill), sequence 1's only token, sequence 2's last token.
    int[] stepRows = new int[seqLen[0] + 2];
    for (int i = 0; i < seqLen[0]; i++) {
      stepRows[i] = i;
    }
    stepRows[seqLen[0]] = seqLen[0];
    stepRows[seqLen[0] + 1] = total - 1;
    int tokens = stepRows.length;
    int[] stepSeq = new int[tokens];
    int[] stepPos = new int[tokens];
    for (int i = 0; i < tokens; i++) {
      stepSeq[i] = tokenSeq[stepRows[i]];
      stepPos[i] = tokenPos[stepRows[i]];
    }
    float[] q = random(rnd, tokens * nHeads * headDim, 3f);
    float scale = (float) (1 / Math.sqrt(headDim));
    List<float[]> results = new ArrayList<>();
    List<Ops> backends =
        new ArrayList<>(List.of(REF)); // then every CPU kernel (native attention too)
    backends.addAll(KERNELS.values());
    for (Ops ops : backends) {
      Tensor kc = ops.allocate(DType.F32, numBlocks, blockSize, nKv, headDim);
      Tensor vc = ops.allocate(DType.F32, numBlocks, blockSize, nKv, headDim);
      ops.writeKv(
          activation(ops, k, total, nKv * headDim),
          activation(ops, v, total, nKv * headDim),
          kc,
          vc,
          slots);
      Tensor out = ops.allocate(DType.F32, tokens, nHeads * headDim);
      ops.pagedAttention(
          activation(ops, q, tokens, nHeads * headDim),
          kc,
          vc,
          blockTables,
          maxBlocks,
          stepSeq,
          stepPos,
          nHeads,
          scale,
          out);
      results.add(read(ops, kc));
      results.add(read(ops, vc));
      results.add(read(ops, out));
    }
    for (int i = 1; i < backends.size(); i++) {
      String on = " on " + KERNELS.keySet().toArray()[i - 1];
      assertArrayEquals(results.get(0), results.get(3 * i), "k cache" + on);
      assertArrayEquals(results.get(1), results.get(3 * i + 1), "v cache" + on);
      assertClose("pagedAttention" + on, results.get(2), results.get(3 * i + 2), 1e-5);
    }
  }

  @Test
  void copyRowsAndWriteSlotMatchReference() {
    SplittableRandom rnd = new SplittableRandom(17);
    float[] src = random(rnd, 6 * 5, 1f);
    float[] slot = random(rnd, 3 * 7, 1f);
    List<float[]> results = new ArrayList<>();
    for (Ops ops : new Ops[] {REF, CPU}) {
      Tensor a = activation(ops, src, 6, 5);
      Tensor b = ops.allocate(DType.F32, 4, 5);
      ops.copyRows(a, 2, b, 1, 3);
      Tensor slots = ops.allocate(DType.BF16, 8, 7);
      ops.copyFromHost(
          random(new SplittableRandom(1), 8 * 7, 1f), slots); // rows outside stay as they are
      ops.writeRows(slots, 4, slot, 3, 0.5f);
      results.add(read(ops, b));
      results.add(read(ops, slots));
    }
    assertArrayEquals(results.get(0), results.get(2), "copyRows");
    assertArrayEquals(results.get(1), results.get(3), "writeRows into BF16");
  }
}
