// embed family: instantiations only (names and argument order are fixed by kernels/ABI.md).
#include "embed_impl.cuh"

#define LS_EMBED_ENTRIES(NAME, T)                                                                              \
  extern "C" __global__ void __launch_bounds__(EMBED_THREADS)                                                  \
      embed_##NAME(const int* tokens, const T* table, T* out, int M, int H) {                                  \
    ls::embed<T>(tokens, table, out, M, H);                                                                    \
  }

EMBED_DTYPES(LS_EMBED_ENTRIES)
