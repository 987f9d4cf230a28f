// Checks ls_matmul_amx (lorastream_amx.c) against a double-precision reference and against ls_matmul_bf16dot
// (lorastream_cpu.c), over many shapes and edges. Built and run by amx-emu-check.sh: with -DLS_AMX_EMU (the tile
// intrinsics emulated in C, amx_emu.h) under AddressSanitizer on any AVX-512 CPU, or natively on an AMX CPU.
//
// For each shape (in, T, out): random BF16 weights w [out, in] (allocated to the exact size, so ASan catches a read
// past w's last element), random F32 activations x packed by the real ls_pack_bf16 into xb (exact size; the 32
// pad elements of each row, which the packer never writes, hold BF16 NaN so that a kernel reading them fails), and
// a double reference over the same BF16 values. Then for each output range [o0, o1), with and without bias, with
// ldy = out and ldy > out: y filled with a sentinel, ls_matmul_amx and ls_matmul_bf16dot run, each y[t, o] in the
// range compared to the reference (and to each other) within 1e-5 * (sum_i |x[t,i] w[o,i]| + |bias[o]|), every
// other element of y checked to still hold the sentinel. The scratch is exactly ls_amx_scratch_bytes, filled with
// garbage before each call. Also: the plain-C packer below against ls_pack_bf16, 4 threads splitting the rows as
// Java does, and (emulation only) that the emulator's guards abort on misuse and that its tdpbf16ps reads input
// denormals as zero.
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef LS_AMX_EMU
#include "amx_emu.h"  // this file's own copy of the emulator, for the self-tests
#endif

// lorastream_cpu.c
int ls_cpu_features(void);
int ls_bf16_stride(int in);
void ls_pack_bf16(const float* x, int ldx, int T, int in, uint16_t* xb);
void ls_matmul_bf16dot(const uint16_t* xb, const uint16_t* w, int in, float* y, int ldy, const float* bias, int T,
                       int o0, int o1);
// lorastream_amx.c
int ls_amx_init(void);
long ls_amx_scratch_bytes(int in, int T);
void ls_matmul_amx(const uint16_t* xb, const uint16_t* w, int in, float* y, int ldy, const float* bias, int T,
                   int o0, int o1, void* scratch);

#ifdef LS_AMX_EMU
#define MODE "emu"
#else
#define MODE "native"
#endif
#define SENTINEL 0xFFC0DEADu  // a NaN no kernel writes
#define TOL 1e-5

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {  // xorshift64*
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}
static float rndf(void) { return (float)((rnd() >> 8) * (1.0 / 8388608.0) * 2.0 - 1.0); }  // [-1, 1)

static float bf16_to_f(uint16_t h) {
  uint32_t b = (uint32_t)h << 16;
  float f;
  memcpy(&f, &b, 4);
  return f;
}
static uint32_t f_bits(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  return b;
}

// F32 to BF16, round to nearest even, denormals to signed zero, NaN quieted: what vcvtne2ps2bf16 does.
static uint16_t f_to_bf16(float f) {
  uint32_t b = f_bits(f);
  if ((b & 0x7F800000u) == 0x7F800000u && (b & 0x7FFFFFu)) return (uint16_t)((b >> 16) | 0x40);
  if ((b & 0x7F800000u) == 0) return (uint16_t)((b >> 16) & 0x8000);
  return (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1)) >> 16);
}

// Plain-C ls_pack_bf16: rows of ls_bf16_stride(in) elements, [in, in rounded up to 32) zero, the rest untouched.
static void pack_c(const float* x, int ldx, int T, int in, uint16_t* xb) {
  int in2 = ls_bf16_stride(in), inp = (in + 31) & ~31;
  for (int t = 0; t < T; t++)
    for (int i = 0; i < inp; i++) xb[(size_t)t * in2 + i] = i < in ? f_to_bf16(x[(size_t)t * ldx + i]) : 0;
}

static int have_bf16;  // AVX512_BF16 here: ls_pack_bf16 and ls_matmul_bf16dot can run
static long cases, failed, printed;
static uint64_t hash = 1469598103934665603ull;  // FNV-1a over every y the AMX kernel wrote: equal across builds

static void hash_y(const float* y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    hash ^= f_bits(y[i]);
    hash *= 1099511628211ull;
  }
}

// One shape's inputs and reference.
typedef struct {
  int in, T, out, in2;
  uint16_t *w, *xb;
  float* bias;
  double *ref, *mag;  // [T][out]: sum x*w and sum |x*w|, without bias
} shape;

static void shape_init(shape* s, int in, int T, int out) {
  s->in = in, s->T = T, s->out = out, s->in2 = ls_bf16_stride(in);
  int ldx = in + (rnd() & 3);
  s->w = malloc((size_t)out * in * 2);
  for (size_t i = 0; i < (size_t)out * in; i++) {
    uint32_t r = rnd();
    s->w[i] = (r & 15) == 0 ? 0 : f_to_bf16(rndf() * ldexpf(1.0f, (int)(r >> 28) - 8));  // some zeros, 2^-8..2^7
  }
  float* x = malloc((size_t)T * ldx * 4);
  for (size_t i = 0; i < (size_t)T * ldx; i++) x[i] = rndf() * 2.0f;
  s->xb = malloc((size_t)T * s->in2 * 2);
  uint16_t* xc = malloc((size_t)T * s->in2 * 2);
  for (size_t i = 0; i < (size_t)T * s->in2; i++) s->xb[i] = xc[i] = 0x7FC1;  // BF16 NaN in the never-written pad
  pack_c(x, ldx, T, in, xc);
  if (have_bf16) {
    ls_pack_bf16(x, ldx, T, in, s->xb);
    cases++;
    if (memcmp(s->xb, xc, (size_t)T * s->in2 * 2)) {
      failed++;
      printf("FAIL pack: ls_pack_bf16 differs from the plain-C packer (in %d, T %d)\n", in, T);
    }
  } else {
    memcpy(s->xb, xc, (size_t)T * s->in2 * 2);
  }
  free(xc);
  free(x);
  s->bias = malloc((size_t)out * 4);
  for (int o = 0; o < out; o++) s->bias[o] = rndf() * 4.0f;
  s->ref = malloc((size_t)T * out * sizeof(double));
  s->mag = malloc((size_t)T * out * sizeof(double));
  for (int t = 0; t < T; t++)
    for (int o = 0; o < out; o++) {
      double a = 0, m = 0;
      for (int i = 0; i < in; i++) {
        double p = (double)bf16_to_f(s->xb[(size_t)t * s->in2 + i]) * bf16_to_f(s->w[(size_t)o * in + i]);
        a += p;
        m += fabs(p);
      }
      s->ref[(size_t)t * out + o] = a;
      s->mag[(size_t)t * out + o] = m;
    }
}

static void shape_free(shape* s) {
  free(s->w), free(s->xb), free(s->bias), free(s->ref), free(s->mag);
}

// Compares y (from kernel `who`) with the reference over [o0, o1) and checks the sentinel elsewhere.
// other: another kernel's y to compare with as well, or NULL. Returns the number of bad elements.
static long compare(const shape* s, const char* who, const float* y, const float* other, int ldy, int o0, int o1,
                    int use_bias) {
  long bad = 0;
  for (int t = 0; t < s->T; t++)
    for (int o = 0; o < ldy; o++) {
      float v = y[(size_t)t * ldy + o];
      if (o < o0 || o >= o1) {
        if (f_bits(v) != SENTINEL) {
          if (bad++ == 0 && printed++ < 20)
            printf("FAIL %s in %d T %d out %d [%d,%d) ldy %d: y[%d][%d] outside the range was written (%g)\n", who,
                   s->in, s->T, s->out, o0, o1, ldy, t, o, v);
        }
        continue;
      }
      double b = use_bias ? s->bias[o] : 0.0, want = s->ref[(size_t)t * s->out + o] + b;
      double tol = TOL * (s->mag[(size_t)t * s->out + o] + fabs(b));
      int ok = fabs(v - want) <= tol;
      if (ok && other) ok = fabs((double)v - other[(size_t)t * ldy + o]) <= tol;
      if (!ok) {
        if (bad++ == 0 && printed++ < 20)
          printf("FAIL %s in %d T %d out %d [%d,%d) ldy %d bias %d: y[%d][%d] = %.9g, reference %.9g, bf16dot %.9g,"
                 " tolerance %.3g\n", who, s->in, s->T, s->out, o0, o1, ldy, use_bias, t, o, v, want,
                 other ? other[(size_t)t * ldy + o] : NAN, tol);
      }
    }
  return bad;
}

// y [T, ldy] filled with the sentinel, between two guards of GUARD sentinel floats: masked stores are not seen
// by AddressSanitizer, so writes just outside y are caught by free_y instead.
#define GUARD 32
static float* new_y(int T, int ldy) {
  size_t n = (size_t)T * ldy + 2 * GUARD;
  float* y = malloc(n * 4);
  uint32_t s = SENTINEL;
  for (size_t i = 0; i < n; i++) memcpy(&y[i], &s, 4);
  return y + GUARD;
}

// Frees a new_y buffer (NULL: nothing); returns 1 (and says so) if a guard was written.
static int free_y(float* y, int T, int ldy, const char* who) {
  if (!y) return 0;
  int bad = 0;
  for (int i = 0; i < GUARD; i++)
    bad |= f_bits(y[-1 - i]) != SENTINEL || f_bits(y[(size_t)T * ldy + i]) != SENTINEL;
  if (bad && printed++ < 20) printf("FAIL %s wrote outside y [%d, %d]\n", who, T, ldy);
  free(y - GUARD);
  return bad;
}

static void* new_scratch(int in, int T) {
  long n = ls_amx_scratch_bytes(in, T);
  if (n <= 0 || n % 64) {
    printf("FAIL ls_amx_scratch_bytes(%d, %d) = %ld\n", in, T, n);
    exit(1);
  }
  void* p = aligned_alloc(64, (size_t)n);
  memset(p, 0xFF, (size_t)n);  // garbage (BF16 NaN): the kernel must write every byte it reads
  return p;
}

// One call of each kernel on [o0, o1).
static void run_case(const shape* s, int o0, int o1, int use_bias, int ldy) {
  float* y = new_y(s->T, ldy);
  float* yd = have_bf16 ? new_y(s->T, ldy) : NULL;
  void* scratch = new_scratch(s->in, s->T);
  const float* bias = use_bias ? s->bias : NULL;
  ls_matmul_amx(s->xb, s->w, s->in, y, ldy, bias, s->T, o0, o1, scratch);
  if (yd) ls_matmul_bf16dot(s->xb, s->w, s->in, yd, ldy, bias, s->T, o0, o1);
  hash_y(y, (size_t)s->T * ldy);
  cases++;
  long bad = compare(s, "amx", y, yd, ldy, o0, o1, use_bias);
  if (yd) bad += compare(s, "bf16dot", yd, NULL, ldy, o0, o1, use_bias);
  bad += free_y(y, s->T, ldy, "amx") + free_y(yd, s->T, ldy, "bf16dot");
  if (bad) failed++;
  free(scratch);
}

// Threads splitting [0, out) as Java does (multiples of 4 rows, the rest to the last), each with its scratch.
typedef struct {
  const shape* s;
  float* y;
  int ldy, o0, o1;
} job;

static void* run_job(void* p) {
  job* j = p;
  void* scratch = new_scratch(j->s->in, j->s->T);
  ls_matmul_amx(j->s->xb, j->s->w, j->s->in, j->y, j->ldy, j->s->bias, j->s->T, j->o0, j->o1, scratch);
  free(scratch);
  return NULL;
}

static void run_threads(int in, int T, int out, int nthreads) {
  shape s;
  shape_init(&s, in, T, out);
  int ldy = out + 5;
  float* y = new_y(T, ldy);
  pthread_t th[16];
  job jobs[16];
  int per = (out / nthreads) & ~3;
  for (int i = 0; i < nthreads; i++) {
    jobs[i] = (job){&s, y, ldy, i * per, i == nthreads - 1 ? out : (i + 1) * per};
    pthread_create(&th[i], NULL, run_job, &jobs[i]);
  }
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  cases++;
  if (compare(&s, "amx threads", y, NULL, ldy, 0, out, 1) + free_y(y, T, ldy, "amx threads")) failed++;
  shape_free(&s);
}

#ifdef LS_AMX_EMU
// Runs f in a child process and expects it to abort with an emulator message; prints the message.
static void expect_abort(const char* what, void (*f)(void)) {
  int fd[2];
  if (pipe(fd)) exit(1);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd[1], 2);
    close(fd[0]);
    f();
    _exit(0);
  }
  close(fd[1]);
  char msg[512] = {0};
  size_t n = 0;
  for (ssize_t k; (k = read(fd[0], msg + n, sizeof msg - 1 - n)) > 0;) n += (size_t)k;  // all, until EOF
  close(fd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  if (n > 0) msg[strcspn(msg, "\n")] = 0;
  cases++;
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strncmp(msg, "amx_emu: ", 9) == 0) {
    printf("  emulator guard (%s): %s\n", what, msg);
  } else {
    failed++;
    printf("FAIL emulator guard (%s) did not abort with a message (status %d, '%s')\n", what, st, msg);
  }
}

static void cfg_set(uint8_t c[64], int tile, int rows, int colsb) {
  c[48 + tile] = (uint8_t)rows;
  c[16 + 2 * tile] = (uint8_t)colsb;
  c[17 + 2 * tile] = (uint8_t)(colsb >> 8);
}
static void misuse_unconfigured(void) {
  uint8_t buf[64] = {0};
  _tile_loadd(0, buf, 64);
}
static void misuse_big_config(void) {
  uint8_t c[64] = {1};
  cfg_set(c, 0, 17, 64);
  _tile_loadconfig(c);
}
static void misuse_unconfigured_tile(void) {
  uint8_t c[64] = {1}, buf[1024];
  cfg_set(c, 0, 16, 64);
  _tile_loadconfig(c);
  _tile_stored(3, buf, 64);
}
static void misuse_shapes(void) {
  uint8_t c[64] = {1};
  cfg_set(c, 0, 16, 64);  // C 16 x 16 F32
  cfg_set(c, 1, 16, 64);  // A 16 x 16 pairs
  cfg_set(c, 2, 8, 64);   // B with 8 pair-rows: does not chain with A
  _tile_loadconfig(c);
  _tile_dpbf16ps(0, 1, 2);
}
static void misuse_after_release(void) {
  uint8_t c[64] = {1};
  cfg_set(c, 0, 16, 64);
  _tile_loadconfig(c);
  _tile_release();
  _tile_zero(0);
}

// tdpbf16ps on 1 x 1 pair times 1 pair-row x 2 columns: exact values, a denormal input read as zero, the rest of
// the row zeroed.
static void emu_dot_test(void) {
  uint8_t c[64] = {1};
  cfg_set(c, 0, 1, 8);  // C: 1 row x 2 F32
  cfg_set(c, 1, 1, 4);  // A: 1 row x 1 pair
  cfg_set(c, 2, 1, 8);  // B: 1 pair-row x 2 columns
  _tile_loadconfig(c);
  uint16_t a[2] = {f_to_bf16(1.5f), f_to_bf16(2.0f)};
  uint16_t b[4] = {f_to_bf16(2.0f), f_to_bf16(3.0f), 0x0001 /* denormal */, 0x7E00 /* 2^125 */};
  uint16_t a2[2] = {0x7E00, 0x7E00};
  float out[4] = {7, 7, 7, 7};
  _tile_zero(0);
  _tile_loadd(1, a, 4);
  _tile_loadd(2, b, 8);
  _tile_dpbf16ps(0, 1, 2);  // col 0: 1.5 * 2 + 2 * 3 = 9; col 1: 1.5 * denormal + 2 * 2^125 = 2^126
  _tile_stored(0, out, 16); // 8 bytes of the 16-byte stride: out[2] keeps its 7
  float want1 = ldexpf(1.0f, 126);
  _tile_zero(0);
  _tile_loadd(1, a2, 4);
  _tile_dpbf16ps(0, 1, 2);  // col 0: 2^125 * 2 + 2^125 * 3 > 0; col 1: 2^125 * denormal + 2^125 * 2^125 = inf
  float out2[2];
  _tile_stored(0, out2, 8);
  _tile_release();
  cases++;
  if (!(out[0] == 9.0f && out[1] == want1 && f_bits(out[2]) == f_bits(7.0f) && isinf(out2[1]) && out2[0] > 0)) {
    failed++;
    printf("FAIL emulated tdpbf16ps: %g %g %g, %g %g\n", out[0], out[1], out[2], out2[0], out2[1]);
  }
  // A denormal that is not treated as zero would show in a sum small enough to see it: 1e-39-ish * 2^100.
  uint16_t a3[2] = {0x0001, 0}, b3[4] = {0x7100, 0, 0x7100, 0};  // 2^-133 * 2^99 = 2^-34 if not flushed
  _tile_loadconfig(c);
  _tile_loadd(1, a3, 4);
  _tile_loadd(2, b3, 8);
  _tile_dpbf16ps(0, 1, 2);
  _tile_stored(0, out2, 8);
  _tile_release();
  cases++;
  if (out2[0] != 0.0f) {
    failed++;
    printf("FAIL emulated tdpbf16ps: a denormal input was not read as zero (%g)\n", out2[0]);
  }
}
#endif

int main(void) {
  have_bf16 = (ls_cpu_features() & 4) != 0;
  int rc = ls_amx_init();
  if (rc != 0) {
    printf("amx %s check: ls_amx_init failed: %s (errno %d); AMX is not usable here, nothing checked\n", MODE,
           strerror(rc), rc);
    return 77;
  }
  if (!have_bf16) printf("amx %s check: no AVX512_BF16 here: plain-C packer, no bf16dot comparison\n", MODE);
#ifdef LS_AMX_EMU
  expect_abort("tile used before ldtilecfg", misuse_unconfigured);
  expect_abort("17 rows", misuse_big_config);
  expect_abort("unconfigured tile", misuse_unconfigured_tile);
  expect_abort("shapes that do not chain", misuse_shapes);
  expect_abort("tile used after tilerelease", misuse_after_release);
  emu_dot_test();
#endif
  static const int ins[] = {32, 48, 64, 96, 2048, 100, 33, 2};
  static const int Ts[] = {1, 2, 5, 15, 16, 17, 31, 32, 33, 64, 100};
  static const int outs[] = {16, 32, 48, 36, 4, 7, 64, 256};
  for (size_t a = 0; a < sizeof ins / sizeof *ins; a++)
    for (size_t b = 0; b < sizeof Ts / sizeof *Ts; b++)
      for (size_t c = 0; c < sizeof outs / sizeof *outs; c++) {
        int in = ins[a], T = Ts[b], out = outs[c];
        shape s;
        shape_init(&s, in, T, out);
        int ranges[6][2], nr = 0;
        ranges[nr][0] = 0, ranges[nr++][1] = out;                                   // one thread
        if (out >= 20) ranges[nr][0] = 4, ranges[nr++][1] = 20;                     // 16 rows not at 0
        if (out >= 7) ranges[nr][0] = 0, ranges[nr++][1] = 7;                       // 7 rows
        if (out >= 12) ranges[nr][0] = (out / 3) & ~3, ranges[nr++][1] = out;       // the last thread's range
        if (out >= 44) ranges[nr][0] = 8, ranges[nr++][1] = out - 4;                // 16 < a tail < 32
        if (out > 1) ranges[nr][0] = out - 1, ranges[nr++][1] = out;                // the last row alone
        for (int r = 0; r < nr; r++)
          for (int v = 0; v < 2; v++)  // ldy = out, then ldy > out; with and without bias (alternating)
            run_case(&s, ranges[r][0], ranges[r][1], v ^ (r & 1), out + (v ? 3 + (int)(rnd() % 13) : 0));
        shape_free(&s);
      }
  run_threads(100, 37, 200, 4);
  run_threads(2048, 70, 100, 3);
  run_threads(96, 130, 257, 8);
  printf("amx %s check: AMX outputs hash %016llx\n", MODE, (unsigned long long)hash);
  printf("amx %s check: %ld cases, %ld failed\n", MODE, cases, failed);
  return failed ? 1 : 0;
}
