// Plain-C emulation of the AMX tile intrinsics that lorastream_amx.c uses, so that its kernel runs and is checked
// (amx-emu-check.sh, with AddressSanitizer) on CPUs without AMX. Included by lorastream_amx.c only when LS_AMX_EMU
// is defined; it replaces gcc's _tile_* intrinsics (inline asm) with the functions below.
//
// What is emulated (Intel SDM vol. 2: LDTILECFG, TILELOADD, TILESTORED, TILEZERO, TDPBF16PS, TILERELEASE; vol. 1
// ch. 18 "Intel AMX"), per thread like the real tile state:
//   - palette 1: 8 tiles, each up to 16 rows of up to 64 bytes; each tile's rows and bytes per row (colsb) come from
//     the 64-byte config. ldtilecfg zeroes every tile; palette 0 returns to the init state (like tilerelease).
//   - tileloadd reads exactly rows x colsb bytes (row r from base + r * stride) and zeroes the rest of the tile;
//     tilestored writes exactly rows x colsb bytes. So AddressSanitizer sees every byte the real instruction would
//     touch, and nothing more.
//   - tdpbf16ps as in the SDM's pseudo-code: for each row m of C, two F32 partial sums per column n, one over the
//     even and one over the odd elements of the k-pairs, each term fused (a*b + s, rounded once to nearest even;
//     a BF16 product is exact in F32 anyway), then C[m][n] += (even + odd). Input denormals read as zero and
//     output denormals are flushed to zero at every step (DAZ = FTZ = 1, MXCSR ignored).
//     The intrinsics guide's pseudo-code instead adds each product straight into C[m][n]; the two orders give
//     slightly different roundings, and the real hardware may follow neither exactly. Sums agree to F32 rounding.
// What aborts (with a message on stderr), where the real CPU would raise #GP or #UD or silently do something we
// never want: a config with another palette, nonzero reserved bytes or start_row, a tile past 7 configured, rows
// > 16, colsb > 64, or only one of rows/colsb zero; any tile operation before ldtilecfg (or after tilerelease) or on
// a tile whose rows are 0 (unconfigured); a tile number outside 0..7; tdpbf16ps with two operands the same tile,
// a colsb not a multiple of 4, or shapes that do not chain (C.rows == A.rows, A.colsb / 4 == B.rows,
// C.colsb == B.colsb).
#ifndef LS_AMX_EMU_H
#define LS_AMX_EMU_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int configured;        // 1 after a valid ldtilecfg with palette 1, 0 in the init state
  uint8_t rows[8];       // rows of each tile (0: unconfigured)
  uint16_t colsb[8];     // bytes per row of each tile
  uint8_t t[8][16][64];  // the tiles' contents
} ls_emu_state;

static __thread ls_emu_state ls_emu;  // tile state is per thread, as on the CPU

#define LS_EMU_FN static __attribute__((unused))  // not every includer uses every function

__attribute__((noreturn, format(printf, 2, 3))) LS_EMU_FN void ls_emu_fail(const char* op, const char* fmt, ...) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "amx_emu: %s: ", op);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", msg);  // one write
  abort();
}

// Aborts unless tile t can be used now: tiles configured in this thread, t in 0..7 and given a shape.
LS_EMU_FN void ls_emu_check_tile(const char* op, int t) {
  if (!ls_emu.configured) ls_emu_fail(op, "tile %d used with no tile config loaded in this thread", t);
  if (t < 0 || t > 7) ls_emu_fail(op, "tile %d does not exist (palette 1 has tiles 0..7)", t);
  if (ls_emu.rows[t] == 0) ls_emu_fail(op, "tile %d is not configured (0 rows)", t);
}

LS_EMU_FN void ls_emu_loadconfig(const void* config) {
  uint8_t c[64];
  memcpy(c, config, 64);  // the instruction reads all 64 bytes
  if (c[0] == 0) {        // palette 0: init state
    memset(&ls_emu, 0, sizeof ls_emu);
    return;
  }
  if (c[0] != 1) ls_emu_fail("ldtilecfg", "palette %d (only 1 exists)", c[0]);
  if (c[1] != 0) ls_emu_fail("ldtilecfg", "start_row %d (only 0 is emulated)", c[1]);
  for (int i = 2; i < 16; i++)
    if (c[i]) ls_emu_fail("ldtilecfg", "reserved byte %d is %d, must be 0", i, c[i]);
  ls_emu_state s;
  memset(&s, 0, sizeof s);  // ldtilecfg zeroes all tiles
  for (int i = 0; i < 16; i++) {
    int colsb = c[16 + 2 * i] | (c[17 + 2 * i] << 8), rows = c[48 + i];
    if (i >= 8) {
      if (colsb || rows) ls_emu_fail("ldtilecfg", "tile %d configured (%d x %d B); palette 1 has 8", i, rows, colsb);
      continue;
    }
    if (rows > 16 || colsb > 64) ls_emu_fail("ldtilecfg", "tile %d: %d rows x %d B exceeds 16 x 64", i, rows, colsb);
    if ((rows == 0) != (colsb == 0))
      ls_emu_fail("ldtilecfg", "tile %d: %d rows x %d B, one of them 0", i, rows, colsb);
    s.rows[i] = (uint8_t)rows;
    s.colsb[i] = (uint16_t)colsb;
  }
  s.configured = 1;
  ls_emu = s;
}

LS_EMU_FN void ls_emu_loadd(int t, const void* base, size_t stride) {
  ls_emu_check_tile("tileloadd", t);
  memset(ls_emu.t[t], 0, sizeof ls_emu.t[t]);
  for (int r = 0; r < ls_emu.rows[t]; r++)
    memcpy(ls_emu.t[t][r], (const uint8_t*)base + (size_t)r * stride, ls_emu.colsb[t]);
}

LS_EMU_FN void ls_emu_stored(int t, void* base, size_t stride) {
  ls_emu_check_tile("tilestored", t);
  for (int r = 0; r < ls_emu.rows[t]; r++)
    memcpy((uint8_t*)base + (size_t)r * stride, ls_emu.t[t][r], ls_emu.colsb[t]);
}

LS_EMU_FN void ls_emu_zero(int t) {
  ls_emu_check_tile("tilezero", t);
  memset(ls_emu.t[t], 0, sizeof ls_emu.t[t]);
}

// F32 with denormals replaced by a zero of the same sign (DAZ on inputs, FTZ on outputs).
LS_EMU_FN float ls_emu_flush(float v) { return fpclassify(v) == FP_SUBNORMAL ? copysignf(0.0f, v) : v; }

// BF16 element i of a tile row, as F32 (its bits are the F32's high half), denormal read as zero.
LS_EMU_FN float ls_emu_bf16(const uint8_t* row, int i) {
  uint32_t bits = (uint32_t)(row[2 * i] | (row[2 * i + 1] << 8)) << 16;
  float f;
  memcpy(&f, &bits, 4);
  return ls_emu_flush(f);
}

LS_EMU_FN void ls_emu_dpbf16ps(int d, int a, int b) {
  ls_emu_check_tile("tdpbf16ps", d);
  ls_emu_check_tile("tdpbf16ps", a);
  ls_emu_check_tile("tdpbf16ps", b);
  if (d == a || d == b || a == b) ls_emu_fail("tdpbf16ps", "operands tmm%d, tmm%d, tmm%d not distinct", d, a, b);
  int drows = ls_emu.rows[d], dcols = ls_emu.colsb[d], arows = ls_emu.rows[a], acols = ls_emu.colsb[a];
  int brows = ls_emu.rows[b], bcols = ls_emu.colsb[b];
  if (dcols % 4 || acols % 4 || bcols % 4)
    ls_emu_fail("tdpbf16ps", "colsb %d, %d, %d: each must be a multiple of 4", dcols, acols, bcols);
  if (drows != arows || acols / 4 != brows || dcols != bcols)
    ls_emu_fail("tdpbf16ps", "shapes do not chain: C %dx%dB, A %dx%dB, B %dx%dB", drows, dcols, arows, acols,
                brows, bcols);
  int nk = acols / 4, nn = dcols / 4;
  float bf[16][32];  // B as F32: bf[k][2n + e]
  for (int k = 0; k < nk; k++)
    for (int i = 0; i < 2 * nn; i++) bf[k][i] = ls_emu_bf16(ls_emu.t[b][k], i);
  for (int m = 0; m < drows; m++) {
    float af[32];  // row m of A as F32
    for (int i = 0; i < 2 * nk; i++) af[i] = ls_emu_bf16(ls_emu.t[a][m], i);
    float even[16] = {0}, odd[16] = {0};  // the SDM's temp1: fp32[2n] and fp32[2n+1]
    for (int k = 0; k < nk; k++) {
      for (int n = 0; n < nn; n++) {
        even[n] = ls_emu_flush(fmaf(af[2 * k], bf[k][2 * n], even[n]));
        odd[n] = ls_emu_flush(fmaf(af[2 * k + 1], bf[k][2 * n + 1], odd[n]));
      }
    }
    for (int n = 0; n < nn; n++) {
      float c;
      memcpy(&c, &ls_emu.t[d][m][4 * n], 4);
      c = ls_emu_flush(ls_emu_flush(c) + ls_emu_flush(even[n] + odd[n]));
      memcpy(&ls_emu.t[d][m][4 * n], &c, 4);
    }
    memset(&ls_emu.t[d][m][dcols], 0, (size_t)(64 - dcols));  // write_row_and_zero
  }
  memset(ls_emu.t[d][drows], 0, (size_t)(16 - drows) * 64);  // zero_upper_rows
}

LS_EMU_FN void ls_emu_release(void) { memset(&ls_emu, 0, sizeof ls_emu); }

// Replace gcc's intrinsics (macros over inline asm, or inline functions) with the emulation.
#undef _tile_loadconfig
#undef _tile_loadd
#undef _tile_stored
#undef _tile_zero
#undef _tile_dpbf16ps
#undef _tile_release
#define _tile_loadconfig(config) ls_emu_loadconfig(config)
#define _tile_loadd(t, base, stride) ls_emu_loadd((t), (base), (size_t)(stride))
#define _tile_stored(t, base, stride) ls_emu_stored((t), (base), (size_t)(stride))
#define _tile_zero(t) ls_emu_zero(t)
#define _tile_dpbf16ps(d, a, b) ls_emu_dpbf16ps((d), (a), (b))
#define _tile_release() ls_emu_release()

#endif  // LS_AMX_EMU_H
