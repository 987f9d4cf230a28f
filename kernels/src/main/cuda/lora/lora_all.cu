// lora family: instantiations only (names and argument order are fixed by kernels/ABI.md).
#include "lora_impl.cuh"

#define LS_LORA_ENTRIES(NAME, T)                                                                               \
  extern "C" __global__ void __launch_bounds__(LORA_SHRINK_THREADS)                                            \
      sgmv_shrink_##NAME(const T* x, const T* a, const int* ranks, const int* row_starts, const int* seg_starts, \
                         const int* seg_slots, int S, T* v, int in, int max_rank) {                             \
    ls::sgmv_shrink<T>(x, a, ranks, row_starts, seg_starts, seg_slots, S, v, in, max_rank);                    \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(LORA_EXPAND_THREADS)                                            \
      sgmv_expand_##NAME(const T* v, const T* bT, const int* ranks, const int* row_starts, const int* seg_starts, \
                         const int* seg_slots, int S, T* y, int out, int max_rank) {                            \
    ls::sgmv_expand<T>(v, bT, ranks, row_starts, seg_starts, seg_slots, S, y, out, max_rank);                  \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(LORA_EXPAND_THREADS)                                            \
      bgmv_##NAME(const T* x, const T* a, const T* bT, const int* ranks, const int* a_row_starts,             \
                  const int* b_row_starts, const int* row_slots, T* y, int M, int in, int out, int max_rank) {   \
    ls::bgmv<T>(x, a, bT, ranks, a_row_starts, b_row_starts, row_slots, y, M, in, out, max_rank);              \
  }

LORA_DTYPES(LS_LORA_ENTRIES)
