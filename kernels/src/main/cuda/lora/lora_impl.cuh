// lora family templates (Punica semantics; adapters in row buffers at their true rank: slot s owns rows
// row_starts[s] .. row_starts[s] + ranks[s] - 1 of a and bT; slot -1 = none).
#pragma once
#include "../common/common.cuh"
#include "lora_config.h"

namespace ls {

/**
 * Semantics: v[t, r] = Σ_i x[t,i]·a[row_starts[slot(t)] + r, i] for r < ranks[slot(t)], 0 elsewhere and for
 * slot −1. x [M,in], a [rows,in], v [M,max_rank] (overwritten for rows inside the segments).
 * Rows outside [seg_starts[0], seg_starts[S]) are not written: the host passes segments covering [0, M)
 * (slot −1 for gaps) or zeroes v.
 */
template <typename T>
__device__ __forceinline__ void sgmv_shrink(const T* __restrict__ x, const T* __restrict__ a,
                                            const int* __restrict__ ranks, const int* __restrict__ row_starts,
                                            const int* __restrict__ seg_starts, const int* __restrict__ seg_slots,
                                            int S, T* __restrict__ v, int in, int max_rank) {
  const int seg = blockIdx.y;
  const int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (seg >= S || r >= max_rank) return;
  const int start = seg_starts[seg], end = seg_starts[seg + 1], slot = seg_slots[seg];
  const int rank = slot >= 0 ? ranks[slot] : 0;
  const bool vec = (in % 8 == 0) && aligned16(x) && aligned16(a);
  const T* ar = a + ((long)(slot >= 0 ? row_starts[slot] : 0) + r) * in;  // [in], read only when r < rank
  for (int t0 = start + blockIdx.z * LORA_SHRINK_TOKENS; t0 < end; t0 += gridDim.z * LORA_SHRINK_TOKENS) {
    const int rows = min(LORA_SHRINK_TOKENS, end - t0);
    float acc[LORA_SHRINK_TOKENS];
    if (r < rank) {
      warp_dot_rows<T, LORA_SHRINK_TOKENS>(x + (long)t0 * in, in, rows, ar, in, vec, acc);
    } else {
#pragma unroll
      for (int m = 0; m < LORA_SHRINK_TOKENS; ++m) acc[m] = 0.f;
    }
    if ((threadIdx.x & 31) == 0) {
#pragma unroll
      for (int m = 0; m < LORA_SHRINK_TOKENS; ++m)
        if (m < rows) v[(long)(t0 + m) * max_rank + r] = from_f<T>(acc[m]);
    }
  }
}

/**
 * y[rows of the chunk, o0..o0+8) += Σ_{r<rank} vrow(m, r) · bT[r, o0..o0+8); vrow(m, r) gives v as float.
 * The expand building block shared by sgmv_expand and bgmv.
 */
template <typename T, int TM, typename VRow>
__device__ __forceinline__ void expand_cols(VRow vrow, int rows, const T* __restrict__ bs, int rank, int out,
                                            T* __restrict__ y, long o0, bool vec) {
  float acc[TM][8];
#pragma unroll
  for (int m = 0; m < TM; ++m)
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[m][e] = 0.f;
  for (int r = 0; r < rank; ++r) {
    float b[8];
    load8<T>(bs + (long)r * out, o0, out, vec, b);
#pragma unroll
    for (int m = 0; m < TM; ++m) {
      if (m < rows) {
        const float vv = vrow(m, r);
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[m][e] = fmaf(vv, b[e], acc[m][e]);
      }
    }
  }
#pragma unroll
  for (int m = 0; m < TM; ++m) {
    if (m < rows) {
      T* yr = y + (long)m * out;
      float yv[8];
      load8<T>(yr, o0, out, vec, yv);
#pragma unroll
      for (int e = 0; e < 8; ++e) yv[e] += acc[m][e];
      store8<T>(yr, o0, out, vec, yv);
    }
  }
}

/**
 * Semantics: y[t, o] += Σ_{r<ranks[slot(t)]} v[t,r]·bT[row_starts[slot(t)] + r, o]; nothing for slot −1.
 * v [M,max_rank], bT [rows,out], y [M,out].
 */
template <typename T>
__device__ __forceinline__ void sgmv_expand(const T* __restrict__ v, const T* __restrict__ bT,
                                            const int* __restrict__ ranks, const int* __restrict__ row_starts,
                                            const int* __restrict__ seg_starts, const int* __restrict__ seg_slots,
                                            int S, T* __restrict__ y, int out, int max_rank) {
  const int seg = blockIdx.y;
  if (seg >= S) return;
  const int slot = seg_slots[seg];
  if (slot < 0) return;
  const int start = seg_starts[seg], end = seg_starts[seg + 1], rank = ranks[slot];
  const bool vec = (out % 8 == 0) && aligned16(bT) && aligned16(y);
  const T* bs = bT + (long)row_starts[slot] * out;  // [rank, out]
  for (long o0 = ((long)blockIdx.x * blockDim.x + threadIdx.x) * 8; o0 < out; o0 += (long)gridDim.x * blockDim.x * 8) {
    for (int t0 = start + blockIdx.z * LORA_EXPAND_TOKENS; t0 < end; t0 += gridDim.z * LORA_EXPAND_TOKENS) {
      const int rows = min(LORA_EXPAND_TOKENS, end - t0);
      const T* vt = v + (long)t0 * max_rank;
      auto vrow = [&](int m, int r) { return to_f<T>(vt[(long)m * max_rank + r]); };
      expand_cols<T, LORA_EXPAND_TOKENS>(vrow, rows, bs, rank, out, y + (long)t0 * out, o0, vec);
    }
  }
}

/**
 * Semantics: y[t] += x[t] · A(s)ᵀ · B(s) with s = row_slots[t], A(s) the rows a_row_starts[s] ..
 * a_row_starts[s] + ranks[s] - 1 of a and B(s) the rows b_row_starts[s] .. of bT (a and bT may be row views of
 * one shared page pool, where an adapter's A and B rows start at different row numbers); nothing where s == −1. max_rank bounds every rank. The intermediate
 * v = x[t]·a[s]ᵀ stays fp32 (as the CPU twin rounds it to float, not to T).
 */
template <typename T>
__device__ __forceinline__ void bgmv(const T* __restrict__ x, const T* __restrict__ a, const T* __restrict__ bT,
                                     const int* __restrict__ ranks, const int* __restrict__ a_row_starts,
                                     const int* __restrict__ b_row_starts, const int* __restrict__ row_slots,
                                     T* __restrict__ y, int M, int in, int out,
                                     int max_rank) {
  __shared__ float vs[LORA_MAX_RANK];  // [rank] fp32
  const int t = blockIdx.x;
  if (t >= M || max_rank > LORA_MAX_RANK) return;
  const int slot = row_slots[t];
  if (slot < 0) return;  // uniform over the block: no barrier is skipped by part of it
  const int rank = ranks[slot];
  const long row0 = a_row_starts[slot];
  const long brow0 = b_row_starts[slot];
  const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5;
  const bool vec_in = (in % 8 == 0) && aligned16(x) && aligned16(a);
  for (int r = warp; r < rank; r += warps) {
    float acc[1];
    warp_dot_rows<T, 1>(x + (long)t * in, in, 1, a + (row0 + r) * in, in, vec_in, acc);
    if ((threadIdx.x & 31) == 0) vs[r] = acc[0];
  }
  __syncthreads();
  const bool vec_out = (out % 8 == 0) && aligned16(bT) && aligned16(y);
  auto vrow = [&](int, int r) { return vs[r]; };
  for (long o0 = ((long)blockIdx.y * blockDim.x + threadIdx.x) * 8; o0 < out; o0 += (long)gridDim.y * blockDim.x * 8)
    expand_cols<T, 1>(vrow, 1, bT + brow0 * out, rank, out, y + (long)t * out, o0, vec_out);
}

}  // namespace ls
