// norm family templates.
#pragma once
#include "../common/common.cuh"
#include "norm_config.h"

namespace ls {

/**
 * Semantics: out[t,:] = x[t,:] / sqrt(mean(x[t,:]²) + eps) * w.  x, out [M,H] (out may be x), w [H].
 * When residual is non-null first residual[t,:] += x[t,:] (rounded to T) and the norm is taken of residual.
 */
template <typename T>
__device__ __forceinline__ void rms_norm_row(T* residual, const T* x,
                                             const T* __restrict__ w, T* out, int M, int H,
                                             float eps) {
  const int t = blockIdx.x;
  if (t >= M) return;
  const long base = (long)t * H;
  const bool vec = (H % 8 == 0) && aligned16(x) && aligned16(w) && aligned16(out) &&
                   (residual == nullptr || aligned16(residual));
  const T* src = residual ? residual + base : x + base;  // the tensor that is normalised  [H]
  float ss = 0.f;
  for (long i = threadIdx.x * 8; i < H; i += blockDim.x * 8) {
    float v[8];
    load8<T>(x + base, i, H, vec, v);
    if (residual) {
      float r[8];
      load8<T>(residual + base, i, H, vec, r);
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] = to_f<T>(from_f<T>(r[e] + v[e]));  // what residual will hold
      store8<T>(residual + base, i, H, vec, v);
    }
#pragma unroll
    for (int e = 0; e < 8; ++e)
      if (i + e < H) ss = fmaf(v[e], v[e], ss);
  }
  const float inv = 1.f / sqrtf(block_sum(ss) / H + eps);
  for (long i = threadIdx.x * 8; i < H; i += blockDim.x * 8) {
    float v[8], g[8];
    load8<T>(src, i, H, vec, v);  // same thread wrote these residual elements above
    load8<T>(w, i, H, vec, g);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = v[e] * inv * g[e];
    store8<T>(out + base, i, H, vec, v);
  }
}

}  // namespace ls
