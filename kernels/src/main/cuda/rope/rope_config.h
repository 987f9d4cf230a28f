// rope family: the only list of what it supports.
//
// Dtypes: f16, bf16 for q and k; positions int32, inv_freq fp32; angles and rotation in fp32/fp64.
// Sizes: any M >= 1, nh >= 1, nkv >= 1, even hd >= 2.
//
// rope_T  grid = (M), block = ROPE_THREADS, no smem. One block per token; threads stride over the
//         (nh + nkv) * hd/2 rotation pairs.
#pragma once

#define ROPE_DTYPES(X) X(f16, __half) X(bf16, __nv_bfloat16)
#define ROPE_THREADS 128
