// rope family templates.
#pragma once
#include "../common/common.cuh"
#include "rope_config.h"

namespace ls {

/**
 * Semantics (rotate-half, in place): for i < hd/2, angle = (float)pos[t] * inv_freq[i] (fp32, as the CPU twin),
 * (x[i], x[i+hd/2]) ← (x[i]·cos − x[i+hd/2]·sin, x[i+hd/2]·cos + x[i]·sin) for every head of q [M,nh*hd]
 * and k [M,nkv*hd]. cos/sin in fp64 so the large angles of long positions match the CPU.
 */
template <typename T>
__device__ __forceinline__ void rope(T* __restrict__ q, T* __restrict__ k, const int* __restrict__ positions,
                                     const float* __restrict__ inv_freq, int M, int nh, int nkv, int hd) {
  const int t = blockIdx.x;
  if (t >= M) return;
  const int half = hd / 2;
  const float pos = (float)positions[t];
  const int pairs = (nh + nkv) * half;
  for (int j = threadIdx.x; j < pairs; j += blockDim.x) {
    const int head = j / half, i = j % half;
    T* xh = head < nh ? q + ((long)t * nh + head) * hd : k + ((long)t * nkv + (head - nh)) * hd;  // [hd]
    const float angle = __fmul_rn(pos, inv_freq[i]);
    double s, c;
    sincos((double)angle, &s, &c);
    const double x0 = to_f<T>(xh[i]), x1 = to_f<T>(xh[i + half]);
    xh[i] = from_f<T>((float)(x0 * c - x1 * s));
    xh[i + half] = from_f<T>((float)(x1 * c + x0 * s));
  }
}

}  // namespace ls
