// gemm family: instantiations only (names and argument order are fixed by kernels/ABI.md).
#include "gemm_impl.cuh"

#define LS_GEMM_ENTRIES(NAME, T)                                                                               \
  extern "C" __global__ void __launch_bounds__(GEMM_TC_THREADS)                                                \
      gemm_##NAME(const T* x, const T* w, const T* bias, T* y, int M, int N, int K) {                          \
    ls::gemm_tc<T>(x, w, bias, y, M, N, K);                                                                    \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(GEMM_SKINNY_THREADS)                                            \
      gemm_skinny_##NAME(const T* x, const T* w, const T* bias, T* y, int M, int N, int K) {                   \
    ls::gemm_skinny<T>(x, w, bias, y, M, N, K);                                                                \
  }

GEMM_DTYPES(LS_GEMM_ENTRIES)
