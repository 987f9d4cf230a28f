// gemm family: the only list of what it supports.
//
// Dtypes: f16, bf16 (x, w, bias, y share the dtype); fp32 accumulation.
// Sizes: any M, N, K >= 1. The fast paths need K % 8 == 0 and 16-byte aligned x and w (128-bit loads);
// otherwise both kernels fall back to bounded scalar loads (correct, slower).
//
// gemm_T        tensor cores (WMMA 16x16x16 -> mma.sync m16n8k16), block tile BM x BN x BK, 8 warps of WM x WN.
//               grid = (ceil(N/64), ceil(M/64)), block = 256, static smem 18 KiB.
// gemm_skinny_T decode GEMV: one warp per output column n, up to GEMM_SKINNY_ROWS rows of x per pass.
//               grid = (ceil(N/GEMM_SKINNY_WARPS)), block = 32*GEMM_SKINNY_WARPS, no smem (any grid.x >= 1 is
//               correct: warps stride over n).
// Host rule: M <= GEMM_SKINNY_MAX_M -> gemm_skinny_T, else gemm_T. Both are correct for every M.
#pragma once

#define GEMM_DTYPES(X) X(f16, __half) X(bf16, __nv_bfloat16)

#define GEMM_TC_BM 64
#define GEMM_TC_BN 64
#define GEMM_TC_BK 32
#define GEMM_TC_PAD 8  // smem row = BK + 8 halves = 80 bytes: breaks bank conflicts, keeps 32-byte WMMA alignment
#define GEMM_TC_WARPS_M 2
#define GEMM_TC_WARPS_N 4
#define GEMM_TC_THREADS (32 * GEMM_TC_WARPS_M * GEMM_TC_WARPS_N)
#define GEMM_TC_WM (GEMM_TC_BM / GEMM_TC_WARPS_M)  // 32
#define GEMM_TC_WN (GEMM_TC_BN / GEMM_TC_WARPS_N)  // 16

#define GEMM_SKINNY_WARPS 8
#define GEMM_SKINNY_THREADS (32 * GEMM_SKINNY_WARPS)
#define GEMM_SKINNY_ROWS 16
#define GEMM_SKINNY_MAX_M 16
