// act family (elementwise): the only list of what it supports.
//
// Dtypes: f16, bf16; math in fp32. Sizes: any n >= 0 (long); 128-bit path when all buffers are 16-byte aligned.
//
// silu_mul_T, add_T  grid = (min(ceil(n / (8*ACT_THREADS)), ACT_MAX_BLOCKS)), block = ACT_THREADS, no smem.
//   Grid-stride over 8-element chunks: any grid.x >= 1 is correct.
#pragma once

#define ACT_DTYPES(X) X(f16, __half) X(bf16, __nv_bfloat16)
#define ACT_THREADS 256
#define ACT_MAX_BLOCKS 65535
