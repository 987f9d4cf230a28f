// attention family templates: paged KV cache write and causal paged attention (decode and prefill).
#pragma once
#include <math.h>

#include <type_traits>

#include "../common/common.cuh"
#include "attention_config.h"

namespace ls {

/**
 * Semantics: k_cache[slot_mapping[t], :] = k[t, :], v_cache[slot_mapping[t], :] = v[t, :] with the caches
 * viewed as [num_blocks*block_size, kv_dim] (slot = block*block_size + offset); t with slot < 0 skipped.
 */
template <typename T>
__device__ __forceinline__ void write_kv(const T* __restrict__ k, const T* __restrict__ v, T* __restrict__ k_cache,
                                         T* __restrict__ v_cache, const int* __restrict__ slot_mapping, int M,
                                         int kv_dim) {
  const int t = blockIdx.x;
  if (t >= M) return;
  const long slot = slot_mapping[t];
  if (slot < 0) return;
  const bool vec = (kv_dim % 8 == 0) && aligned16(k) && aligned16(v) && aligned16(k_cache) && aligned16(v_cache);
  for (long i = threadIdx.x * 8; i < kv_dim; i += blockDim.x * 8) {
    float e[8];
    load8<T>(k + (long)t * kv_dim, i, kv_dim, vec, e);
    store8<T>(k_cache + slot * kv_dim, i, kv_dim, vec, e);
    load8<T>(v + (long)t * kv_dim, i, kv_dim, vec, e);
    store8<T>(v_cache + slot * kv_dim, i, kv_dim, vec, e);
  }
}

/** DPL consecutive elements p[0..DPL) as floats (one 4/8/16-byte load; p aligned to DPL elements). */
template <typename T, int DPL>
__device__ __forceinline__ void load_lane(const T* p, float out[DPL]) {
  static_assert(DPL == 2 || DPL == 4 || DPL == 8, "DPL");
  using Raw = typename std::conditional<DPL == 2, uint32_t, typename std::conditional<DPL == 4, uint2, uint4>::type>::type;
  const Raw raw = *reinterpret_cast<const Raw*>(p);
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int d = 0; d < DPL; ++d) out[d] = to_f<T>(e[d]);
}

/**
 * Semantics: out[t, h, :] = softmax_p(q[t,h,:]·K[s,p,kvh,:] · scale) · V[s,p,kvh,:] over p in 0..token_pos[t],
 * s = token_seq[t], kvh = h / (nh/nkv); position p lives in block block_tables[s*max_blocks + p/block_size]
 * at offset p % block_size. Lane l owns head dims [l*DPL, (l+1)*DPL), DPL = hd/32. One pass handles GM heads
 * of the group (GM*DPL = 32 registers each for q and acc); larger groups take several passes.
 */
template <typename T, int DPL, int GM>
__device__ __forceinline__ void paged_attention_group(const T* __restrict__ q, const T* __restrict__ k_cache,
                                                      const T* __restrict__ v_cache, const int* __restrict__ block_tables,
                                                      int max_blocks, const int* __restrict__ token_seq,
                                                      const int* __restrict__ token_pos, T* __restrict__ out, int nh,
                                                      int nkv, int block_size, float scale, int hb, int g0,
                                                      float* s_max, float* s_sum, float* s_acc) {
  constexpr int HD = 32 * DPL, G = GM;
  const int t = blockIdx.y;
  const int h0 = blockIdx.x * hb + g0;       // heads handled by this pass: h0 + [0, group)
  const int group = min(GM, hb - g0);
  const int kvh = h0 / (nh / nkv);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  const int seq = token_seq[t], len = token_pos[t] + 1;
  const int* table = block_tables + (long)seq * max_blocks;

  float qv[G][DPL], acc[G][DPL], m[G], l[G];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int d = 0; d < DPL; ++d) {
      acc[g][d] = 0.f;
      qv[g][d] = 0.f;
    }
    if (g < group) load_lane<T, DPL>(q + ((long)t * nh + h0 + g) * HD + lane * DPL, qv[g]);
  }

  for (int p = warp; p < len; p += warps) {
    const long row = ((long)table[p / block_size] * block_size + p % block_size) * nkv + kvh;  // cache row
    float kv[DPL], vv[DPL];
    load_lane<T, DPL>(k_cache + row * HD + lane * DPL, kv);
    load_lane<T, DPL>(v_cache + row * HD + lane * DPL, vv);
#pragma unroll
    for (int g = 0; g < G; ++g) {
      if (g < group) {
        float s = 0.f;
#pragma unroll
        for (int d = 0; d < DPL; ++d) s = fmaf(qv[g][d], kv[d], s);
        s = warp_sum(s) * scale;
        const float m_new = fmaxf(m[g], s);  // finite: s is
        const float corr = expf(m[g] - m_new), e = expf(s - m_new);
        l[g] = l[g] * corr + e;
#pragma unroll
        for (int d = 0; d < DPL; ++d) acc[g][d] = fmaf(acc[g][d], corr, e * vv[d]);
        m[g] = m_new;
      }
    }
  }

  // Merge the warps' partial softmaxes, one head of the group at a time.
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (g < group) {
      if (lane == 0) {
        s_max[warp] = m[g];
        s_sum[warp] = l[g];
      }
#pragma unroll
      for (int d = 0; d < DPL; ++d) s_acc[warp * HD + lane * DPL + d] = acc[g][d];
      __syncthreads();
      float mx = -INFINITY;
      for (int w = 0; w < warps; ++w) mx = fmaxf(mx, s_max[w]);
      for (int d = threadIdx.x; d < HD; d += blockDim.x) {
        float num = 0.f, den = 0.f;
        for (int w = 0; w < warps; ++w) {
          const float f = expf(s_max[w] - mx);  // 0 for warps that saw no position
          num = fmaf(s_acc[w * HD + d], f, num);
          den = fmaf(s_sum[w], f, den);
        }
        out[((long)t * nh + h0 + g) * HD + d] = from_f<T>(num / den);
      }
      __syncthreads();
    }
  }
}

template <typename T>
__device__ __forceinline__ void paged_attention(const T* q, const T* k_cache, const T* v_cache,
                                                const int* block_tables, int max_blocks, const int* token_seq,
                                                const int* token_pos, T* out, int M, int nh, int nkv, int hd,
                                                int block_size, float scale) {
  __shared__ float s_max[ATTN_WARPS], s_sum[ATTN_WARPS];  // per-warp running max and sum
  __shared__ float s_acc[ATTN_WARPS * ATTN_MAX_HEAD_DIM];  // [warps, hd] per-warp weighted sums
  // Block (x, t) serves query heads [x*hb, (x+1)*hb) of token t, hb = nh / gridDim.x: gridDim.x = nh (one head
  // per block) or nkv (the whole GQA group shares each K/V row read); any multiple of nkv dividing nh works.
  const int hb = nh / gridDim.x;
  if (blockIdx.y >= M || nh % nkv != 0 || nh % gridDim.x != 0 || (nh / nkv) % hb != 0 || blockDim.x > ATTN_THREADS)
    return;
  constexpr int LANE_REGS = 32;  // q (and acc) floats per lane per pass: GM * DPL
  switch (hd) {
#define LS_ATTN_CASE(HD)                                                                                       \
  case HD:                                                                                                     \
    for (int g0 = 0; g0 < hb; g0 += LANE_REGS / (HD / 32))                                               \
      paged_attention_group<T, HD / 32, LANE_REGS / (HD / 32)>(q, k_cache, v_cache, block_tables, max_blocks,  \
                                                               token_seq, token_pos, out, nh, nkv, block_size,  \
                                                               scale, hb, g0, s_max, s_sum, s_acc);                 \
    break;
    ATTN_HEAD_DIMS(LS_ATTN_CASE)
#undef LS_ATTN_CASE
    default:
      break;  // unsupported head size: the host wrapper rejects it before launch
  }
}

}  // namespace ls
