// Shared device helpers for every kernel family: dtype conversion, 8-wide (128-bit) loads and stores with a
// bounded scalar fallback, warp and block reductions. Part of every family's checksum (see PtxBuild.java).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

namespace ls {

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }

/** True when p may be read/written as uint4 (cudaMalloc/cuMemAlloc give 256-byte alignment). */
__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

/**
 * out[0..8) = p[i..i+8) as floats, zero beyond n. One 128-bit load when vec (caller guarantees p 16-byte
 * aligned and i % 8 == 0) and the 8 elements are in range; scalar bounded loads otherwise.
 */
template <typename T>
__device__ __forceinline__ void load8(const T* __restrict__ p, long i, long n, bool vec, float out[8]) {
  if (vec && i + 8 <= n) {
    uint4 raw = *reinterpret_cast<const uint4*>(p + i);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int k = 0; k < 8; ++k) out[k] = to_f<T>(e[k]);
  } else {
#pragma unroll
    for (int k = 0; k < 8; ++k) out[k] = (i + k < n) ? to_f<T>(p[i + k]) : 0.f;
  }
}

/** p[i..i+8) = v (rounded to T), elements at or beyond n untouched. Same vec rule as load8. */
template <typename T>
__device__ __forceinline__ void store8(T* __restrict__ p, long i, long n, bool vec, const float v[8]) {
  if (vec && i + 8 <= n) {
    uint4 raw;
    T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int k = 0; k < 8; ++k) e[k] = from_f<T>(v[k]);
    *reinterpret_cast<uint4*>(p + i) = raw;
  } else {
#pragma unroll
    for (int k = 0; k < 8; ++k)
      if (i + k < n) p[i + k] = from_f<T>(v[k]);
  }
}

template <typename V>
__device__ __forceinline__ V warp_sum(V v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/**
 * Sum over the block, returned to every thread. Deterministic (fixed tree). Needs blockDim.x a multiple of
 * 32 and ≤ 1024; contains __syncthreads, so every thread of the block must call it.
 */
template <typename V>
__device__ __forceinline__ V block_sum(V v) {
  __shared__ V partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  V total = partial[0];
  for (int w = 1; w < warps; ++w) total += partial[w];
  return total;
}

/**
 * Dot products of up to MT rows of x (row stride ldx) with one row w[0..K), by one warp; every lane gets the
 * sums in acc[0..rows). 128-bit loads of w and x when vec (K % 8 == 0, ldx % 8 == 0, both 16-byte aligned).
 * The decode-GEMV building block: bandwidth-bound on w, x rows come from L1/L2.
 */
template <typename T, int MT>
__device__ __forceinline__ void warp_dot_rows(const T* __restrict__ x, long ldx, int rows, const T* __restrict__ w,
                                              int K, bool vec, float acc[MT]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int m = 0; m < MT; ++m) acc[m] = 0.f;
  if (vec) {
#pragma unroll 4
    for (int k = lane * 8; k < K; k += 32 * 8) {
      float wv[8];
      load8<T>(w, k, K, true, wv);
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        if (m < rows) {
          float xv[8];
          load8<T>(x + m * ldx, k, K, true, xv);
#pragma unroll
          for (int e = 0; e < 8; ++e) acc[m] = fmaf(xv[e], wv[e], acc[m]);
        }
      }
    }
  } else {
    for (int k = lane; k < K; k += 32) {
      const float wv = to_f<T>(w[k]);
#pragma unroll
      for (int m = 0; m < MT; ++m)
        if (m < rows) acc[m] = fmaf(to_f<T>(x[m * ldx + k]), wv, acc[m]);
    }
  }
#pragma unroll
  for (int m = 0; m < MT; ++m) acc[m] = warp_sum(acc[m]);
}

}  // namespace ls
