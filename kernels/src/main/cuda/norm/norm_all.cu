// norm family: instantiations only (names and argument order are fixed by kernels/ABI.md).
#include "norm_impl.cuh"

#define LS_NORM_ENTRIES(NAME, T)                                                                               \
  extern "C" __global__ void __launch_bounds__(NORM_THREADS)                                                   \
      rms_norm_##NAME(const T* x, const T* w, T* out, int M, int H, float eps) {                               \
    ls::rms_norm_row<T>(nullptr, x, w, out, M, H, eps);                                                        \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(NORM_THREADS)                                                   \
      add_rms_norm_##NAME(T* residual, const T* x, const T* w, T* out, int M, int H, float eps) {              \
    ls::rms_norm_row<T>(residual, x, w, out, M, H, eps);                                                       \
  }

NORM_DTYPES(LS_NORM_ENTRIES)
