package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.ops.ref.ReferenceOps;
import dev.lorastream.engine.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** The host-side boundary of the CUDA backend, without a GPU: every refusal names the values. */
class CudaChecksTest {
  private static final DType T = DType.BF16;

  /** A tensor with its own (fake) pool block: shapes and dtypes only, never launched. */
  static CudaTensor t(DType dtype, int... shape) {
    long bytes = dev.lorastream.engine.tensor.HostTensor.numel(shape) * dtype.bytes();
    return new CudaTensor(dtype, shape, new CudaTensor.Block("test", 0, bytes), 0);
  }

  static void assertNames(Executable call, String... parts) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    for (String p : parts) {
      assertTrue(e.getMessage().contains(p), "'" + e.getMessage() + "' should name " + p);
    }
  }

  @Test
  void matmulNamesOddWidthsMixedDTypesAndShapes() {
    assertDoesNotThrow(() -> CudaChecks.matmul(t(T, 4, 64), t(T, 172, 64), null, t(T, 4, 172), T));
    assertNames(
        () -> CudaChecks.matmul(t(T, 4, 65), t(T, 8, 65), null, t(T, 4, 8), T),
        "K=65",
        "dtype=bf16");
    assertNames(
        () -> CudaChecks.matmul(t(T, 4, 64), t(DType.F16, 8, 64), null, t(T, 4, 8), T),
        "matmul: w F16[8, 64] has dtype F16, expected BF16 (weights)");
    assertNames(
        () -> CudaChecks.matmul(t(T, 4, 64), t(T, 8, 32), null, t(T, 4, 8), T), "in", "64 vs 32");
  }

  @Test
  void loraRanksAboveTheKernelLimitAreRefusedAtTheBoundary() {
    int[] one = {0, 3};
    assertNames(
        () ->
            CudaChecks.sgmvShrink(
                t(T, 3, 4096),
                t(T, 2 * 257, 4096),
                new int[] {257, 8},
                new int[] {0, 257},
                one,
                new int[] {0},
                t(T, 3, 257),
                T),
        "sgmvShrink: no kernel for in=4096 maxRank=257 dtype=bf16 (maxRank must be <= 256)");
    assertNames(
        () ->
            CudaChecks.bgmv(
                t(T, 3, 64),
                t(T, 600, 64),
                t(T, 600, 64),
                new int[] {300, 8},
                new int[] {0, 300},
                new int[] {0, 300},
                new int[] {0, 1, -1},
                t(T, 3, 64),
                T),
        "ranks[0] = 300 is outside [0, maxRank=256]");
    assertDoesNotThrow(
        () ->
            CudaChecks.sgmvExpand(
                t(T, 3, 256),
                t(T, 2 * 256, 172),
                new int[] {256, 3},
                new int[] {0, 256},
                one,
                new int[] {1},
                t(T, 3, 172),
                T));
  }

  @Test
  void loraSegmentMetadataIsCheckedLikeOnTheCpu() {
    assertNames(
        () ->
            CudaChecks.sgmvShrink(
                t(T, 3, 64),
                t(T, 32, 64),
                new int[] {16, 17},
                new int[] {0, 16},
                new int[] {0, 3},
                new int[] {0},
                t(T, 3, 16),
                T),
        "ranks[1] = 17");
    assertNames(
        () ->
            CudaChecks.sgmvShrink(
                t(T, 3, 64),
                t(T, 32, 64),
                new int[] {16, 8},
                new int[] {0, 16},
                new int[] {0, 3},
                new int[] {2},
                t(T, 3, 16),
                T),
        "segSlots[0] = 2");
    assertNames(
        () ->
            CudaChecks.sgmvShrink(
                t(T, 3, 64),
                t(T, 32, 64),
                new int[] {16, 8},
                new int[] {0, 28},
                new int[] {0, 3},
                new int[] {1},
                t(T, 3, 16),
                T),
        "slot 1 has rows [28, 36) outside the 32 rows of its buffer");
  }

  @Test
  void attentionNamesHeadDimAndGqaMismatch() {
    int[] bt = {0};
    int[] seq = {0};
    int[] pos = {0};
    assertNames(
        () ->
            CudaChecks.pagedAttention(
                t(T, 1, 2 * 512),
                t(T, 4, 16, 1, 512),
                t(T, 4, 16, 1, 512),
                bt,
                1,
                seq,
                pos,
                2,
                t(T, 1, 2 * 512),
                T),
        "headDim=512",
        "nHeads=2",
        "dtype=bf16",
        "[64, 128, 256]");
    assertNames(
        () ->
            CudaChecks.pagedAttention(
                t(T, 1, 2 * 16),
                t(T, 4, 16, 1, 16),
                t(T, 4, 16, 1, 16),
                bt,
                1,
                seq,
                pos,
                2,
                t(T, 1, 2 * 16),
                T),
        "headDim=16");
    assertNames(
        () ->
            CudaChecks.pagedAttention(
                t(T, 1, 3 * 64),
                t(T, 4, 16, 2, 64),
                t(T, 4, 16, 2, 64),
                bt,
                1,
                seq,
                pos,
                3,
                t(T, 1, 3 * 64),
                T),
        "nHeads = 3",
        "nKv = 2");
  }

  @Test
  void normsEmbedRopeKvAndSlots() {
    assertNames(() -> CudaChecks.rmsNorm(t(T, 2, 63), t(T, 63), t(T, 2, 63), T), "H=63");
    assertNames(
        () -> CudaChecks.embed(new int[] {5, 600}, t(T, 512, 64), t(T, 2, 64), T),
        "tokens[1] = 600");
    assertNames(
        () -> CudaChecks.rope(t(T, 2, 64), t(T, 2, 32), new int[] {0, 1}, new float[7], 16, T),
        "invFreq.length",
        "is 7, expected 8");
    assertNames(
        () ->
            CudaChecks.writeKv(
                t(T, 1, 32), t(T, 1, 32), t(T, 2, 4, 2, 16), t(T, 2, 4, 2, 16), new int[] {8}, T),
        "slotMapping[0] = 8");
    assertNames(
        () -> CudaChecks.writeRows(t(T, 64, 64), 62, new float[3 * 64], 3, T),
        "writeRows: rows [62, 65) are outside the 64 rows of dst");
    assertNames(
        () -> CudaChecks.writeRows(t(DType.F16, 64, 64), 0, new float[0], 0, T),
        "writeRows: dst F16[64, 64] has dtype F16, expected BF16 (adapter rows)");
    assertNames(
        () -> CudaChecks.elementwise("add", "acc", t(T, 2, 8), "x", t(T, 2, 9), T),
        "acc",
        "[2, 9]");
  }

  @Test
  void anotherBackendsTensorIsRefusedByName() {
    assertNames(
        () -> CudaTensor.of(new ReferenceOps().allocate(DType.F32, 2, 3), "matmul", "x"),
        "matmul",
        "x",
        "RefTensor",
        "F32[2, 3]",
        "cuda backend");
  }

  @Test
  void rowViewsOffsetByWholeRows() {
    CudaTensor x = t(T, 8, 172);
    CudaTensor v = x.rowRange(3, 2);
    assertTrue(v.byteOffset() == 3 * 172 * 2 && v.dim(0) == 2 && v.dim(1) == 172);
    assertNames(() -> x.rowRange(7, 2), "[7, 9)");
  }

  @Test
  void launchArgumentsArePackedOnlyWhenTheyMatchTheAbi() {
    assertDoesNotThrow(() -> CudaKernels.checkArgs(CudaKernel.ADD, T, null, null, 5L));
    assertNames(
        () -> CudaKernels.checkArgs(CudaKernel.ADD, T, null, null, 5),
        "add_bf16",
        "argument 2",
        "'l'");
    assertNames(
        () -> CudaKernels.checkArgs(CudaKernel.GEMM, T, null, null),
        "gemm_bf16",
        "2 arguments",
        "7");
  }

  @Test
  void f32HasNoKernels() {
    assertNames(() -> CudaKernel.GEMM.symbol(DType.F32), "dtype=f32");
  }
}
