// convert family templates.
#pragma once
#include "../common/common.cuh"
#include "convert_config.h"

namespace ls {

/** Semantics: dst[i] = (D) src[i] for i < n. */
template <typename S, typename D>
__device__ __forceinline__ void convert(const S* __restrict__ src, D* __restrict__ dst, long n) {
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
    dst[i] = from_f<D>(to_f<S>(src[i]));
}

}  // namespace ls
