// act family templates (elementwise, memory-bound).
#pragma once
#include "../common/common.cuh"
#include "act_config.h"

namespace ls {

/** Semantics: out = silu(gate) * up, silu(g) = g / (1 + e^-g). gate, up, out [n] (out may alias either). */
template <typename T>
__device__ __forceinline__ void silu_mul(const T* gate, const T* up, T* out, long n) {
  const bool vec = aligned16(gate) && aligned16(up) && aligned16(out);
  for (long i = ((long)blockIdx.x * blockDim.x + threadIdx.x) * 8; i < n; i += (long)gridDim.x * blockDim.x * 8) {
    float g[8], u[8];
    load8<T>(gate, i, n, vec, g);
    load8<T>(up, i, n, vec, u);
#pragma unroll
    for (int e = 0; e < 8; ++e) g[e] = g[e] / (1.f + expf(-g[e])) * u[e];
    store8<T>(out, i, n, vec, g);
  }
}

/** Semantics: acc += x. acc, x [n]. */
template <typename T>
__device__ __forceinline__ void add(T* acc, const T* x, long n) {
  const bool vec = aligned16(acc) && aligned16(x);
  for (long i = ((long)blockIdx.x * blockDim.x + threadIdx.x) * 8; i < n; i += (long)gridDim.x * blockDim.x * 8) {
    float a[8], b[8];
    load8<T>(acc, i, n, vec, a);
    load8<T>(x, i, n, vec, b);
#pragma unroll
    for (int e = 0; e < 8; ++e) a[e] += b[e];
    store8<T>(acc, i, n, vec, a);
  }
}

}  // namespace ls
