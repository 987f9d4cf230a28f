package dev.lorastream.engine.ops.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lorastream.engine.ops.cuda.LaunchGeometry.Launch;
import org.junit.jupiter.api.Test;

/** Exact grid and block numbers of the ABI's geometry table. */
class LaunchGeometryTest {

  @Test
  void gemmTilesOutputsBy64x64() {
    assertEquals(new Launch(64, 1, 256), LaunchGeometry.gemm(32, 4096)); // 7B decode, q_proj
    assertEquals(
        new Launch(172, 2, 256), LaunchGeometry.gemm(128, 11008)); // gate_proj at batch 128
    assertEquals(new Launch(500, 1, 256), LaunchGeometry.gemm(1, 32000)); // lm head
    assertEquals(new Launch(3, 2, 256), LaunchGeometry.gemm(65, 172)); // tiny, rounded up
  }

  @Test
  void gemmSkinnyIsOneWarpPerOutputColumn() {
    assertEquals(new Launch(512, 1, 256), LaunchGeometry.gemmSkinny(4096));
    assertEquals(new Launch(1376, 1, 256), LaunchGeometry.gemmSkinny(11008));
    assertEquals(new Launch(22, 1, 256), LaunchGeometry.gemmSkinny(172));
    assertEquals(16, LaunchGeometry.GEMM_SKINNY_MAX_M);
  }

  @Test
  void sgmvShrinkIsAWarpPerRankRowABlockRowPerSegmentAndTokenChunksOnZ() {
    assertEquals(
        new Launch(2, 32, 1, 256),
        LaunchGeometry.sgmvShrink(16, 32, 1)); // decode: a token per segment
    assertEquals(
        new Launch(8, 1, 64, 256),
        LaunchGeometry.sgmvShrink(64, 1, 512)); // prefill: 64 chunks of 8 on z
    assertEquals(new Launch(1, 5, 2, 256), LaunchGeometry.sgmvShrink(3, 5, 9));
    assertEquals(
        new Launch(2, 1, 1024, 256), LaunchGeometry.sgmvShrink(16, 1, 100_000)); // z capped
    assertEquals(
        new Launch(2, 3, 1, 256), LaunchGeometry.sgmvShrink(16, 3, 0)); // empty segments: z = 1
  }

  @Test
  void sgmvExpandIsEightColumnsPerThreadAndTokenChunksOnZ() {
    assertEquals(
        new Launch(2, 128, 1, 256),
        LaunchGeometry.sgmvExpand(4096, 128, 1)); // 2048 columns per block
    assertEquals(
        new Launch(6, 3, 128, 256), LaunchGeometry.sgmvExpand(11008, 3, 512)); // chunks of 4 on z
    assertEquals(new Launch(1, 1, 1, 256), LaunchGeometry.sgmvExpand(32, 1, 3));
    assertEquals(40, LaunchGeometry.maxSegmentLength(new int[] {0, 2, 42, 42, 50}));
    assertEquals(0, LaunchGeometry.maxSegmentLength(new int[] {0}));
  }

  @Test
  void perRowKernelsAttentionAndRope() {
    assertEquals(new Launch(128, 1, 256), LaunchGeometry.perRow(128));
    assertEquals(new Launch(77, 1, 128), LaunchGeometry.rope(77));
    assertEquals(
        new Launch(8, 64, 256),
        LaunchGeometry.pagedAttention(8, 64)); // GQA 32/8: a block per group
  }

  @Test
  void elementwiseIsCappedAndGridStrided() {
    assertEquals(new Launch(1, 1, 256), LaunchGeometry.elementwise(1));
    assertEquals(new Launch(1, 1, 256), LaunchGeometry.elementwise(256));
    assertEquals(new Launch(2, 1, 256), LaunchGeometry.elementwise(257));
    assertEquals(new Launch(1376, 1, 256), LaunchGeometry.elementwise(32L * 11008));
    assertEquals(new Launch(65536, 1, 256), LaunchGeometry.elementwise(7L << 30));
  }

  @Test
  void impossibleLaunchesNameTheirValues() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> LaunchGeometry.pagedAttention(32, 70000));
    assertTrue(e.getMessage().contains("70000"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> LaunchGeometry.perRow(0));
  }
}
