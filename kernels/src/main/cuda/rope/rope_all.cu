// rope family: instantiations only (names and argument order are fixed by kernels/ABI.md).
#include "rope_impl.cuh"

#define LS_ROPE_ENTRIES(NAME, T)                                                                               \
  extern "C" __global__ void __launch_bounds__(ROPE_THREADS) rope_##NAME(                                      \
      T* q, T* k, const int* positions, const float* inv_freq, int M, int nh, int nkv, int hd) {               \
    ls::rope<T>(q, k, positions, inv_freq, M, nh, nkv, hd);                                                    \
  }

ROPE_DTYPES(LS_ROPE_ENTRIES)
