package dev.lorastream.engine.ops.cuda;

/**
 * Grid and block of every kernel, computed from the shapes: the host half of the "Launch geometry"
 * table in {@code kernels/ABI.md} (the kernels assume exactly these). Pure functions, tested
 * without a GPU.
 */
public final class LaunchGeometry {
  private LaunchGeometry() {}

  /** A launch shape: grid (x, y, z), 1-D block, no dynamic shared memory. */
  public record Launch(int gridX, int gridY, int gridZ, int block) {
    public Launch {
      if (gridX <= 0 || gridY <= 0 || gridZ <= 0 || block <= 0 || gridY > 65535 || gridZ > 65535) {
        throw new IllegalArgumentException(
            "no launch for grid=("
                + gridX
                + ", "
                + gridY
                + ", "
                + gridZ
                + ") block="
                + block
                + " (gridY and gridZ must be <= 65535)");
      }
    }

    /** A 2-D grid. */
    public Launch(int gridX, int gridY, int block) {
      this(gridX, gridY, 1, block);
    }

    @Override
    public String toString() {
      return "grid=(" + gridX + "," + gridY + "," + gridZ + ") block=" + block;
    }
  }

  public static final int GEMM_BLOCK = 256;
  public static final int GEMM_TILE_M = 64;
  public static final int GEMM_TILE_N = 64;

  /** gemm_skinny_T for M ≤ this (kernels' GEMM_SKINNY_MAX_M), gemm_T above. */
  public static final int GEMM_SKINNY_MAX_M = 16;

  public static final int SKINNY_WARPS = 8;
  public static final int SHRINK_WARPS = 8;
  public static final int EXPAND_BLOCK = 256;

  /** Output columns one sgmv_expand block covers (8 per thread: LORA_EXPAND_COLS). */
  public static final int EXPAND_COLS = 8 * EXPAND_BLOCK;

  /** Tokens per chunk of sgmv_shrink (LORA_SHRINK_TOKENS) and sgmv_expand (LORA_EXPAND_TOKENS). */
  public static final int SHRINK_TOKENS = 8;

  public static final int EXPAND_TOKENS = 4;

  /** Most token chunks run side by side (grid z, LORA_MAX_Z). */
  public static final int LORA_MAX_Z = 1024;

  public static final int ROW_BLOCK = 256;
  public static final int ROPE_BLOCK = 128;

  /**
   * 8 warps: a block serves a whole GQA group, so more warps share its K/V reads (ATTN_THREADS).
   */
  public static final int ATTENTION_BLOCK = 256;

  public static final int ELEMENTWISE_BLOCK = 256;
  public static final int ELEMENTWISE_MAX_GRID = 65536;

  /** The attention head sizes paged_attention_T has (it returns without writing for others). */
  public static final java.util.Set<Integer> HEAD_DIMS = java.util.Set.of(64, 128, 256);

  static int ceilDiv(long a, int b) {
    long q = (a + b - 1) / b;
    if (q > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(
          "no launch for " + a + " elements in blocks of " + b + ": grid too large");
    }
    return (int) q;
  }

  /** gemm: y [M, N], one block per 64×64 tile. */
  public static Launch gemm(int m, int n) {
    return new Launch(ceilDiv(n, GEMM_TILE_N), ceilDiv(m, GEMM_TILE_M), GEMM_BLOCK);
  }

  /** gemm_skinny (M ≤ 16): one warp per output column, 8 per block. */
  public static Launch gemmSkinny(int n) {
    return new Launch(ceilDiv(n, SKINNY_WARPS), 1, 32 * SKINNY_WARPS);
  }

  /**
   * sgmv_shrink: one warp per rank row, 8 per block, one block row per segment, and the tokens of
   * the longest segment in chunks of 8 spread over grid z (a 512-token prefill segment is 64 chunks
   * side by side instead of one block walking them all).
   */
  public static Launch sgmvShrink(int maxRank, int segments, int maxSegmentLength) {
    return new Launch(
        ceilDiv(maxRank, SHRINK_WARPS),
        segments,
        chunks(maxSegmentLength, SHRINK_TOKENS),
        32 * SHRINK_WARPS);
  }

  /**
   * sgmv_expand: 2048 output columns per block (8 per thread), one block row per segment, token
   * chunks of 4 on z.
   */
  public static Launch sgmvExpand(int out, int segments, int maxSegmentLength) {
    return new Launch(
        ceilDiv(out, EXPAND_COLS), segments, chunks(maxSegmentLength, EXPAND_TOKENS), EXPAND_BLOCK);
  }

  private static int chunks(int tokens, int perChunk) {
    return Math.max(1, Math.min(ceilDiv(tokens, perChunk), LORA_MAX_Z));
  }

  /** The longest segment of {@code segStarts} (S + 1 boundaries), 0 when there is none. */
  public static int maxSegmentLength(int[] segStarts) {
    int max = 0;
    for (int i = 0; i + 1 < segStarts.length; i++) {
      max = Math.max(max, segStarts[i + 1] - segStarts[i]);
    }
    return max;
  }

  /** bgmv, rms_norm, add_rms_norm, embed, write_kv, argmax, sample: one block per row. */
  public static Launch perRow(int rows) {
    return new Launch(rows, 1, ROW_BLOCK);
  }

  /** rope: one block of 128 per token. */
  public static Launch rope(int tokens) {
    return new Launch(tokens, 1, ROPE_BLOCK);
  }

  /**
   * paged_attention: one block per (KV head, token), serving that KV head's whole GQA group of
   * query heads, so each K/V row is read once per group rather than once per query head.
   */
  public static Launch pagedAttention(int nKvHeads, int tokens) {
    return new Launch(nKvHeads, tokens, ATTENTION_BLOCK);
  }

  /** silu_mul, add, converts: grid-stride loops, at most 65536 blocks. */
  public static Launch elementwise(long n) {
    return new Launch(
        Math.min(ceilDiv(n, ELEMENTWISE_BLOCK), ELEMENTWISE_MAX_GRID), 1, ELEMENTWISE_BLOCK);
  }
}
