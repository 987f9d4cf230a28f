// attention family: the only list of what it supports.
//
// Dtypes: f16, bf16 for q, k, v, caches, out; scores, softmax and the weighted sum in fp32.
// Sizes: hd in ATTN_HEAD_DIMS (64, 128, 256); nh % nkv == 0 (any group size nh/nkv); any block_size
// >= 1; any context length. Caches [num_blocks, block_size, nkv, hd], 16-byte aligned.
//
// write_kv_T          grid = (M), block = ATTN_WRITE_THREADS, no smem. Rows with slot_mapping[t] < 0 are skipped
//                     (padding, as in vLLM).
// paged_attention_T   grid = (X, M) with X = nh (one query head per block, ABI.md's table) or X = nkv (one GQA
//                     group per block: each K/V row read once per group, recommended); any X that is a multiple
//                     of nkv and divides nh. block = 32*w threads, w <= ATTN_WARPS (128 or 256), static smem
//                     4 * (2 * ATTN_WARPS + ATTN_WARPS * ATTN_MAX_HEAD_DIM) B = 8.06 KiB.
//   Warp w takes positions w, w+warps, ... of 0..token_pos[t] with an online softmax per head; the warps'
//   (max, sum, acc) are merged through shared memory at the end. Prefill tokens use the same kernel (causal
//   over 0..pos).
#pragma once

#define ATTN_DTYPES(X) X(f16, __half) X(bf16, __nv_bfloat16)
#define ATTN_HEAD_DIMS(X) X(64) X(128) X(256)
#define ATTN_MAX_HEAD_DIM 256
#define ATTN_WARPS 8
#define ATTN_THREADS (32 * ATTN_WARPS)
#define ATTN_WRITE_THREADS 256
