// lorastream's AMX-BF16 matmul kernel (Intel Xeon 4th gen "Sapphire Rapids" and later), called from Java through
// the FFM API like the kernels of lorastream_cpu.c, and built into the same liblorastream_cpu.so by build.sh.
//
// ls_matmul_amx computes what ls_matmul_bf16dot computes: y[t, o] = sum_i x[t, i] * w[o, i] (+ bias[o]) for t in
// [0, T), o in [o0, o1); w is BF16 [out, in] row-major (raw 16-bit patterns), xb is ls_pack_bf16's output (x
// rounded to BF16, row stride ls_bf16_stride(in) elements, each row zero-filled from in up to a multiple of 32).
// Every product of two BF16 is exact in F32; only the order of the F32 additions differs from bf16dot.
//
// AMX in brief (Intel 64 and IA-32 Architectures SDM, vol. 1 ch. 18 "Programming with Intel AMX" and vol. 2
// LDTILECFG, TILELOADD, TDPBF16PS; Intel Intrinsics Guide, _tile_dpbf16ps): 8 tile registers tmm0..7, each up to
// 16 rows of 64 bytes, shaped by ldtilecfg (palette 1: rows and bytes per row for each tile). tdpbf16ps C, A, B:
// C[m][n] += sum_k A[m][2k] * B[k][2n] + A[m][2k+1] * B[k][2n+1], A = M rows of 32 BF16, B = 16 rows of 16 BF16
// pairs ("VNNI" layout: row k holds, for each column n, the pair k of column n), C = M rows of 16 F32.
//
// Tile assignment (2 x 2 blocking, all 8 tiles):
//   tmm0, tmm1 (A0, A1): weight rows [o, o+16) and [o+16, o+32), k-block [32kb, 32kb+32): loaded straight from w
//                        (64 bytes per row, stride in * 2 bytes), so the weights are never repacked;
//   tmm2, tmm3 (B0, B1): the same k-block of token tiles j and j+1 (16 tokens each), VNNI, from the scratch;
//   tmm4..7 (C00 = A0 B0, C01 = A0 B1, C10 = A1 B0, C11 = A1 B1): F32 sums for 32 outputs x 32 tokens, held over
//                        all of k; each A and each B tile loaded feeds two tdpbf16ps.
// A C tile holds outputs in rows and tokens in columns: y (tokens in rows) gets it transposed, plus bias.
//
// Scratch (ls_amx_scratch_bytes; 64-byte aligned by the caller, so each tile row is one cache line): the
// activations of one chunk of up to AMX_CHUNK tokens in VNNI tiles. Tile (j, kb), for token tile j (tokens
// 16j..16j+15 of the chunk) and k-block kb, is 1 KiB at byte (j * nkb + kb) * 1024, nkb = ceil(in / 32): row r
// holds, for each token n, the BF16 pair (x[n][32kb + 2r], x[n][32kb + 2r + 1]); rows of tokens past T are zero.
// The k-blocks of a token tile are contiguous, so its B tiles stream sequentially.
//
// Order: for each token chunk, pack it into the scratch; then for each 32-row block of [o0, o1), for each pair of
// token tiles of the chunk, run all k-blocks into the 4 C tiles and write them out. A thread's weight rows are read
// once per chunk (the second pair of a chunk finds the block's 32 rows in L2: 128 KiB at in = 2048); the chunk's
// packed activations (64 tokens x in BF16: 256 KiB at in = 2048) stay in L2 throughout. Each thread packs all T
// tokens itself: T x in elements moved per call, against T x in x (o1 - o0) multiply-adds. AMX_CHUNK is a first
// guess, to be tuned on AMX hardware. For T <= 16 the B tile is mostly padding (AMX does 16 tokens' work whatever
// T is), so a decode step (small T) is better served by bf16dot, memory-bound either way.
//
// Edges:
//   - tokens: B tiles always have 16 columns, zero past T; the C columns of padded tokens are not written to y.
//     A chunk with an odd number of token tiles ends with a pair of one tile (B0 only: C00, C10).
//   - rows: the last block of [o0, o1), nr < 32 rows, gets its own config: A0 and C0x get min(nr, 16) rows, A1 and
//     C1x the remaining nr - 16 if any (else they are unused). A tile with fewer rows reads only those rows of w.
//   - k: w's rows are not padded, so when in % 32 != 0 the last partial k-block of a row block is copied into a
//     zero-filled buffer (32 rows x 64 bytes, on the stack) and A is loaded from there; xb rows are zero past in.
//   Nothing reads w outside rows [o0, o1) x columns [0, in), nor xb outside rows [0, T) x [0, in rounded up to 32).
//
// Threads: tile config and contents are per-thread state. Each call loads its config (ldtilecfg) in the calling
// thread and releases the tiles (tilerelease) at the end, so calls from different Java threads are independent and
// no AMX state is left between calls. The process must have been granted tile state once (ls_amx_init) before any
// call: without it the kernel delivers SIGILL to the first AMX instruction.
//
// Compiler notes: the AMX code carries its target attribute per function like lorastream_cpu.c (no -march);
// building it needs gcc >= 11 and binutils >= 2.36 (build.sh checks, and builds with -DLS_NO_AMX otherwise: then
// only ls_amx_init, which answers EOPNOTSUPP, and ls_amx_scratch_bytes exist). gcc's tile intrinsics are inline asm
// that do not declare the memory they read (tileloadd declares none, ldtilecfg only its first 8 bytes), so
// amx_barrier() below tells the compiler that buffers written in C must be complete before the tiles load them
// (tilestored does declare its writes).
// With LS_AMX_EMU defined, amx_emu.h replaces the intrinsics with a plain-C emulation (amx-emu-check.sh).
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <immintrin.h>
#if defined(__linux__) && defined(__x86_64__) && !defined(LS_AMX_EMU) && !defined(LS_NO_AMX)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#ifndef LS_API
#define LS_API __attribute__((visibility("default")))
#endif

#define AMX_CHUNK 64         // tokens packed per chunk: a multiple of 32 (two token tiles per pair)
#define AMX_TILE_BYTES 1024  // one full tile: 16 rows x 64 bytes

static int amx_nkb(int in) { return (in + 31) / 32; }  // k-blocks of 32 BF16

// Bytes of scratch that ls_matmul_amx needs for these in and T (a multiple of 1 KiB): the packed tiles of one chunk.
LS_API long ls_amx_scratch_bytes(int in, int T) {
  if (in <= 0 || T <= 0) return 0;
  long tiles = (T + 15) / 16;
  if (tiles > AMX_CHUNK / 16) tiles = AMX_CHUNK / 16;
  return tiles * amx_nkb(in) * AMX_TILE_BYTES;
}

// Asks Linux for permission to use the AMX tile data state (kernel >= 5.16; Documentation/arch/x86/xstate.rst).
// The permission is per process, so one call serves every thread; call it before any ls_matmul_amx. Returns 0 on
// success, else a positive errno: EINVAL or EOPNOTSUPP when the CPU or the kernel lacks AMX (no AMX instruction
// is executed here), EFBIG when some thread's sigaltstack is too small for the larger signal frame.
#define LS_ARCH_GET_XCOMP_PERM 0x1022
#define LS_ARCH_REQ_XCOMP_PERM 0x1023
#define LS_XFEATURE_XTILEDATA 18
LS_API int ls_amx_init(void) {
#if defined(LS_AMX_EMU)
  return 0;  // the emulation needs no kernel support
#elif defined(LS_NO_AMX) || !defined(__linux__) || !defined(__x86_64__)
  return EOPNOTSUPP;
#else
  if (syscall(SYS_arch_prctl, LS_ARCH_REQ_XCOMP_PERM, LS_XFEATURE_XTILEDATA) != 0) return errno ? errno : EINVAL;
  unsigned long perm = 0;  // check that it took: the bitmap of permitted xfeatures
  if (syscall(SYS_arch_prctl, LS_ARCH_GET_XCOMP_PERM, &perm) != 0) return errno ? errno : EINVAL;
  return (perm >> LS_XFEATURE_XTILEDATA) & 1 ? 0 : EOPNOTSUPP;
#endif
}

#if !defined(LS_NO_AMX)

#if defined(LS_AMX_EMU)
#include "amx_emu.h"
#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#else
#define AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#endif

// Tile numbers (plain literals: gcc's intrinsics paste them into the asm text).
#define TA0 0
#define TA1 1
#define TB0 2
#define TB1 3
#define TC00 4
#define TC01 5
#define TC10 6
#define TC11 7

// The 64-byte memory operand of ldtilecfg (SDM vol. 2, LDTILECFG), palette 1.
typedef struct {
  uint8_t palette;       // 1: 8 tiles of up to 16 rows x 64 bytes
  uint8_t start_row;     // 0; the CPU sets it to resume an interrupted tileloadd/tilestored
  uint8_t reserved[14];  // must be 0
  uint16_t colsb[16];    // bytes per row of tile i (tiles 8..15 must be 0 in palette 1)
  uint8_t rows[16];      // rows of tile i
} amx_cfg;
_Static_assert(sizeof(amx_cfg) == 64, "ldtilecfg reads 64 bytes");

// Compiler barrier: the memory at p (and all memory) is complete here, as if the asm read it.
#define amx_barrier(p) __asm__ volatile("" : : "r"(p) : "memory")

// Loads the config for a row block: A0, C00, C01 with ra0 rows; A1, C10, C11 with ra1 rows (0: unconfigured);
// B0, B1 always 16 rows (16 k-pairs). All tiles 64 bytes per row.
AMX_TARGET static void amx_config(amx_cfg* c, int ra0, int ra1) {
  memset(c, 0, sizeof *c);
  c->palette = 1;
  c->rows[TA0] = c->rows[TC00] = c->rows[TC01] = (uint8_t)ra0;
  c->colsb[TA0] = c->colsb[TC00] = c->colsb[TC01] = 64;
  c->rows[TB0] = c->rows[TB1] = 16;
  c->colsb[TB0] = c->colsb[TB1] = 64;
  if (ra1 > 0) {
    c->rows[TA1] = c->rows[TC10] = c->rows[TC11] = (uint8_t)ra1;
    c->colsb[TA1] = c->colsb[TC10] = c->colsb[TC11] = 64;
  }
  amx_barrier(c);
  _tile_loadconfig(c);
}

// Transposes the 16 x 16 matrix of 32-bit elements r[row][lane] in place (unpack 32, unpack 64, then two rounds of
// 128-bit lane shuffles). Used for the B packing (token rows -> k-pair rows) and for C -> y (output rows -> token
// rows).
AMX_TARGET static inline void amx_transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // Now 128-bit lane L of r[4i + j] holds rows 4i..4i+3 of column 4L + j.
  for (int j = 0; j < 4; j++) {
    t[j] = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x88);           // lanes 0, 2 of each
    t[4 + j] = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xdd);       // lanes 1, 3 of each
    t[8 + j] = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x88);
    t[12 + j] = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xdd);
  }
  for (int j = 0; j < 4; j++) {
    r[j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0x88);           // column j
    r[8 + j] = _mm512_shuffle_i32x4(t[j], t[8 + j], 0xdd);       // column 8 + j
    r[4 + j] = _mm512_shuffle_i32x4(t[4 + j], t[12 + j], 0x88);  // column 4 + j
    r[12 + j] = _mm512_shuffle_i32x4(t[4 + j], t[12 + j], 0xdd); // column 12 + j
  }
}

// Packs tokens [0, nt) of xb (row stride in2 elements) into the VNNI B tiles at bt (layout in the header): for a
// token tile and a k-block, the 16 tokens' 32 BF16 = 16 pairs form a 16 x 16 matrix of 32-bit pairs, transposed.
// Rows of tokens >= nt are zero. Reads xb[n][0 .. 32 * nkb) for n < nt only.
AMX_TARGET static void amx_pack(const uint16_t* xb, int in2, int nt, int nkb, uint8_t* bt) {
  for (int j = 0; j < (nt + 15) / 16; j++) {
    int rows = nt - 16 * j < 16 ? nt - 16 * j : 16;
    for (int kb = 0; kb < nkb; kb++) {
      __m512i r[16];
      for (int n = 0; n < 16; n++)
        r[n] = n < rows ? _mm512_loadu_si512((const void*)(xb + (size_t)(16 * j + n) * in2 + 32 * kb))
                        : _mm512_setzero_si512();
      amx_transpose16(r);
      uint8_t* d = bt + ((size_t)j * nkb + kb) * AMX_TILE_BYTES;
      for (int p = 0; p < 16; p++) _mm512_storeu_si512((void*)(d + 64 * p), r[p]);  // aligned when scratch is
    }
  }
}

// Writes a stored C tile c (rows = outputs o.., columns = tokens t.., F32, 64-byte rows) to y transposed, plus
// bias: y[t + n][o + m] = c[m][n] + bias[o + m] for m < nr, n < nt. Reads only the nr rows the tile stored.
AMX_TARGET static void amx_write(const float* c, int nr, int nt, float* y, int ldy, const float* bias, int t,
                                 int o) {
  __m512i r[16];
  for (int m = 0; m < 16; m++) r[m] = m < nr ? _mm512_load_si512((const void*)(c + 16 * m)) : _mm512_setzero_si512();
  amx_transpose16(r);
  __mmask16 mk = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
  __m512 b = bias ? _mm512_maskz_loadu_ps(mk, bias + o) : _mm512_setzero_ps();
  for (int n = 0; n < nt; n++)
    _mm512_mask_storeu_ps(y + (size_t)(t + n) * ldy + o, mk, _mm512_add_ps(_mm512_castsi512_ps(r[n]), b));
}

// Accumulates one row block into the C tiles (zeroed first): A rows from wr (NA = 1: A0 only; NA = 2: A0 and A1,
// rows 16.. of the block), B from the packed token tile bt and, for NB = 2, the next one; all k-blocks. The last
// partial k-block (when in % 32 != 0) takes A from atail (32 rows of 32 BF16, zero past in). NA and NB are
// constants at every call (always_inline), so the branches fold away.
AMX_TARGET static inline __attribute__((always_inline)) void amx_block(
    const uint16_t* wr, int in, const uint8_t* bt, int nkb, const uint16_t* atail, const int NA, const int NB) {
  const size_t ws = (size_t)in * 2;  // w row stride in bytes
  const uint8_t* bt1 = bt + (size_t)nkb * AMX_TILE_BYTES;
  const int kfull = in / 32;
  _tile_zero(TC00);
  if (NB > 1) _tile_zero(TC01);
  if (NA > 1) _tile_zero(TC10);
  if (NA > 1 && NB > 1) _tile_zero(TC11);
  for (int kb = 0; kb < nkb; kb++) {
    if (kb < kfull) {
      _tile_loadd(TA0, wr + (size_t)kb * 32, ws);
      if (NA > 1) _tile_loadd(TA1, wr + (size_t)16 * in + (size_t)kb * 32, ws);
    } else {
      _tile_loadd(TA0, atail, 64);
      if (NA > 1) _tile_loadd(TA1, atail + 16 * 32, 64);
    }
    _tile_loadd(TB0, bt + (size_t)kb * AMX_TILE_BYTES, 64);
    if (NB > 1) _tile_loadd(TB1, bt1 + (size_t)kb * AMX_TILE_BYTES, 64);
    _tile_dpbf16ps(TC00, TA0, TB0);
    if (NB > 1) _tile_dpbf16ps(TC01, TA0, TB1);
    if (NA > 1) _tile_dpbf16ps(TC10, TA1, TB0);
    if (NA > 1 && NB > 1) _tile_dpbf16ps(TC11, TA1, TB1);
  }
}

// Matmul with AMX over output rows [o0, o1): xb is ls_pack_bf16's output (row stride ls_bf16_stride(in)), w BF16
// [out, in], y F32 with row stride ldy, bias F32 [out] or NULL; scratch: ls_amx_scratch_bytes(in, T) bytes,
// 64-byte aligned, owned by the calling thread. Tile state must have been granted (ls_amx_init).
LS_API AMX_TARGET void ls_matmul_amx(const uint16_t* xb, const uint16_t* w, int in, float* y, int ldy,
                                     const float* bias, int T, int o0, int o1, void* scratch) {
  if (T <= 0 || o1 <= o0 || in <= 0) return;
  const int in2 = ((in + 31) & ~31) + 32;  // ls_bf16_stride(in) of lorastream_cpu.c
  const int nkb = amx_nkb(in), kfull = in / 32, ktail = in - 32 * kfull;
  uint8_t* bt = (uint8_t*)scratch;
  amx_cfg cfg __attribute__((aligned(64)));
  uint16_t atail[32 * 32] __attribute__((aligned(64)));  // the partial k-block of up to 32 rows, zero-padded
  float cbuf[16 * 16] __attribute__((aligned(64)));      // one stored C tile
  int loaded = -1;                                       // the config loaded now, as ra0 * 32 + ra1
  for (int tc = 0; tc < T; tc += AMX_CHUNK) {
    const int nt = T - tc < AMX_CHUNK ? T - tc : AMX_CHUNK, ntiles = (nt + 15) / 16;
    amx_pack(xb + (size_t)tc * in2, in2, nt, nkb, bt);
    amx_barrier(bt);
    for (int o = o0; o < o1; o += 32) {
      const int nr = o1 - o < 32 ? o1 - o : 32, ra0 = nr < 16 ? nr : 16, ra1 = nr - ra0;
      if (ra0 * 32 + ra1 != loaded) {
        amx_config(&cfg, ra0, ra1);
        loaded = ra0 * 32 + ra1;
      }
      const uint16_t* wr = w + (size_t)o * in;
      if (ktail) {
        for (int r = 0; r < nr; r++) {
          memcpy(atail + 32 * r, wr + (size_t)r * in + 32 * kfull, (size_t)ktail * 2);
          memset(atail + 32 * r + ktail, 0, (size_t)(32 - ktail) * 2);
        }
        amx_barrier(atail);
      }
      for (int j = 0; j < ntiles; j += 2) {
        const uint8_t* b = bt + (size_t)j * nkb * AMX_TILE_BYTES;
        const int pair = j + 1 < ntiles, t = tc + 16 * j;
        const int nt0 = nt - 16 * j < 16 ? nt - 16 * j : 16, nt1 = nt - 16 * j - 16 < 16 ? nt - 16 * j - 16 : 16;
        if (ra1 > 0) {
          if (pair) amx_block(wr, in, b, nkb, atail, 2, 2);
          else amx_block(wr, in, b, nkb, atail, 2, 1);
        } else {
          if (pair) amx_block(wr, in, b, nkb, atail, 1, 2);
          else amx_block(wr, in, b, nkb, atail, 1, 1);
        }
        _tile_stored(TC00, cbuf, 64);
        amx_write(cbuf, ra0, nt0, y, ldy, bias, t, o);
        if (pair) {
          _tile_stored(TC01, cbuf, 64);
          amx_write(cbuf, ra0, nt1, y, ldy, bias, t + 16, o);
        }
        if (ra1 > 0) {
          _tile_stored(TC10, cbuf, 64);
          amx_write(cbuf, ra1, nt0, y, ldy, bias, t, o + 16);
          if (pair) {
            _tile_stored(TC11, cbuf, 64);
            amx_write(cbuf, ra1, nt1, y, ldy, bias, t + 16, o + 16);
          }
        }
      }
    }
  }
  _tile_release();
}

#endif  // !LS_NO_AMX
