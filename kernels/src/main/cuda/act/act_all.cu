// act family: instantiations only (names and argument order are fixed by kernels/ABI.md).
#include "act_impl.cuh"

#define LS_ACT_ENTRIES(NAME, T)                                                                                \
  extern "C" __global__ void __launch_bounds__(ACT_THREADS)                                                    \
      silu_mul_##NAME(const T* gate, const T* up, T* out, long n) {                                            \
    ls::silu_mul<T>(gate, up, out, n);                                                                         \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(ACT_THREADS) add_##NAME(T* acc, const T* x, long n) {           \
    ls::add<T>(acc, x, n);                                                                                     \
  }

ACT_DTYPES(LS_ACT_ENTRIES)
