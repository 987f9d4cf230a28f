// norm family: the only list of what it supports.
//
// Dtypes: f16, bf16 (x, w, residual, out share the dtype); sums of squares in fp32.
// Sizes: any M >= 1, H >= 1 (128-bit path when H % 8 == 0 and buffers 16-byte aligned).
//
// rms_norm_T, add_rms_norm_T  grid = (M), block = NORM_THREADS, smem 128 B (block reduction).
//   One block per row; each thread owns the same 8-element chunks in both passes, so out may alias x.
#pragma once

#define NORM_DTYPES(X) X(f16, __half) X(bf16, __nv_bfloat16)
#define NORM_THREADS 256
