// convert family: instantiations only (names and argument order are fixed by kernels/ABI.md).
#include "convert_impl.cuh"

#define LS_CONVERT_ENTRIES(NAME, T)                                                                            \
  extern "C" __global__ void __launch_bounds__(CONVERT_THREADS)                                                \
      f32_to_##NAME(const float* src, T* dst, long n) {                                                        \
    ls::convert<float, T>(src, dst, n);                                                                        \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(CONVERT_THREADS)                                                \
      NAME##_to_f32(const T* src, float* dst, long n) {                                                        \
    ls::convert<T, float>(src, dst, n);                                                                        \
  }

CONVERT_DTYPES(LS_CONVERT_ENTRIES)
