// embed family: the only list of what it supports.
//
// Dtypes: f16, bf16 (table and out share the dtype; the copy is exact). Sizes: any M >= 1, H >= 1,
// tokens[t] in [0, V) (checked by the host; the kernel does not know V).
//
// embed_T  grid = (M), block = EMBED_THREADS, no smem. One block per token row; 128-bit copies when
//          H % 8 == 0 and buffers 16-byte aligned.
#pragma once

#define EMBED_DTYPES(X) X(f16, __half) X(bf16, __nv_bfloat16)
#define EMBED_THREADS 256
