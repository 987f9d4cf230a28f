package dev.lorastream.engine.ops.cuda;

/**
 * Grid and block of every kernel, computed from the shapes: the host half of the "Launch geometry" table in
 * {@code kernels/ABI.md} (the kernels assume exactly these). Pure functions, tested without a GPU.
 */
public final class LaunchGeometry {
  private LaunchGeometry() {}

  /** A launch shape: grid (x, y), 1-D block, no dynamic shared memory. */
  public record Launch(int gridX, int gridY, int block) {
    public Launch {
      if (gridX <= 0 || gridY <= 0 || block <= 0 || gridY > 65535) {
        throw new IllegalArgumentException(
            "no launch for grid=(" + gridX + ", " + gridY + ") block=" + block + " (gridY must be <= 65535)");
      }
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
  public static final int ROW_BLOCK = 256;
  public static final int ROPE_BLOCK = 128;
  public static final int ATTENTION_BLOCK = 128;
  public static final int ELEMENTWISE_BLOCK = 256;
  public static final int ELEMENTWISE_MAX_GRID = 65536;
  /** Largest LoRA rank any kernel handles (bgmv's shared buffer). */
  public static final int MAX_RANK = 64;
  /** The attention head sizes paged_attention_T has (it returns without writing for others). */
  public static final java.util.Set<Integer> HEAD_DIMS = java.util.Set.of(64, 128, 256);

  static int ceilDiv(long a, int b) {
    long q = (a + b - 1) / b;
    if (q > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("no launch for " + a + " elements in blocks of " + b + ": grid too large");
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

  /** sgmv_shrink: one warp per rank row, 8 per block, one block row per segment. */
  public static Launch sgmvShrink(int maxRank, int segments) {
    return new Launch(ceilDiv(maxRank, SHRINK_WARPS), segments, 32 * SHRINK_WARPS);
  }

  /** sgmv_expand: one thread per output column, one block row per segment. */
  public static Launch sgmvExpand(int out, int segments) {
    return new Launch(ceilDiv(out, EXPAND_BLOCK), segments, EXPAND_BLOCK);
  }

  /** bgmv, rms_norm, add_rms_norm, embed, write_kv, argmax, sample: one block per row. */
  public static Launch perRow(int rows) {
    return new Launch(rows, 1, ROW_BLOCK);
  }

  /** rope: one block of 128 per token. */
  public static Launch rope(int tokens) {
    return new Launch(tokens, 1, ROPE_BLOCK);
  }

  /** paged_attention: one block per (query head, token). */
  public static Launch pagedAttention(int nHeads, int tokens) {
    return new Launch(nHeads, tokens, ATTENTION_BLOCK);
  }

  /** silu_mul, add, converts: grid-stride loops, at most 65536 blocks. */
  public static Launch elementwise(long n) {
    return new Launch(Math.min(ceilDiv(n, ELEMENTWISE_BLOCK), ELEMENTWISE_MAX_GRID), 1, ELEMENTWISE_BLOCK);
  }
}
