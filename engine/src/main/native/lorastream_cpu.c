// lorastream's native CPU kernels, called from Java through the FFM API (dev.lorastream.engine.ops.cpu.NativeKernels).
//
// Why native: the Java Vector API cannot emit AVX512_BF16 (vdpbf16ps) or AMX, and its FMA loops reach about
// half of what the same loop reaches in C here. One shared library holds every variant; each function is
// compiled for its instruction set with a target attribute, and Java picks one after asking ls_cpu_features()
// what the CPU and the OS support. Nothing here allocates or keeps state: Java owns every buffer and runs the
// threads (each call covers a range of output rows).
//
// Matmul: y[t, o] = sum_i x[t, i] * w[o, i] (+ bias[o]) for t in [0, T), o in [o0, o1); w is [out, in] row-major,
// BF16 (the raw 16-bit patterns) or F32; x and y F32 with row strides ldx and ldy (in elements).
//   - fma (AVX-512F): w widened to F32 (a BF16 value is the high half of its F32), x exact: the same terms as the
//     reference, summed in another order;
//   - bf16dot (AVX512_BF16): x rounded to BF16 once per call (ls_pack_bf16, round to nearest even, as llama.cpp
//     does for its BF16 dot products), then vdpbf16ps: twice the multiply rate of fma, each product of a rounded
//     activation (relative error <= 2^-9 per term).
// Both walk the output rows in groups of 4 and the tokens in blocks of up to 6: 24 accumulators in registers,
// each weight vector loaded once per token block and each activation vector once per row group.
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <immintrin.h>
#include <cpuid.h>
#include <math.h>

#define LS_API __attribute__((visibility("default")))

// ---- CPU features --------------------------------------------------------------------------------------------

enum {
  LS_AVX2 = 1,        // AVX2 and FMA, with the OS saving ymm state
  LS_AVX512 = 2,      // AVX-512 F, BW, VL, DQ, with the OS saving zmm state
  LS_AVX512_BF16 = 4, // AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16)
  LS_AMX_BF16 = 8,    // AMX-TILE and AMX-BF16 in the CPU (the process must still ask for tile state)
  LS_AVX512_VNNI = 16, // AVX512_VNNI (vpdpbusd: u8 x s8 products summed in fours into s32)
};

static uint64_t xgetbv0(void) {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((uint64_t)edx << 32) | eax;
}

LS_API int ls_cpu_features(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
  if (!osxsave) return 0;
  uint64_t xcr0 = xgetbv0();
  int ymm = (xcr0 & 0x6) == 0x6;
  int zmm = (xcr0 & 0xe6) == 0xe6;
  unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
  __cpuid_count(7, 0, a7, b7, c7, d7);
  unsigned a71 = 0, b71 = 0, c71 = 0, d71 = 0;
  if (a7 >= 1) __cpuid_count(7, 1, a71, b71, c71, d71);
  int f = 0;
  if (ymm && fma && ((b7 >> 5) & 1)) f |= LS_AVX2;
  int avx512 = ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 30) & 1) && ((b7 >> 31) & 1);  // F DQ BW VL
  if (zmm && avx512) {
    f |= LS_AVX512;
    if ((a71 >> 5) & 1) f |= LS_AVX512_BF16;
    if ((c7 >> 11) & 1) f |= LS_AVX512_VNNI;
  }
  if (((d7 >> 24) & 1) && ((d7 >> 22) & 1)) f |= LS_AMX_BF16;  // AMX-TILE, AMX-BF16
  return f;
}

// ---- helpers -------------------------------------------------------------------------------------------------

#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define TBF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))
#define TVNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")))

// 16 BF16 (raw bits) at p, widened to F32; only the lanes in m are read.
T512 static inline __m512 ld_bf16x16(const uint16_t* p, __mmask16 m) {
  __m256i h = _mm256_maskz_loadu_epi16(m, p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// ---- the register-blocked microkernels ------------------------------------------------------------------------
//
// Rows [ob, ob + NR) of w times tokens [t, t + NT) of x, NR in {1, 4}, NT in 1..6 (compile-time constants at
// every call: always_inline makes one copy per pair). The 24 accumulators are named variables, not an array:
// gcc keeps an array's copy in memory and stores it every iteration, which halved the rate.
#define RU(M)                                                                                            \
  M(0, 0) M(1, 0) M(2, 0) M(3, 0) M(0, 1) M(1, 1) M(2, 1) M(3, 1) M(0, 2) M(1, 2) M(2, 2) M(3, 2)         \
  M(0, 3) M(1, 3) M(2, 3) M(3, 3) M(0, 4) M(1, 4) M(2, 4) M(3, 4) M(0, 5) M(1, 5) M(2, 5) M(3, 5)
#define DECL(r, u) __m512 a##r##u = _mm512_setzero_ps();
#define STORE(r, u)                                                                                      \
  if (r < NR && u < NT)                                                                                  \
    y[(size_t)(t + u) * ldy + ob + r] = _mm512_reduce_add_ps(a##r##u) + (bias ? bias[ob + r] : 0.0f);
#define FMA(r, u) if (r < NR) a##r##u = _mm512_fmadd_ps(w##r, xv, a##r##u);
#define DOT(r, u) if (r < NR) a##r##u = _mm512_dpbf16_ps(a##r##u, w##r, xv);
#define FMA_U(u)                                                                                         \
  if (u < NT) {                                                                                          \
    __m512 xv = _mm512_maskz_loadu_ps(m, x + (size_t)(t + u) * ldx + k);                                 \
    FMA(0, u) FMA(1, u) FMA(2, u) FMA(3, u)                                                              \
  }
#define DOT_U(u)                                                                                         \
  if (u < NT) {                                                                                          \
    __m512bh xv = (__m512bh)_mm512_loadu_si512((const void*)(xb + (size_t)(t + u) * in2 + k));           \
    DOT(0, u) DOT(1, u) DOT(2, u) DOT(3, u)                                                              \
  }

// ---- fma: F32 activations, BF16 or F32 weights ---------------------------------------------------------------

T512 static inline __attribute__((always_inline)) void fma_block(
    const float* x, int ldx, const void* w, int wbf16, int in, float* y, int ldy, const float* bias, int t,
    int ob, const int NR, const int NT) {
  RU(DECL)
  const uint16_t* wb = (const uint16_t*)w;
  const float* wf = (const float*)w;
  for (int k = 0; k < in; k += 16) {
    __mmask16 m = in - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (in - k)) - 1);
    __m512 w0, w1 = _mm512_setzero_ps(), w2 = w1, w3 = w1;
    if (wbf16) {
      w0 = ld_bf16x16(wb + (size_t)ob * in + k, m);
      if (NR > 1) {
        w1 = ld_bf16x16(wb + (size_t)(ob + 1) * in + k, m);
        w2 = ld_bf16x16(wb + (size_t)(ob + 2) * in + k, m);
        w3 = ld_bf16x16(wb + (size_t)(ob + 3) * in + k, m);
      }
    } else {
      w0 = _mm512_maskz_loadu_ps(m, wf + (size_t)ob * in + k);
      if (NR > 1) {
        w1 = _mm512_maskz_loadu_ps(m, wf + (size_t)(ob + 1) * in + k);
        w2 = _mm512_maskz_loadu_ps(m, wf + (size_t)(ob + 2) * in + k);
        w3 = _mm512_maskz_loadu_ps(m, wf + (size_t)(ob + 3) * in + k);
      }
    }
    FMA_U(0) FMA_U(1) FMA_U(2) FMA_U(3) FMA_U(4) FMA_U(5)
  }
  RU(STORE)
}

#define FMA_NT(NR, WBF16)                                                       \
  switch (nt) {                                                                 \
    case 6: fma_block(x, ldx, w, WBF16, in, y, ldy, bias, t, ob, NR, 6); break; \
    case 5: fma_block(x, ldx, w, WBF16, in, y, ldy, bias, t, ob, NR, 5); break; \
    case 4: fma_block(x, ldx, w, WBF16, in, y, ldy, bias, t, ob, NR, 4); break; \
    case 3: fma_block(x, ldx, w, WBF16, in, y, ldy, bias, t, ob, NR, 3); break; \
    case 2: fma_block(x, ldx, w, WBF16, in, y, ldy, bias, t, ob, NR, 2); break; \
    default: fma_block(x, ldx, w, WBF16, in, y, ldy, bias, t, ob, NR, 1); break; \
  }

// Cache blocking for many tokens (prefill): output rows in chunks of ROW_CHUNK (64 rows of a 2048-wide BF16
// weight: 256 KiB) and tokens in chunks of TCHUNK (24 F32 or 48 BF16 activation rows, ~200 KiB), so both stay in L2 while
// every row group of the chunk meets every token block of the chunk. Without it a row group streamed all T
// tokens' activations from L3 or memory: 8 MiB per group at T = 2048. For a decode step (T <= TCHUNK) the
// order is the plain one: row groups, then token blocks. BLOCKED_ROWS is that walk.
#define ROW_CHUNK 64

// The blocked walk of every matmul kernel over rows [o0, o1) and tokens [0, T): chunks of
// ROW_CHUNK rows x TCHUNK tokens (both in L2), then groups of 4 rows x blocks of up to 6 tokens, each run by
// CALL_NT(4) or, for the rows left over and whenever T <= ROWWISE_T, CALL_NT(1) row by row. Row by row, a
// thread streams one weight row at a time: for the int8 kernel at 1 to 4 tokens that reads its weights 1.7 to
// 2 times faster than four rows at once (2 KiB rows; 31 against 18 GB/s at T = 1 on the 2-core Zen 4, where a
// plain read reached 29-31); bf16dot (4 KiB rows) gains about a quarter at T = 1, little at 2 and loses at 8.
// Each output is summed by the same instructions either way, so a row's bits do not depend on the walk.
#define BLOCKED_ROWS(TCHUNK, ROWWISE_T, CALL_NT)          \
  for (int oc = o0; oc < o1; oc += ROW_CHUNK) {           \
    int oe = oc + ROW_CHUNK < o1 ? oc + ROW_CHUNK : o1;   \
    for (int tc = 0; tc < T; tc += (TCHUNK)) {            \
      int te = tc + (TCHUNK) < T ? tc + (TCHUNK) : T;     \
      for (int o = oc; o < oe; o += 4) {                  \
        int nr = oe - o < 4 ? oe - o : 4;                 \
        for (int t = tc; t < te; t += 6) {                \
          int nt = te - t < 6 ? te - t : 6;               \
          if (nr == 4 && T > (ROWWISE_T)) {               \
            int ob = o;                                   \
            CALL_NT(4)                                    \
          } else {                                        \
            for (int ob = o; ob < o + nr; ob++) {         \
              CALL_NT(1)                                  \
            }                                             \
          }                                               \
        }                                                 \
      }                                                   \
    }                                                     \
  }

#define FMA_NT_BF16(NR) FMA_NT(NR, 1)
#define FMA_NT_F32(NR) FMA_NT(NR, 0)

T512 static void fma_rows_bf16(const float* x, int ldx, const void* w, int in, float* y, int ldy,
                               const float* bias, int T, int o0, int o1) {
  BLOCKED_ROWS(24, 0, FMA_NT_BF16)
}

T512 static void fma_rows_f32(const float* x, int ldx, const void* w, int in, float* y, int ldy,
                              const float* bias, int T, int o0, int o1) {
  BLOCKED_ROWS(24, 0, FMA_NT_F32)
}

// Matmul with the fma kernel over output rows [o0, o1). wbf16: 1 when w is BF16, 0 when F32.
LS_API void ls_matmul_fma(const float* x, int ldx, const void* w, int wbf16, int in, float* y, int ldy,
                          const float* bias, int T, int o0, int o1) {
  if (wbf16) {
    fma_rows_bf16(x, ldx, w, in, y, ldy, bias, T, o0, o1);
  } else {
    fma_rows_f32(x, ldx, w, in, y, ldy, bias, T, o0, o1);
  }
}

// ---- bf16dot: BF16 activations and weights, F32 sums ---------------------------------------------------------

// The row stride, in BF16 elements, of ls_pack_bf16's output: in rounded up to 32, plus 32 (64 bytes), so that
// the rows of a token block never sit a multiple of 4 KiB apart (with in = 2048 they would: all six rows and the
// four weight rows in one L1 set, more lines than its ways, a conflict miss at every step).
LS_API int ls_bf16_stride(int in) { return ((in + 31) & ~31) + 32; }

// x [T, in] F32 (row stride ldx) to xb [T, ls_bf16_stride(in)] BF16, rounded to nearest even, each row's tail
// zero-filled up to a multiple of 32 (so the dot product reads whole 32-element vectors).
LS_API TBF16 void ls_pack_bf16(const float* x, int ldx, int T, int in, uint16_t* xb) {
  int in2 = ls_bf16_stride(in);
  for (int t = 0; t < T; t++) {
    const float* xr = x + (size_t)t * ldx;
    uint16_t* dr = xb + (size_t)t * in2;
    for (int k = 0; k < ((in + 31) & ~31); k += 32) {
      int left = in - k;
      __mmask16 m0 = left >= 16 ? 0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
      int left1 = left - 16;
      __mmask16 m1 = left1 >= 16 ? 0xFFFF : left1 <= 0 ? 0 : (__mmask16)((1u << left1) - 1);
      __m512 lo = _mm512_maskz_loadu_ps(m0, xr + k);
      __m512 hi = _mm512_maskz_loadu_ps(m1, xr + k + 16);
      __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);  // lanes 0..15 from lo, 16..31 from hi
      _mm512_storeu_si512((void*)(dr + k), (__m512i)v);
    }
  }
}

TBF16 static inline __attribute__((always_inline)) void dot_block(
    const uint16_t* xb, int in2, const uint16_t* w, int in, float* y, int ldy, const float* bias, int t,
    int ob, const int NR, const int NT) {
  RU(DECL)
  for (int k = 0; k < in; k += 32) {
    __mmask32 m = in - k >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (in - k)) - 1);
    __m512bh w0 = (__m512bh)_mm512_maskz_loadu_epi16(m, w + (size_t)ob * in + k), w1 = w0, w2 = w0, w3 = w0;
    if (NR > 1) {
      w1 = (__m512bh)_mm512_maskz_loadu_epi16(m, w + (size_t)(ob + 1) * in + k);
      w2 = (__m512bh)_mm512_maskz_loadu_epi16(m, w + (size_t)(ob + 2) * in + k);
      w3 = (__m512bh)_mm512_maskz_loadu_epi16(m, w + (size_t)(ob + 3) * in + k);
    }
    DOT_U(0) DOT_U(1) DOT_U(2) DOT_U(3) DOT_U(4) DOT_U(5)
  }
  RU(STORE)
}

#define DOT_NT(NR)                                                        \
  switch (nt) {                                                           \
    case 6: dot_block(xb, in2, w, in, y, ldy, bias, t, ob, NR, 6); break; \
    case 5: dot_block(xb, in2, w, in, y, ldy, bias, t, ob, NR, 5); break; \
    case 4: dot_block(xb, in2, w, in, y, ldy, bias, t, ob, NR, 4); break; \
    case 3: dot_block(xb, in2, w, in, y, ldy, bias, t, ob, NR, 3); break; \
    case 2: dot_block(xb, in2, w, in, y, ldy, bias, t, ob, NR, 2); break; \
    default: dot_block(xb, in2, w, in, y, ldy, bias, t, ob, NR, 1); break; \
  }

// Matmul with the bf16dot kernel over output rows [o0, o1): xb is ls_pack_bf16's output for the same x (row
// stride ls_bf16_stride(in)), w BF16 [out, in].
LS_API TBF16 void ls_matmul_bf16dot(const uint16_t* xb, const uint16_t* w, int in, float* y, int ldy,
                                    const float* bias, int T, int o0, int o1) {
  int in2 = ls_bf16_stride(in);
  BLOCKED_ROWS(48, 1, DOT_NT)  // 48 rows of BF16 activations, ~200 KiB at in = 2048
}

// ---- int8: weights quantized per output row, activations per token, s32 sums (AVX512_VNNI) ----------------------
//
// The weight option of the CPU backend (lorastream.cpu.weights=int8): w[o, i] ~ ws[o] * q[o, i], q in [-127, 127],
// ws[o] = max_i |w[o, i]| / 127 (symmetric, per output channel); x[t, i] ~ xs[t] * (u[t, i] - 128), u in [1, 255],
// xs[t] = max_i |x[t, i]| / 127 (symmetric, per token, made at every call). vpdpbusd multiplies unsigned by signed
// bytes, so the kernel sums u * q exactly in s32 and removes the offset with the row's sum of q:
//   y[t, o] = xs[t] * ws[o] * (sum_i u[t, i] q[o, i] - 128 * qsum[o]) (+ bias[o]).
// Exact integer arithmetic up to the final F32 scaling; the error against the F32 product is the rounding of each
// operand to its grid: at most ws/2 per weight and xs/2 per activation. sum_i |u q| < 255 * 127 * in fits s32 for
// in <= 65536. Half the bytes of BF16 weights and four products per lane (vdpbf16ps: two); on Zen 4 vpdpbusd
// issues at half vdpbf16ps's rate, so the peak is the same there (ls_probe_i8dot); the gain is in bytes.

// Weight rows [o0, o1) of w (BF16 when wbf16, else F32; [out, in]) to q [out, in] int8 (row stride in), scale[o]
// and qsum[o]. A row of zeros gets scale 0 and q 0. Rounds to nearest even.
LS_API T512 void ls_quantize_i8(const void* w, int wbf16, int in, int8_t* q, float* scale, int* qsum, int o0,
                                int o1) {
  for (int o = o0; o < o1; o++) {
    const uint16_t* wb = (const uint16_t*)w + (size_t)o * in;
    const float* wf = (const float*)w + (size_t)o * in;
    __m512 mx = _mm512_setzero_ps();
    for (int k = 0; k < in; k += 16) {
      __mmask16 m = in - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (in - k)) - 1);
      __m512 v = wbf16 ? ld_bf16x16(wb + k, m) : _mm512_maskz_loadu_ps(m, wf + k);
      mx = _mm512_max_ps(mx, _mm512_abs_ps(v));
    }
    float amax = _mm512_reduce_max_ps(mx);
    float s = amax / 127.0f;
    __m512 inv = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    __m512i sum = _mm512_setzero_si512();
    int8_t* qr = q + (size_t)o * in;
    for (int k = 0; k < in; k += 16) {
      __mmask16 m = in - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (in - k)) - 1);
      __m512 v = wbf16 ? ld_bf16x16(wb + k, m) : _mm512_maskz_loadu_ps(m, wf + k);
      __m512i r = _mm512_cvtps_epi32(_mm512_mul_ps(v, inv));  // nearest even; |r| <= 127
      r = _mm512_max_epi32(_mm512_min_epi32(r, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
      sum = _mm512_add_epi32(sum, r);
      _mm_mask_storeu_epi8(qr + k, m, _mm512_cvtepi32_epi8(r));
    }
    scale[o] = s;
    qsum[o] = _mm512_reduce_add_epi32(sum);
  }
}

// The row stride, in bytes, of ls_pack_u8's output: in rounded up to 64, plus 64 (off 4 KiB strides, as for BF16).
LS_API int ls_u8_stride(int in) { return ((in + 63) & ~63) + 64; }

// x [T, in] F32 (row stride ldx) to u [T, ls_u8_stride(in)] (u = round(x / xs[t]) + 128, nearest even; tail 128,
// the code of 0) and xs[T]. A row of zeros gets xs 0 and u 128.
LS_API T512 void ls_pack_u8(const float* x, int ldx, int T, int in, uint8_t* u, float* xs) {
  int in2 = ls_u8_stride(in);
  for (int t = 0; t < T; t++) {
    const float* xr = x + (size_t)t * ldx;
    uint8_t* ur = u + (size_t)t * in2;
    __m512 mx = _mm512_setzero_ps();
    for (int k = 0; k < in; k += 16) {
      __mmask16 m = in - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (in - k)) - 1);
      mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(m, xr + k)));
    }
    float amax = _mm512_reduce_max_ps(mx);
    xs[t] = amax / 127.0f;
    __m512 inv = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    __m512i off = _mm512_set1_epi32(128);
    for (int k = 0; k < in2; k += 16) {
      __mmask16 m = in - k >= 16 ? (__mmask16)0xFFFF : in - k <= 0 ? 0 : (__mmask16)((1u << (in - k)) - 1);
      __m512i r = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + k), inv));
      r = _mm512_max_epi32(_mm512_min_epi32(r, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
      _mm_storeu_si128((__m128i*)(ur + k), _mm512_cvtepi32_epi8(_mm512_add_epi32(r, off)));
    }
  }
}

#define DECLI(r, u) __m512i a##r##u = _mm512_setzero_si512();
#define STOREI(r, u)                                                                                    \
  if (r < NR && u < NT)                                                                                 \
    y[(size_t)(t + u) * ldy + ob + r] =                                                                 \
        xs[t + u] * ws[ob + r] * (float)(_mm512_reduce_add_epi32(a##r##u) - 128 * qsum[ob + r]) +       \
        (bias ? bias[ob + r] : 0.0f);
#define DPB(r, u) if (r < NR) a##r##u = _mm512_dpbusd_epi32(a##r##u, xv, w##r);
#define DPB_U(u)                                                                                        \
  if (u < NT) {                                                                                         \
    __m512i xv = _mm512_loadu_si512((const void*)(u8 + (size_t)(t + u) * in2 + k));                     \
    DPB(0, u) DPB(1, u) DPB(2, u) DPB(3, u)                                                             \
  }

TVNNI static inline __attribute__((always_inline)) void i8_block(
    const uint8_t* u8, int in2, const float* xs, const int8_t* q, const float* ws, const int* qsum, int in,
    float* y, int ldy, const float* bias, int t, int ob, const int NR, const int NT) {
  RU(DECLI)
  for (int k = 0; k < in; k += 64) {
    __mmask64 m = in - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (in - k)) - 1);
    __m512i w0 = _mm512_maskz_loadu_epi8(m, q + (size_t)ob * in + k), w1 = w0, w2 = w0, w3 = w0;
    if (NR > 1) {
      w1 = _mm512_maskz_loadu_epi8(m, q + (size_t)(ob + 1) * in + k);
      w2 = _mm512_maskz_loadu_epi8(m, q + (size_t)(ob + 2) * in + k);
      w3 = _mm512_maskz_loadu_epi8(m, q + (size_t)(ob + 3) * in + k);
    }
    DPB_U(0) DPB_U(1) DPB_U(2) DPB_U(3) DPB_U(4) DPB_U(5)
  }
  RU(STOREI)
}

#define I8_NT(NR)                                                                                 \
  switch (nt) {                                                                                   \
    case 6: i8_block(u8, in2, xs, q, ws, qsum, in, y, ldy, bias, t, ob, NR, 6); break;            \
    case 5: i8_block(u8, in2, xs, q, ws, qsum, in, y, ldy, bias, t, ob, NR, 5); break;            \
    case 4: i8_block(u8, in2, xs, q, ws, qsum, in, y, ldy, bias, t, ob, NR, 4); break;            \
    case 3: i8_block(u8, in2, xs, q, ws, qsum, in, y, ldy, bias, t, ob, NR, 3); break;            \
    case 2: i8_block(u8, in2, xs, q, ws, qsum, in, y, ldy, bias, t, ob, NR, 2); break;            \
    default: i8_block(u8, in2, xs, q, ws, qsum, in, y, ldy, bias, t, ob, NR, 1); break;           \
  }

// Matmul over output rows [o0, o1) with int8 weights (ls_quantize_i8's q, ws, qsum) and activations (ls_pack_u8's
// u8, xs); the same blocking as ls_matmul_bf16dot (64 rows x 48 tokens; at in = 2048, 128 KiB of weights and
// ~100 KiB of activations per chunk).
LS_API TVNNI void ls_matmul_i8(const uint8_t* u8, const float* xs, const int8_t* q, const float* ws,
                               const int* qsum, int in, float* y, int ldy, const float* bias, int T, int o0,
                               int o1) {
  int in2 = ls_u8_stride(in);
  BLOCKED_ROWS(48, 4, I8_NT)
}

// ---- paged attention ----------------------------------------------------------------------------------------
//
// For items [i0, i1) of T x nHeads (item = t * nHeads + h): out[t, h, :] = softmax_p(q[t, h] . K[p] * scale) . V
// over the positions p <= tokenPos[t] of sequence tokenSeq[t], whose KV rows live in the F32 caches
// [blocks, blockSize, nKv, headDim] at block blockTables[seq * maxBlocksPerSeq + p / blockSize], row p % blockSize,
// KV head h / (nHeads / nKv) (grouped-query attention). scores: scratch of at least max(tokenPos) + 1 floats.
// The same arithmetic as the Java kernel (max-subtracted exponentials, one weighted pass over V), without its
// per-position call overhead; headDim <= 256.
LS_API T512 void ls_attend(const float* q, const float* kc, const float* vc, const int* blockTables,
                           int maxBlocksPerSeq, const int* tokenSeq, const int* tokenPos, int nHeads, int nKv,
                           int headDim, int blockSize, float scale, float* out, float* scores, int i0, int i1) {
  int group = nHeads / nKv;
  int chunks = (headDim + 15) / 16;
  __mmask16 last = (headDim & 15) ? (__mmask16)((1u << (headDim & 15)) - 1) : (__mmask16)0xFFFF;
  for (int item = i0; item < i1; item++) {
    int t = item / nHeads, h = item % nHeads, len = tokenPos[t] + 1, kvh = h / group;
    const float* qr = q + ((size_t)t * nHeads + h) * headDim;
    const int* table = blockTables + (size_t)tokenSeq[t] * maxBlocksPerSeq;
    __m512 qv[16];
    for (int c = 0; c < chunks; c++) qv[c] = _mm512_maskz_loadu_ps(c == chunks - 1 ? last : 0xFFFF, qr + 16 * c);
    float mx = -__builtin_inff();
    for (int p = 0; p < len; p++) {
      const float* kr = kc + ((((size_t)table[p / blockSize] * blockSize + p % blockSize) * nKv + kvh) * headDim);
      __m512 a = _mm512_setzero_ps();
      for (int c = 0; c < chunks; c++)
        a = _mm512_fmadd_ps(qv[c], _mm512_maskz_loadu_ps(c == chunks - 1 ? last : 0xFFFF, kr + 16 * c), a);
      float sc = _mm512_reduce_add_ps(a) * scale;
      scores[p] = sc;
      mx = sc > mx ? sc : mx;
    }
    float sum = 0;
    for (int p = 0; p < len; p++) {
      float e = expf(scores[p] - mx);
      scores[p] = e;
      sum += e;
    }
    __m512 acc[16];
    for (int c = 0; c < chunks; c++) acc[c] = _mm512_setzero_ps();
    for (int p = 0; p < len; p++) {
      const float* vr = vc + ((((size_t)table[p / blockSize] * blockSize + p % blockSize) * nKv + kvh) * headDim);
      __m512 w = _mm512_set1_ps(scores[p]);
      for (int c = 0; c < chunks; c++)
        acc[c] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(c == chunks - 1 ? last : 0xFFFF, vr + 16 * c), acc[c]);
    }
    __m512 inv = _mm512_set1_ps(1.0f / sum);
    float* orow = out + ((size_t)t * nHeads + h) * headDim;
    for (int c = 0; c < chunks; c++)
      _mm512_mask_storeu_ps(orow + 16 * c, c == chunks - 1 ? last : 0xFFFF, _mm512_mul_ps(acc[c], inv));
  }
}

// ---- probes: what this machine can do, measured with the same instructions -----------------------------------

// Sums n floats (n a multiple of 64) at p with 4 independent AVX-512 accumulators: a read-bandwidth probe.
LS_API T512 float ls_probe_read(const float* p, long n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (long i = 0; i < n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

#define P24(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15) M(16) \
  M(17) M(18) M(19) M(20) M(21) M(22) M(23)

// iters rounds of 24 independent 16-lane FMAs (register-resident): 2 * 16 * 24 * iters FLOPs.
LS_API T512 float ls_probe_fma(long iters) {
  __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
#define PD(i) __m512 a##i = _mm512_set1_ps((float)i);
#define PF(i) a##i = _mm512_fmadd_ps(a##i, b, c);
#define PS(i) s = _mm512_add_ps(s, a##i);
  P24(PD)
  for (long it = 0; it < iters; it++) {
    P24(PF)
  }
  __m512 s = _mm512_setzero_ps();
  P24(PS)
  return _mm512_reduce_add_ps(s);
}

// iters rounds of 24 independent vdpbf16ps (32 bf16 pairs each): 2 * 32 * 24 * iters FLOPs.
LS_API TBF16 float ls_probe_bf16dot(long iters) {
  __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
#define PB(i) a##i = _mm512_dpbf16_ps(a##i, b, b);
  P24(PD)
  for (long it = 0; it < iters; it++) {
    P24(PB)
  }
  __m512 s = _mm512_setzero_ps();
  P24(PS)
  return _mm512_reduce_add_ps(s);
}

// iters rounds of 24 independent vpdpbusd (64 u8 x s8 pairs each): 2 * 64 * 24 * iters integer operations.
LS_API TVNNI int ls_probe_i8dot(long iters) {
  __m512i b = _mm512_set1_epi8(1);
#define PID(i) __m512i a##i = _mm512_set1_epi32(i);
#define PI(i) a##i = _mm512_dpbusd_epi32(a##i, b, b);
#define PIS(i) s = _mm512_add_epi32(s, a##i);
  P24(PID)
  for (long it = 0; it < iters; it++) {
    P24(PI)
  }
  __m512i s = _mm512_setzero_si512();
  P24(PIS)
  return _mm512_reduce_add_epi32(s);
}
