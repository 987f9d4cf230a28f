// attention family: instantiations only (names and argument order are fixed by kernels/ABI.md).
#include "attention_impl.cuh"

#define LS_ATTN_ENTRIES(NAME, T)                                                                               \
  extern "C" __global__ void __launch_bounds__(ATTN_WRITE_THREADS)                                             \
      write_kv_##NAME(const T* k, const T* v, T* k_cache, T* v_cache, const int* slot_mapping, int M,          \
                      int kv_dim) {                                                                            \
    ls::write_kv<T>(k, v, k_cache, v_cache, slot_mapping, M, kv_dim);                                          \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(ATTN_THREADS, 2) paged_attention_##NAME(                           \
      const T* q, const T* k_cache, const T* v_cache, const int* block_tables, int max_blocks,                 \
      const int* token_seq, const int* token_pos, T* out, int M, int nh, int nkv, int hd, int block_size,      \
      float scale) {                                                                                           \
    ls::paged_attention<T>(q, k_cache, v_cache, block_tables, max_blocks, token_seq, token_pos, out, M, nh,    \
                           nkv, hd, block_size, scale);                                                        \
  }

ATTN_DTYPES(LS_ATTN_ENTRIES)
