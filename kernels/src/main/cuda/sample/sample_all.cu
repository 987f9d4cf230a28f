// sample family: instantiations only (names and argument order are fixed by kernels/ABI.md).
#include "sample_impl.cuh"

#define LS_SAMPLE_ENTRIES(NAME, T)                                                                             \
  extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS) argmax_##NAME(const T* logits, int* out, int R, \
                                                                             int V) {                          \
    if (blockIdx.x >= R) return;                                                                               \
    const int id = ls::argmax_row<T>(logits + (long)blockIdx.x * V, V);                                        \
    if (threadIdx.x == 0) out[blockIdx.x] = id;                                                                \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS)                                                 \
      sample_##NAME(const T* logits, const float* temperature, const int* top_k, const float* top_p,           \
                    const unsigned long long* seed, const int* step, int* out, int R, int V) {                 \
    ls::sample_row<T>(logits, temperature, top_k, top_p, seed, step, out, R, V);                               \
  }

SAMPLE_DTYPES(LS_SAMPLE_ENTRIES)
