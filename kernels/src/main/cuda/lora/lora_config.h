// lora family (Punica semantics): the only list of what it supports.
//
// Dtypes: f16, bf16 for x, a, bT, v, y (one dtype per call); fp32 accumulation.
// Sizes: any in, out >= 1; 1 <= max_rank <= LORA_MAX_RANK; ranks[slot] in [0, max_rank]; slot -1 = no adapter.
// 128-bit paths need in % 8 == 0 (shrink, bgmv) / out % 8 == 0 (expand, bgmv) and 16-byte aligned buffers;
// otherwise bounded scalar loads.
//
// sgmv_shrink_T  grid = (ceil(max_rank / LORA_SHRINK_WARPS), S, Z), block = 32*LORA_SHRINK_WARPS, no smem.
//                Warp w of block (x, j, z) owns rank row r = x*WARPS + w of segment j and walks the segment's
//                tokens in chunks of LORA_SHRINK_TOKENS, chunk c handled by z = c mod Z.
//                Z = ceil(max_segment_length / LORA_SHRINK_TOKENS), capped at LORA_MAX_Z (any Z >= 1 is correct).
// sgmv_expand_T  grid = (ceil(out / LORA_EXPAND_COLS), S, Z), block = LORA_EXPAND_THREADS, no smem.
//                Thread owns 8 consecutive outputs (columns grid-stride: any grid.x >= 1 is correct, blocks past
//                out/2048 exit at once); tokens in chunks of LORA_EXPAND_TOKENS, chunk c on z = c mod Z.
//                Z = ceil(max_segment_length / LORA_EXPAND_TOKENS), capped at LORA_MAX_Z.
// bgmv_T         grid = (M, Y), block = LORA_EXPAND_THREADS, smem 4*LORA_MAX_RANK B. Each block computes the
//                row's shrink (v = x·a[s]ᵀ, fp32 in smem), then expands columns grid-striding over y: Y = 1 is
//                correct; Y = ceil(out / LORA_EXPAND_COLS) spreads the expand (each block redoes the shrink).
#pragma once

#define LORA_DTYPES(X) X(f16, __half) X(bf16, __nv_bfloat16)

#define LORA_MAX_RANK 256
#define LORA_SHRINK_WARPS 8
#define LORA_SHRINK_THREADS (32 * LORA_SHRINK_WARPS)
#define LORA_SHRINK_TOKENS 8
#define LORA_EXPAND_THREADS 256
#define LORA_EXPAND_COLS (8 * LORA_EXPAND_THREADS)  // 2048 outputs per block
#define LORA_EXPAND_TOKENS 4
#define LORA_MAX_Z 1024
