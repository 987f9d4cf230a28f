// sample family templates: argmax and temperature / top-k / top-p sampling, bit-compatible with
// gpu-consumer/.../engine/sample/Sampler.java (same order, same fp64 sums, same SplitMix64 draw).
#pragma once
#include "../common/common.cuh"
#include "sample_config.h"

namespace ls {

/** Sampler.uniform(seed, step): a uniform double in [0, 1) from SplitMix64 over (seed, step). */
__host__ __device__ __forceinline__ double splitmix_uniform(unsigned long long seed, int step) {
  unsigned long long z = seed * 0x9E3779B97F4A7C15ull + (unsigned long long)((long long)step + 1) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z = z ^ (z >> 31);
  return (double)(z >> 11) * 0x1.0p-53;
}

/** Semantics: out[r] = argmax_i logits[r, i], lowest i on ties (Java's strict > scan). One block per row. */
template <typename T>
__device__ __forceinline__ int argmax_row(const T* __restrict__ lr, int V) {
  __shared__ float s_v[32];
  __shared__ int s_i[32];
  float bv = -INFINITY;
  int bi = 0x7fffffff;
  for (int i = threadIdx.x; i < V; i += blockDim.x) {
    const float v = to_f<T>(lr[i]);
    if (v > bv || bi == 0x7fffffff) { bv = v; bi = i; }  // ascending i per thread: first max kept
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ov > bv || (ov == bv && oi < bi) || bi == 0x7fffffff) { bv = ov; bi = oi; }
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) { s_v[threadIdx.x >> 5] = bv; s_i[threadIdx.x >> 5] = bi; }
  __syncthreads();
  bv = s_v[0];
  bi = s_i[0];
  for (int w = 1; w < (int)(blockDim.x >> 5); ++w)
    if (s_v[w] > bv || (s_v[w] == bv && s_i[w] < bi) || bi == 0x7fffffff) { bv = s_v[w]; bi = s_i[w]; }
  return bi == 0x7fffffff ? 0 : bi;
}

/** Sort key: ascending key = descending logit (Float.compare order), then ascending id. Unique per token. */
__device__ __forceinline__ unsigned long long sample_key(float logit, int id, int id_bits) {
  const uint32_t b = __float_as_uint(logit);
  const uint32_t asc = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return ((unsigned long long)(~asc) << id_bits) | (unsigned long long)id;
}

/** Everything one row's passes need. */
template <typename T>
struct SampleRow {
  const T* lr;   // [V]
  int V, id_bits;
  float temp;
  double max_l;  // the max logit, as a double
  __device__ unsigned long long key(int j) const { return sample_key(to_f<T>(lr[j]), j, id_bits); }
  /** (logit - max) / temp in fp64, as Sampler.java: finite for every temp > 0 (subnormal included). */
  __device__ double scaled(int j) const { return ((double)to_f<T>(lr[j]) - max_l) / (double)temp; }
  __device__ double prob(int j) const { return exp(scaled(j)); }
  __device__ int id(unsigned long long k) const { return (int)(k & ((1ull << id_bits) - 1)); }
};

/** Smallest key K in [0, 2^bits) with pred(K) (monotone, and true at the top, checked by the caller). */
template <typename Pred>
__device__ __forceinline__ unsigned long long bit_search(int bits, Pred pred) {
  unsigned long long k = 0;
  for (int b = bits - 1; b >= 0; --b)
    if (!pred(k | ((1ull << b) - 1))) k |= 1ull << b;
  return k;
}

/** Exact slow path over the whole vocabulary (no cut), for rows with more than SAMPLE_CAP candidates. */
template <typename T>
__device__ int sample_full(const SampleRow<T>& s, int keep, float top_p, double u01) {
  const int bits = 32 + s.id_bits;
  const unsigned long long top = (bits == 64) ? ~0ull : (1ull << bits) - 1;
  auto count_le = [&](unsigned long long K) {
    int c = 0;
    for (int j = threadIdx.x; j < s.V; j += blockDim.x) c += s.key(j) <= K;
    return block_sum(c);
  };
  auto mass_le = [&](unsigned long long K, double div) {
    double m = 0;
    for (int j = threadIdx.x; j < s.V; j += blockDim.x)
      if (s.key(j) <= K) m += s.prob(j) / div;
    return block_sum(m);
  };
  const unsigned long long kk = keep < s.V ? bit_search(bits, [&](unsigned long long K) { return count_le(K) >= keep; }) : top;
  const double sum = mass_le(kk, 1.0);
  unsigned long long kp = kk;
  if (top_p < 1.f && mass_le(kk, sum) >= (double)top_p)
    kp = bit_search(bits, [&](unsigned long long K) { return mass_le(K < kk ? K : kk, sum) >= (double)top_p; });
  const double u = u01 * mass_le(kp, 1.0);
  if (!(mass_le(kp, 1.0) > u)) {  // rounding: Sampler returns the last kept token
    unsigned long long best = 0;
    for (int j = threadIdx.x; j < s.V; j += blockDim.x) {
      const unsigned long long k = s.key(j);
      if (k <= kp && k > best) best = k;
    }
    __shared__ unsigned long long s_best[32];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) best = max(best, __shfl_xor_sync(0xffffffffu, best, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) s_best[threadIdx.x >> 5] = best;
    __syncthreads();
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) best = max(best, s_best[w]);
    return s.id(best);
  }
  return s.id(bit_search(bits, [&](unsigned long long K) { return mass_le(K < kp ? K : kp, 1.0) > u; }));
}

/**
 * Semantics: Sampler.sample(logits[r], params(r), step[r]): greedy when temperature == 0, else softmax of
 * (logits - max)/temperature in fp64 (no overflow for any temperature > 0; a tiny one is greedy) over the top_k (0 = all) highest (ties: lower id first), cut to the smallest prefix whose
 * mass reaches top_p, drawn with u = Sampler.uniform(seed[r], step[r]) scaled by the kept mass.
 */
template <typename T>
__device__ __forceinline__ void sample_row(const T* __restrict__ logits, const float* __restrict__ temperature,
                                           const int* __restrict__ top_k, const float* __restrict__ top_p,
                                           const unsigned long long* __restrict__ seed, const int* __restrict__ step,
                                           int* __restrict__ out, int R, int V) {
  __shared__ unsigned long long s_key[SAMPLE_CAP];  // candidate keys, sorted ascending
  __shared__ double s_prob[SAMPLE_CAP];              // their probabilities (unnormalised), sorted order
  __shared__ int s_count;
  const int r = blockIdx.x;
  if (r >= R) return;
  const T* lr = logits + (long)r * V;
  const int best = argmax_row<T>(lr, V);
  const float temp = temperature[r];
  if (temp == 0.f) {
    if (threadIdx.x == 0) out[r] = best;
    return;
  }
  SampleRow<T> s{lr, V, V > 1 ? 32 - __clz(V - 1) : 0, temp, 0.0};
  // The sorted order's first element is the highest logit with the lowest id: argmax's answer.
  s.max_l = (double)to_f<T>(lr[best]);
  const int keep = top_k[r] > 0 ? min(top_k[r], V) : V;
  const double u01 = splitmix_uniform(seed[r], step[r]);
  const float tp = top_p[r];

  int cnt = 0;
  for (int j = threadIdx.x; j < V; j += blockDim.x)
    cnt += s.scaled(j) >= -SAMPLE_CUT;
  cnt = block_sum(cnt);
  if (cnt > SAMPLE_CAP) {
    const int id = sample_full<T>(s, keep, tp, u01);
    if (threadIdx.x == 0) out[r] = id;
    return;
  }

  for (int i = threadIdx.x; i < SAMPLE_CAP; i += blockDim.x) s_key[i] = ~0ull;
  if (threadIdx.x == 0) s_count = 0;
  __syncthreads();
  for (int j = threadIdx.x; j < V; j += blockDim.x)
    if (s.scaled(j) >= -SAMPLE_CUT) s_key[atomicAdd(&s_count, 1)] = s.key(j);
  __syncthreads();
  // Bitonic sort, ascending (keys are unique, so the result does not depend on the gather order).
  for (int k = 2; k <= SAMPLE_CAP; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < SAMPLE_CAP; i += blockDim.x) {
        const int ixj = i ^ j;
        if (ixj > i) {
          const unsigned long long a = s_key[i], b = s_key[ixj];
          if ((a > b) == ((i & k) == 0)) {
            s_key[i] = b;
            s_key[ixj] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  const int n = min(keep, cnt);
  for (int i = threadIdx.x; i < n; i += blockDim.x) s_prob[i] = s.prob(s.id(s_key[i]));
  __syncthreads();
  if (threadIdx.x == 0) {  // Sampler.sample's loops, in its order
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += s_prob[i];
    int nn = n;
    if (tp < 1.f) {
      double cum = 0;
      for (int i = 0; i < n; ++i) {
        cum += s_prob[i] / sum;
        if (cum >= (double)tp) {
          nn = i + 1;
          break;
        }
      }
    }
    double mass = 0;
    for (int i = 0; i < nn; ++i) mass += s_prob[i];
    const double u = u01 * mass;
    double acc = 0;
    int pick = s.id(s_key[nn - 1]);
    for (int i = 0; i < nn; ++i) {
      acc += s_prob[i];
      if (u < acc) {
        pick = s.id(s_key[i]);
        break;
      }
    }
    out[r] = pick;
  }
}

}  // namespace ls
