// gemm family templates. Semantics: y[m,n] = Σ_k x[m,k]·w[n,k] + bias[n]  (x [M,K], w [N,K], bias [N] or
// null, y [M,N] overwritten; fp32 accumulation, one rounding to T at the end).
#pragma once
#include <mma.h>

#include "../common/common.cuh"
#include "gemm_config.h"

namespace ls {

/** 8 consecutive elements of row `row` starting at column `col` as raw bits, zero outside [R, K). */
template <typename T>
__device__ __forceinline__ uint4 gemm_chunk(const T* __restrict__ p, int row, int R, int col, int K, bool vec) {
  uint4 r = make_uint4(0u, 0u, 0u, 0u);
  if (row >= R) return r;
  const T* src = p + (long)row * K + col;
  if (vec && col + 8 <= K) return *reinterpret_cast<const uint4*>(src);
  T* e = reinterpret_cast<T*>(&r);
#pragma unroll
  for (int k = 0; k < 8; ++k)
    if (col + k < K) e[k] = src[k];
  return r;
}

/**
 * Tensor-core GEMM for prefill-sized M. Block (bx, by) computes y[by*BM.., bx*BN..]; the next K tile is
 * fetched into registers while the current one is multiplied from shared memory.
 */
template <typename T>
__device__ __forceinline__ void gemm_tc(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                        T* __restrict__ y, int M, int N, int K) {
  using namespace nvcuda;
  constexpr int BM = GEMM_TC_BM, BN = GEMM_TC_BN, BK = GEMM_TC_BK, LD = BK + GEMM_TC_PAD;
  constexpr int WM = GEMM_TC_WM, WN = GEMM_TC_WN, FM = WM / 16, FN = WN / 16;
  constexpr int CPR = BK / 8;                              // 8-element chunks per tile row
  constexpr int XCH = BM * CPR / GEMM_TC_THREADS;          // chunks of x per thread per tile
  constexpr int WCH = BN * CPR / GEMM_TC_THREADS;          // chunks of w per thread per tile
  static_assert(XCH * GEMM_TC_THREADS == BM * CPR && WCH * GEMM_TC_THREADS == BN * CPR, "tile/threads mismatch");

  __shared__ __align__(128) T xs[BM * LD];                // [BM, BK] (+pad)
  __shared__ __align__(128) T ws[BN * LD];                // [BN, BK] (+pad), i.e. B col-major
  __shared__ __align__(128) float cs[GEMM_TC_THREADS / 32][16 * 16];  // per-warp epilogue staging

  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int wm = (warp / GEMM_TC_WARPS_N) * WM, wn = (warp % GEMM_TC_WARPS_N) * WN;
  const bool vec = (K % 8 == 0) && aligned16(x) && aligned16(w);

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  uint4 xr[XCH], wr[WCH];
  auto fetch = [&](int k0) {
#pragma unroll
    for (int c = 0; c < XCH; ++c) {
      const int idx = tid + c * GEMM_TC_THREADS, row = idx / CPR, col = (idx % CPR) * 8;
      xr[c] = gemm_chunk<T>(x, m0 + row, M, k0 + col, K, vec);
    }
#pragma unroll
    for (int c = 0; c < WCH; ++c) {
      const int idx = tid + c * GEMM_TC_THREADS, row = idx / CPR, col = (idx % CPR) * 8;
      wr[c] = gemm_chunk<T>(w, n0 + row, N, k0 + col, K, vec);
    }
  };

  fetch(0);
  for (int k0 = 0; k0 < K; k0 += BK) {
#pragma unroll
    for (int c = 0; c < XCH; ++c) {
      const int idx = tid + c * GEMM_TC_THREADS;
      *reinterpret_cast<uint4*>(&xs[(idx / CPR) * LD + (idx % CPR) * 8]) = xr[c];
    }
#pragma unroll
    for (int c = 0; c < WCH; ++c) {
      const int idx = tid + c * GEMM_TC_THREADS;
      *reinterpret_cast<uint4*>(&ws[(idx / CPR) * LD + (idx % CPR) * 8]) = wr[c];
    }
    __syncthreads();
    if (k0 + BK < K) fetch(k0 + BK);  // global loads in flight during the MMAs below
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) wmma::load_matrix_sync(a[i], &xs[(wm + i * 16) * LD + kk], LD);
#pragma unroll
      for (int j = 0; j < FN; ++j) wmma::load_matrix_sync(b[j], &ws[(wn + j * 16) * LD + kk], LD);
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

  // Epilogue: stage each 16x16 fragment in shared memory, add bias, round once, store in bounds.
#pragma unroll
  for (int i = 0; i < FM; ++i) {
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      wmma::store_matrix_sync(cs[warp], acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int gm = m0 + wm + i * 16 + e / 16, gn = n0 + wn + j * 16 + e % 16;
        if (gm < M && gn < N) {
          const float b = bias ? to_f<T>(bias[gn]) : 0.f;
          y[(long)gm * N + gn] = from_f<T>(cs[warp][e] + b);
        }
      }
      __syncwarp();
    }
  }
}

/** Skinny pass: rows [m0, m0+rows) of y for column n, rows ≤ MT. */
template <typename T, int MT>
__device__ __forceinline__ void gemm_skinny_pass(const T* __restrict__ x, const T* __restrict__ w,
                                                 const T* __restrict__ bias, T* __restrict__ y, int m0, int rows,
                                                 int n, int N, int K, bool vec) {
  float acc[MT];
  warp_dot_rows<T, MT>(x + (long)m0 * K, K, rows, w + (long)n * K, K, vec, acc);
  if ((threadIdx.x & 31) == 0) {
    const float b = bias ? to_f<T>(bias[n]) : 0.f;
#pragma unroll
    for (int m = 0; m < MT; ++m)
      if (m < rows) y[(long)(m0 + m) * N + n] = from_f<T>(acc[m] + b);
  }
}

/**
 * Decode GEMV: one warp per output column n (warps stride over N), reading w[n,:] once with 128-bit loads
 * for each group of up to GEMM_SKINNY_ROWS rows of x. Bound by the bandwidth of w.
 */
template <typename T>
__device__ __forceinline__ void gemm_skinny(const T* __restrict__ x, const T* __restrict__ w,
                                            const T* __restrict__ bias, T* __restrict__ y, int M, int N, int K) {
  const int warps = blockDim.x >> 5;
  const bool vec = (K % 8 == 0) && aligned16(x) && aligned16(w);
  for (int n = blockIdx.x * warps + (threadIdx.x >> 5); n < N; n += gridDim.x * warps) {
    for (int m0 = 0; m0 < M; m0 += GEMM_SKINNY_ROWS) {
      const int rows = min(GEMM_SKINNY_ROWS, M - m0);
      if (rows == 1) gemm_skinny_pass<T, 1>(x, w, bias, y, m0, rows, n, N, K, vec);
      else if (rows <= 2) gemm_skinny_pass<T, 2>(x, w, bias, y, m0, rows, n, N, K, vec);
      else if (rows <= 4) gemm_skinny_pass<T, 4>(x, w, bias, y, m0, rows, n, N, K, vec);
      else if (rows <= 8) gemm_skinny_pass<T, 8>(x, w, bias, y, m0, rows, n, N, K, vec);
      else gemm_skinny_pass<T, GEMM_SKINNY_ROWS>(x, w, bias, y, m0, rows, n, N, K, vec);
    }
  }
}

}  // namespace ls
