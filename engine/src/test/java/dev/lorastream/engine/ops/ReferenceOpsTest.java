package dev.lorastream.engine.ops;

import static dev.lorastream.engine.ops.OpsTestData.activation;
import static dev.lorastream.engine.ops.OpsTestData.read;
import static dev.lorastream.engine.ops.OpsTestData.weight;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.ops.cpu.CpuOps;
import dev.lorastream.engine.ops.ref.ReferenceOps;
import dev.lorastream.engine.tensor.DType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The control itself against values worked out by hand, so the parity tests do not just trust it;
 * and the boundary checks of both CPU backends, whose messages must name the values.
 */
class ReferenceOpsTest {
  private static final ReferenceOps REF = new ReferenceOps();
  private static final CpuOps CPU = new CpuOps(2);

  @AfterAll
  static void close() {
    CPU.close();
  }

  @Test
  void matmul2x2IsXTimesWTransposedPlusBias() {
    Tensor y = REF.allocate(DType.F32, 2, 2);
    // x = [[1,2],[3,4]], w = [[5,6],[7,8]]: y[t,o] = x[t]·w[o] + bias[o]
    REF.matmul(
        activation(REF, new float[] {1, 2, 3, 4}, 2, 2),
        REF.upload(weight("w", DType.BF16, new float[] {5, 6, 7, 8}, 2, 2)),
        REF.upload(weight("b", DType.F32, new float[] {1, -1}, 2)),
        y);
    assertArrayEquals(new float[] {18, 22, 40, 52}, read(REF, y));
  }

  @Test
  void rmsNormOf3And4() {
    // mean(9, 16) = 12.5, so x / sqrt(12.5) = (0.8485281, 1.1313709); weight (1, 2)
    Tensor out = REF.allocate(DType.F32, 1, 2);
    REF.rmsNorm(
        activation(REF, new float[] {3, 4}, 1, 2),
        REF.upload(weight("n", DType.F32, new float[] {1, 2}, 2)),
        0f,
        out);
    assertArrayEquals(new float[] {0.8485281f, 2.2627417f}, read(REF, out), 1e-7f);
  }

  @Test
  void ropeRotatesByPositionTimesFrequency() {
    // headDim 2, invFreq 1: position 1 rotates by 1 radian; position 0 leaves the vector alone.
    Tensor q = activation(REF, new float[] {1, 0, 1, 0}, 2, 2);
    Tensor k = activation(REF, new float[] {0, 1, 0, 1}, 2, 2);
    REF.rope(q, k, new int[] {1, 0}, new float[] {1f}, 2);
    float c = (float) Math.cos(1);
    float s = (float) Math.sin(1);
    assertArrayEquals(new float[] {c, s, 1, 0}, read(REF, q), 1e-7f);
    assertArrayEquals(new float[] {-s, c, 0, 1}, read(REF, k), 1e-7f);
  }

  @Test
  void siluMulOfZeroIsZeroAndOfOneIsSigmoidOfOne() {
    Tensor out = REF.allocate(DType.F32, 1, 2);
    REF.siluMul(
        activation(REF, new float[] {0, 1}, 1, 2), activation(REF, new float[] {5, 2}, 1, 2), out);
    assertArrayEquals(new float[] {0f, (float) (2 / (1 + Math.exp(-1)))}, read(REF, out), 1e-7f);
  }

  @Test
  void attentionOverTwoPositionsIsTheirSoftmaxWeightedValues() {
    // q = (1, 0); keys (1, 0), (0, 1): scores (1, 0), weights (e, 1) / (e + 1); values (1, 2), (3,
    // 4).
    Tensor kc = REF.allocate(DType.F32, 1, 2, 1, 2);
    Tensor vc = REF.allocate(DType.F32, 1, 2, 1, 2);
    REF.writeKv(
        activation(REF, new float[] {1, 0, 0, 1}, 2, 2),
        activation(REF, new float[] {1, 2, 3, 4}, 2, 2),
        kc,
        vc,
        new int[] {0, 1});
    Tensor out = REF.allocate(DType.F32, 1, 2);
    REF.pagedAttention(
        activation(REF, new float[] {1, 0}, 1, 2),
        kc,
        vc,
        new int[] {0},
        1,
        new int[] {0},
        new int[] {1},
        1,
        1f,
        out);
    double e = Math.E;
    assertArrayEquals(
        new float[] {(float) ((e + 3) / (e + 1)), (float) ((2 * e + 4) / (e + 1))},
        read(REF, out),
        1e-6f);
  }

  @Test
  void loraShrinkThenExpandAddsXAB() {
    // x = (1, 2); slot 0: a = (1, 1) (rank 1, in row 3), bT = (2, 3): v = 3, y += (6, 9).
    // Slot 1 has rank 0. Rows 0-2 hold other data that must not be read.
    Tensor a = REF.allocate(DType.F32, 4, 2);
    Tensor bT = REF.allocate(DType.F32, 4, 2);
    REF.copyFromHost(new float[] {9, 9, 9, 9, 9, 9, 0, 0}, a);
    REF.copyFromHost(new float[] {9, 9, 9, 9, 9, 9, 0, 0}, bT);
    REF.writeRows(a, 3, new float[] {1, 1}, 1, 1f);
    REF.writeRows(bT, 3, new float[] {1, 1.5f}, 1, 2f);
    Tensor v = REF.allocate(DType.F32, 2, 2);
    int[] ranks = {1, 0};
    int[] rows = {3, 0};
    REF.sgmvShrink(
        activation(REF, new float[] {1, 2, 5, 5}, 2, 2),
        a,
        ranks,
        rows,
        new int[] {0, 1, 2},
        new int[] {0, -1},
        v);
    assertArrayEquals(new float[] {3, 0, 0, 0}, read(REF, v));
    Tensor y = activation(REF, new float[] {1, 1, 1, 1}, 2, 2);
    REF.sgmvExpand(v, bT, ranks, rows, new int[] {0, 1, 2}, new int[] {0, -1}, y);
    assertArrayEquals(new float[] {7, 10, 1, 1}, read(REF, y));
  }

  @Test
  void shapeErrorsNameTheValues() {
    for (Ops ops : new Ops[] {REF, CPU}) {
      Tensor x = ops.allocate(DType.F32, 3, 64);
      Tensor w = ops.allocate(DType.F32, 128, 96);
      Tensor y = ops.allocate(DType.F32, 3, 128);
      var e = assertThrows(IllegalArgumentException.class, () -> ops.matmul(x, w, null, y));
      assertEquals(
          "matmul: x F32[3, 64] and w F32[128, 96] disagree on in (64 vs 96)", e.getMessage());
      Tensor a = ops.allocate(DType.F32, 8, 64);
      Tensor v = ops.allocate(DType.F32, 3, 4);
      int[] rows = {0, 4};
      e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  ops.sgmvShrink(x, a, new int[] {4, 4}, rows, new int[] {0, 3}, new int[] {2}, v));
      assertTrue(
          e.getMessage().contains("segSlots[0] = 2 is out of range [-1, 2)"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  ops.sgmvShrink(x, a, new int[] {5, 4}, rows, new int[] {0, 3}, new int[] {0}, v));
      assertTrue(e.getMessage().contains("ranks[0] = 5 is outside [0, maxRank=4]"), e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  ops.sgmvShrink(
                      x,
                      a,
                      new int[] {4, 4},
                      new int[] {0, 5},
                      new int[] {0, 3},
                      new int[] {1},
                      v));
      assertEquals(
          "sgmvShrink: slot 1 has rows [5, 9) outside the 8 rows of its buffer", e.getMessage());
      e =
          assertThrows(
              IllegalArgumentException.class,
              () -> ops.rope(x, x, new int[] {0, 1, 2}, new float[3], 5));
      assertTrue(e.getMessage().contains("headDim = 5"), e.getMessage());
      e = assertThrows(IllegalArgumentException.class, () -> ops.embed(new int[] {0, 7, 1}, w, y));
      assertTrue(e.getMessage().contains("disagree on H (96 vs 128)"), e.getMessage());
    }
  }

  @Test
  void dtypeErrorsNameTheTrueDTypeAndTheBackendsContract() {
    for (Ops ops : new Ops[] {REF, CPU}) {
      Tensor x = ops.allocate(DType.BF16, 2, 4);
      Tensor y = ops.allocate(DType.F32, 2, 4);
      var e = assertThrows(IllegalArgumentException.class, () -> ops.add(y, x));
      assertEquals("add: x BF16[2, 4] has dtype BF16, expected F32 (activations)", e.getMessage());
    }
    // the CPU's LoRA kernels read B slots in F32 only; the control reads any dtype
    Tensor bT = CPU.allocate(DType.BF16, 8, 8);
    var e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                CPU.sgmvExpand(
                    CPU.allocate(DType.F32, 1, 4),
                    bT,
                    new int[] {4, 4},
                    new int[] {0, 4},
                    new int[] {0, 1},
                    new int[] {0},
                    CPU.allocate(DType.F32, 1, 8)));
    assertEquals(
        "sgmvExpand: bT BF16[8, 8] has dtype BF16, expected F32 (adapter B rows)", e.getMessage());
  }

  @Test
  void cpuRejectsTensorsOfAnotherBackend() {
    Tensor foreign = new Tensor(DType.F32, 1, 4) {};
    Tensor y = CPU.allocate(DType.F32, 1, 4);
    var e = assertThrows(IllegalArgumentException.class, () -> CPU.add(y, foreign));
    assertTrue(e.getMessage().startsWith("add: x is "), e.getMessage());
  }
}
