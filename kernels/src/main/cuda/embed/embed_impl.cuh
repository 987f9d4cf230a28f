// embed family templates.
#pragma once
#include "../common/common.cuh"
#include "embed_config.h"

namespace ls {

/** Semantics: out[t,:] = table[tokens[t],:]. tokens [M], table [V,H], out [M,H]. */
template <typename T>
__device__ __forceinline__ void embed(const int* __restrict__ tokens, const T* __restrict__ table,
                                      T* __restrict__ out, int M, int H) {
  const int t = blockIdx.x;
  if (t >= M) return;
  const bool vec = (H % 8 == 0) && aligned16(table) && aligned16(out);
  const T* src = table + (long)tokens[t] * H;  // [H]
  T* dst = out + (long)t * H;                  // [H]
  for (long i = threadIdx.x * 8; i < H; i += blockDim.x * 8) {
    float v[8];
    load8<T>(src, i, H, vec, v);  // f16/bf16 -> f32 -> f16/bf16 is exact
    store8<T>(dst, i, H, vec, v);
  }
}

}  // namespace ls
