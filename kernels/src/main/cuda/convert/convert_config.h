// convert family: the only list of what it supports.
//
// Dtypes: f32 <-> f16, f32 <-> bf16 (round to nearest even; widening is exact). Sizes: any n >= 0 (long).
//
// f32_to_T, T_to_f32  grid = (min(ceil(n / CONVERT_THREADS), CONVERT_MAX_BLOCKS)), block = CONVERT_THREADS,
//   no smem. Grid-stride: any grid.x >= 1 is correct.
#pragma once

#define CONVERT_DTYPES(X) X(f16, __half) X(bf16, __nv_bfloat16)
#define CONVERT_THREADS 256
#define CONVERT_MAX_BLOCKS 65535
