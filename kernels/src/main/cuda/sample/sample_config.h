// sample family: the only list of what it supports.
//
// Dtypes: f16, bf16 logits; probabilities in fp64 exactly as Sampler.java computes them.
// Sizes: any R >= 1, 1 <= V < 2^31; temperature >= 0 (0 = greedy), top_k >= 0 (0 = all), top_p in (0, 1].
//
// argmax_T  grid = (R), block = SAMPLE_THREADS, smem ~0.4 KiB.
// sample_T  grid = (R), block = SAMPLE_THREADS, static smem 16 * SAMPLE_CAP B (32 KiB) + reductions.
//   Fast path: the candidates (tokens with logit/T within SAMPLE_CUT nats of the max: the others cannot change
//   any double sum Sampler.java makes) are gathered, bitonic-sorted by (logit desc, id asc) in shared memory,
//   and thread 0 replays Sampler.sample's loop on them. When more than SAMPLE_CAP tokens are candidates (flat
//   distributions, high temperature) an exact slow path runs bitwise searches over the whole vocabulary.
#pragma once

#define SAMPLE_DTYPES(X) X(f16, __half) X(bf16, __nv_bfloat16)
#define SAMPLE_THREADS 1024
#define SAMPLE_CAP 2048
#define SAMPLE_CUT 60.0
