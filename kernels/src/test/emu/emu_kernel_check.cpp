// lorastream CUDA kernel emulator: runs EVERY kernel of liblorastream_emu.so through the C API on small
// shapes (ABI.md's geometry and the README's faster one, vector and scalar paths, unaligned row views) and
// compares with naive C++ references. Every launch also runs in reverse thread order and on two workers,
// and must give the same bits (a difference means a race: a missing barrier). Built and run by
// `build-emu.sh --check OUT_DIR`. The Java tests against the CPU twins remain the real kernel tests; this is
// a quick C++-side smoke test of the kernels and of the emulator's table.
//
// TEST TOOL ONLY: the emulator runs the real kernel sources on the CPU; it checks argument order, indexing,
// arithmetic and barrier placement (deadlocks, races via thread-order permutation); it does NOT check
// PTX/JIT, the real memory model, warp-synchronous code without explicit syncs, timing, or driver behaviour.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

extern "C" {
int emu_launch(const char* symbol, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
               unsigned dynamic_smem_bytes, void** params);
const char* emu_last_error(void);
int emu_symbol_count(void);
const char* emu_symbol_name(int i);
const char* emu_symbol_params(const char* symbol);
void emu_set_thread_order(int reverse);
void emu_set_workers(int n);
}

namespace {

int g_failed = 0, g_checks = 0;
std::vector<std::string> g_launched;
std::vector<double> g_seconds;  // per g_launched entry, all modes

void fail(const std::string& what) {
  ++g_failed;
  printf("  FAILED %s\n", what.c_str());
}

template <typename T>
float to_f(T v) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(v);
  else return v;
}
template <typename T>
T from_f(float v) {
  if constexpr (std::is_same_v<T, __half>) return __float2half_rn(v);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __float2bfloat16_rn(v);
  else return v;
}
template <typename T>
const char* sfx() {
  return std::is_same_v<T, __half> ? "f16" : "bf16";
}
template <typename T>
double eps() {  // relative rounding step of T
  return std::is_same_v<T, __half> ? 1.0 / 1024 : 1.0 / 128;
}

/** Device-like buffers: 256-byte aligned like cudaMalloc, restorable so every mode starts from the same inputs. */
struct Mem {
  struct B {
    void* p;
    size_t n;
    std::vector<uint8_t> init;
  };
  std::vector<B> bufs;
  ~Mem() {
    for (auto& b : bufs) free(b.p);
  }
  template <typename T>
  T* alloc(size_t count) {
    // Exact size (glibc's aligned_alloc accepts any size): run under valgrind, an access past the end of a
    // buffer is reported.
    const size_t bytes = std::max<size_t>(1, count * sizeof(T));
    void* p = aligned_alloc(256, bytes);
    memset(p, 0, bytes);
    bufs.push_back({p, bytes, {}});
    return (T*)p;
  }
  void save() {
    for (auto& b : bufs) b.init.assign((uint8_t*)b.p, (uint8_t*)b.p + b.n);
  }
  void restore() {
    for (auto& b : bufs) memcpy(b.p, b.init.data(), b.n);
  }
  std::vector<std::vector<uint8_t>> dump() const {
    std::vector<std::vector<uint8_t>> d;
    for (auto& b : bufs) d.emplace_back((uint8_t*)b.p, (uint8_t*)b.p + b.n);
    return d;
  }
  void load(const std::vector<std::vector<uint8_t>>& d) {
    for (size_t i = 0; i < bufs.size(); ++i) memcpy(bufs[i].p, d[i].data(), bufs[i].n);
  }
};

/** One kernel argument, stored so that params[i] can point at it. */
struct Arg {
  char code;
  uint64_t bits = 0;
  template <typename P>
  Arg(P* p) : code('p') { memcpy(&bits, &p, 8); }
  Arg(std::nullptr_t) : code('p') {}
  Arg(int v) : code('i') { memcpy(&bits, &v, 4); }
  Arg(long v) : code('l') { memcpy(&bits, &v, 8); }
  Arg(float v) : code('f') { memcpy(&bits, &v, 4); }
};

/**
 * Launches sym in forward order, reverse order and on two workers from the same inputs; all three must
 * succeed and leave identical memory. Leaves the forward results in memory. False on failure.
 */
bool run(Mem& mem, const std::string& sym, unsigned gx, unsigned gy, unsigned gz, unsigned bx, std::vector<Arg> args) {
  ++g_checks;
  const char* codes = emu_symbol_params(sym.c_str());
  std::string have;
  for (auto& a : args) have += a.code;
  if (!codes || have != codes) {
    fail(sym + ": argument codes " + have + " vs the kernel's " + (codes ? codes : "(unknown symbol)"));
    return false;
  }
  size_t si = std::find(g_launched.begin(), g_launched.end(), sym) - g_launched.begin();
  if (si == g_launched.size()) g_launched.push_back(sym), g_seconds.push_back(0);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<void*> params;
  for (auto& a : args) params.push_back(&a.bits);
  mem.save();
  std::vector<std::vector<uint8_t>> results[3];
  const char* mode_name[3] = {"forward", "reverse", "2 workers"};
  char geo[96];
  snprintf(geo, sizeof geo, "<<<(%u,%u,%u), %u>>>", gx, gy, gz, bx);
  for (int mode = 0; mode < 3; ++mode) {
    mem.restore();
    emu_set_thread_order(mode == 1);
    emu_set_workers(mode == 2 ? 2 : 1);
    const int rc = emu_launch(sym.c_str(), gx, gy, gz, bx, 1, 1, 0, params.data());
    if (rc != 0) {
      fail(sym + geo + " " + mode_name[mode] + ": rc " + std::to_string(rc) + ": " + emu_last_error());
      emu_set_thread_order(0);
      emu_set_workers(1);
      return false;
    }
    results[mode] = mem.dump();
  }
  emu_set_thread_order(0);
  emu_set_workers(1);
  g_seconds[si] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (int mode = 1; mode < 3; ++mode)
    for (size_t b = 0; b < results[0].size(); ++b)
      if (results[mode][b] != results[0][b]) {
        fail(sym + geo + ": buffer " + std::to_string(b) + " differs between forward and " + mode_name[mode] +
             " order (a race: missing barrier?)");
        mem.load(results[0]);
        return false;
      }
  mem.load(results[0]);
  return true;
}

/** Compares got with ref within atol + rtol*|ref| (exact when both are 0); reports the worst element. */
struct Cmp {
  std::string what;
  double atol, rtol;
  Cmp(std::string w, double a, double r) : what(std::move(w)), atol(a), rtol(r) {}
  int bad = 0;
  double worst = 0;
  std::string first;
  void operator()(double got, double ref, long idx) {
    const double err = fabs(got - ref), tol = atol + rtol * fabs(ref);
    if (!(err <= tol)) {
      if (!bad) first = "index " + std::to_string(idx) + ": got " + std::to_string(got) + ", expected " + std::to_string(ref);
      ++bad;
    }
    worst = std::max(worst, err / (tol > 0 ? tol : 1));
  }
  ~Cmp() {
    ++g_checks;
    if (bad) fail(what + ": " + std::to_string(bad) + " elements out of tolerance, first " + first);
  }
};

std::mt19937 rng(12345);
float urand(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); }

template <typename T>
void fill(T* p, size_t n, float lo = -1.f, float hi = 1.f) {
  for (size_t i = 0; i < n; ++i) p[i] = from_f<T>(urand(lo, hi));
}

unsigned cdiv(long a, long b) { return (unsigned)((a + b - 1) / b); }

// ---- gemm ------------------------------------------------------------------------------------------------

template <typename T>
void check_gemm(int M, int N, int K, bool bias, int row_off) {
  Mem mem;
  T* xb = mem.alloc<T>((size_t)(M + row_off) * K);
  T* w = mem.alloc<T>((size_t)N * K);
  T* b = mem.alloc<T>(N);
  T* y = mem.alloc<T>((size_t)M * N);
  fill(xb, (size_t)(M + row_off) * K);
  fill(w, (size_t)N * K);
  fill(b, N);
  T* x = xb + (size_t)row_off * K;  // a row view (Ops.rows): maybe not 16-byte aligned
  for (int skinny = 0; skinny < 2; ++skinny) {
    const std::string sym = std::string(skinny ? "gemm_skinny_" : "gemm_") + sfx<T>();
    for (int geo = 0; geo < (skinny ? 2 : 1); ++geo) {
      for (long i = 0; i < (long)M * N; ++i) y[i] = from_f<T>(12345.f);
      const bool ok = skinny ? run(mem, sym, geo ? 1 : cdiv(N, 8), 1, 1, 256, {x, w, bias ? b : nullptr, y, M, N, K})
                             : run(mem, sym, cdiv(N, 64), cdiv(M, 64), 1, 256, {x, w, bias ? b : nullptr, y, M, N, K});
      if (!ok) continue;
      Cmp cmp{sym + " M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                  (bias ? " bias" : "") + " off=" + std::to_string(row_off) + (geo ? " grid 1" : ""),
              0, 0};
      for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) {
          double acc = bias ? to_f(b[n]) : 0.0, mag = fabs(acc);
          for (int k = 0; k < K; ++k) {
            acc += (double)to_f(x[(long)m * K + k]) * to_f(w[(long)n * K + k]);
            mag += fabs((double)to_f(x[(long)m * K + k]) * to_f(w[(long)n * K + k]));
          }
          cmp.atol = 1e-6 * mag + 1e-6;
          cmp.rtol = eps<T>();
          cmp(to_f(y[(long)m * N + n]), acc, (long)m * N + n);
        }
    }
  }
}

// ---- lora ------------------------------------------------------------------------------------------------

template <typename T>
void check_lora(int in, int out, int max_rank) {
  Mem mem;
  const int slots = 3;
  const int ranks_h[slots] = {max_rank, 5, 0};
  // Segments over M = 14 tokens: slot 1 (3 tokens), none (1), slot 0 (9), slot 2 (rank 0, 1 token).
  const std::vector<int> starts_h = {0, 3, 4, 13, 14}, seg_slots_h = {1, -1, 0, 2};
  const int S = 4, M = 14;
  const std::vector<int> row_slots_h = {1, 1, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  // A rows in slot order, B rows in reverse: as in the shared page pool, a slot's A and B start at different rows
  const int a_rows_h[slots] = {0, max_rank, 2 * max_rank}, b_rows_h[slots] = {2 * max_rank, max_rank, 0};
  T* x = mem.alloc<T>((size_t)M * in);
  T* a = mem.alloc<T>((size_t)slots * max_rank * in);
  T* bT = mem.alloc<T>((size_t)slots * max_rank * out);
  T* v = mem.alloc<T>((size_t)M * max_rank);
  T* y = mem.alloc<T>((size_t)M * out);
  int* ranks = mem.alloc<int>(slots);
  int* starts = mem.alloc<int>(S + 1);
  int* seg_slots = mem.alloc<int>(S);
  int* row_slots = mem.alloc<int>(M);
  int* a_rows = mem.alloc<int>(slots);
  int* b_rows = mem.alloc<int>(slots);
  fill(x, (size_t)M * in);
  fill(a, (size_t)slots * max_rank * in);
  fill(bT, (size_t)slots * max_rank * out);
  memcpy(ranks, ranks_h, sizeof ranks_h);
  memcpy(starts, starts_h.data(), starts_h.size() * 4);
  memcpy(seg_slots, seg_slots_h.data(), seg_slots_h.size() * 4);
  memcpy(row_slots, row_slots_h.data(), row_slots_h.size() * 4);
  memcpy(a_rows, a_rows_h, sizeof a_rows_h);
  memcpy(b_rows, b_rows_h, sizeof b_rows_h);
  const std::string tag = " in=" + std::to_string(in) + " out=" + std::to_string(out) + " max_rank=" + std::to_string(max_rank);

  // shrink, Z = 1 (ABI) and Z = 2
  for (int Z : {1, 2}) {
    for (long i = 0; i < (long)M * max_rank; ++i) v[i] = from_f<T>(999.f);
    const std::string sym = std::string("sgmv_shrink_") + sfx<T>();
    if (!run(mem, sym, cdiv(max_rank, 8), S, Z, 256, {x, a, ranks, a_rows, starts, seg_slots, S, v, in, max_rank})) continue;
    Cmp cmp{sym + tag + " Z=" + std::to_string(Z), 0, eps<T>()};
    for (int t = 0; t < M; ++t) {
      const int s = row_slots_h[t], rank = s >= 0 ? ranks_h[s] : 0;
      for (int r = 0; r < max_rank; ++r) {
        double acc = 0, mag = 0;
        if (r < rank)
          for (int i = 0; i < in; ++i) {
            const double p = (double)to_f(x[(long)t * in + i]) * to_f(a[((long)a_rows_h[s] + r) * in + i]);
            acc += p;
            mag += fabs(p);
          }
        cmp.atol = 1e-6 * mag;
        cmp(to_f(v[(long)t * max_rank + r]), acc, (long)t * max_rank + r);
      }
    }
  }
  // expand: ABI grid (ceil(out/256), S) and the best (ceil(out/2048), S, Z=2)
  fill(v, (size_t)M * max_rank);
  for (int geo = 0; geo < 2; ++geo) {
    fill(y, (size_t)M * out, -2.f, 2.f);
    std::vector<float> y0(M * out);
    for (long i = 0; i < (long)M * out; ++i) y0[i] = to_f(y[i]);
    const std::string sym = std::string("sgmv_expand_") + sfx<T>();
    const bool ok = geo == 0 ? run(mem, sym, cdiv(out, 256), S, 1, 256, {v, bT, ranks, b_rows, starts, seg_slots, S, y, out, max_rank})
                             : run(mem, sym, cdiv(out, 2048), S, 2, 256, {v, bT, ranks, b_rows, starts, seg_slots, S, y, out, max_rank});
    if (!ok) continue;
    Cmp cmp{sym + tag + (geo ? " best grid" : ""), 0, eps<T>()};
    for (int t = 0; t < M; ++t) {
      const int s = row_slots_h[t], rank = s >= 0 ? ranks_h[s] : 0;
      for (int o = 0; o < out; ++o) {
        double acc = y0[(long)t * out + o], mag = fabs(acc);
        for (int r = 0; r < rank; ++r) {
          const double p = (double)to_f(v[(long)t * max_rank + r]) * to_f(bT[((long)b_rows_h[s] + r) * out + o]);
          acc += p;
          mag += fabs(p);
        }
        cmp.atol = 1e-6 * mag;
        cmp(to_f(y[(long)t * out + o]), acc, (long)t * out + o);
      }
    }
  }
  // bgmv: grid (M, 1) (ABI) and (M, 2)
  for (int Y : {1, 2}) {
    fill(y, (size_t)M * out, -2.f, 2.f);
    std::vector<float> y0(M * out);
    for (long i = 0; i < (long)M * out; ++i) y0[i] = to_f(y[i]);
    const std::string sym = std::string("bgmv_") + sfx<T>();
    if (!run(mem, sym, M, Y, 1, 256, {x, a, bT, ranks, a_rows, b_rows, row_slots, y, M, in, out, max_rank})) continue;
    Cmp cmp{sym + tag + " Y=" + std::to_string(Y), 0, eps<T>()};
    for (int t = 0; t < M; ++t) {
      const int s = row_slots_h[t], rank = s >= 0 ? ranks_h[s] : 0;
      std::vector<double> vv(rank);
      double vmag = 0;
      for (int r = 0; r < rank; ++r) {
        for (int i = 0; i < in; ++i)
          vv[r] += (double)to_f(x[(long)t * in + i]) * to_f(a[((long)a_rows_h[s] + r) * in + i]);
        vmag += fabs(vv[r]);
      }
      for (int o = 0; o < out; ++o) {
        double acc = y0[(long)t * out + o], mag = fabs(acc);
        for (int r = 0; r < rank; ++r) {
          acc += vv[r] * to_f(bT[((long)b_rows_h[s] + r) * out + o]);
          mag += fabs(vv[r] * to_f(bT[((long)b_rows_h[s] + r) * out + o]));
        }
        cmp.atol = 1e-5 * (mag + vmag);
        cmp(to_f(y[(long)t * out + o]), acc, (long)t * out + o);
      }
    }
  }
}

// ---- norm ------------------------------------------------------------------------------------------------

template <typename T>
void check_norm(int M, int H, int row_off) {
  Mem mem;
  T* xb = mem.alloc<T>((size_t)(M + row_off) * H);
  T* w = mem.alloc<T>(H);
  T* ob = mem.alloc<T>((size_t)(M + row_off) * H);
  T* rb = mem.alloc<T>((size_t)(M + row_off) * H);
  fill(xb, (size_t)(M + row_off) * H, -2.f, 2.f);
  fill(w, H);
  fill(rb, (size_t)(M + row_off) * H, -2.f, 2.f);
  T *x = xb + (long)row_off * H, *out = ob + (long)row_off * H, *res = rb + (long)row_off * H;
  const float epsn = 1e-5f;
  for (int add = 0; add < 2; ++add) {
    std::vector<float> r0(M * H);
    for (long i = 0; i < (long)M * H; ++i) r0[i] = to_f(res[i]);
    const std::string sym = std::string(add ? "add_rms_norm_" : "rms_norm_") + sfx<T>();
    const bool ok = add ? run(mem, sym, M, 1, 1, 256, {res, x, w, out, M, H, epsn})
                        : run(mem, sym, M, 1, 1, 256, {x, w, out, M, H, epsn});
    if (!ok) continue;
    Cmp cmp{sym + " M=" + std::to_string(M) + " H=" + std::to_string(H) + " off=" + std::to_string(row_off),
            1e-6, 2 * eps<T>()};
    int bad_res = 0;
    for (int t = 0; t < M; ++t) {
      std::vector<double> src(H);
      for (int i = 0; i < H; ++i) {
        if (add) {
          const T r = from_f<T>(r0[(long)t * H + i] + to_f(x[(long)t * H + i]));
          bad_res += memcmp(&r, &res[(long)t * H + i], sizeof(T)) != 0;
          src[i] = to_f(r);
        } else {
          src[i] = to_f(x[(long)t * H + i]);
        }
      }
      double ss = 0;
      for (double s : src) ss += s * s;
      const double inv = 1.0 / sqrt(ss / H + epsn);
      for (int i = 0; i < H; ++i) cmp(to_f(out[(long)t * H + i]), src[i] * inv * to_f(w[i]), (long)t * H + i);
    }
    ++g_checks;
    if (bad_res) fail(sym + ": residual != round(residual + x) at " + std::to_string(bad_res) + " elements");
    // restore the residual for the next variant
    for (long i = 0; i < (long)M * H; ++i) res[i] = from_f<T>(r0[i]);
  }
}

// ---- rope ------------------------------------------------------------------------------------------------

template <typename T>
void check_rope(int M, int nh, int nkv, int hd) {
  Mem mem;
  T* q = mem.alloc<T>((size_t)M * nh * hd);
  T* k = mem.alloc<T>((size_t)M * nkv * hd);
  int* pos = mem.alloc<int>(M);
  float* inv = mem.alloc<float>(hd / 2);
  fill(q, (size_t)M * nh * hd);
  fill(k, (size_t)M * nkv * hd);
  for (int t = 0; t < M; ++t) pos[t] = t * 977 + 3;
  for (int i = 0; i < hd / 2; ++i) inv[i] = (float)pow(10000.0, -2.0 * i / hd);
  std::vector<T> q0(q, q + (size_t)M * nh * hd), k0(k, k + (size_t)M * nkv * hd);
  const std::string sym = std::string("rope_") + sfx<T>();
  if (!run(mem, sym, M, 1, 1, 128, {q, k, pos, inv, M, nh, nkv, hd})) return;
  int bad = 0;
  for (int t = 0; t < M; ++t)
    for (int h = 0; h < nh + nkv; ++h) {
      const T* src = h < nh ? &q0[((long)t * nh + h) * hd] : &k0[((long)t * nkv + h - nh) * hd];
      const T* got = h < nh ? &q[((long)t * nh + h) * hd] : &k[((long)t * nkv + h - nh) * hd];
      for (int i = 0; i < hd / 2; ++i) {
        const float angle = (float)pos[t] * inv[i];
        double s, c;
        sincos((double)angle, &s, &c);
        const double x0 = to_f(src[i]), x1 = to_f(src[i + hd / 2]);
        const T e0 = from_f<T>((float)(x0 * c - x1 * s)), e1 = from_f<T>((float)(x1 * c + x0 * s));
        bad += memcmp(&e0, &got[i], sizeof(T)) != 0;
        bad += memcmp(&e1, &got[i + hd / 2], sizeof(T)) != 0;
      }
    }
  ++g_checks;
  if (bad) fail(sym + ": " + std::to_string(bad) + " elements differ from the rotate-half reference");
}

// ---- act, embed, convert, write_kv ------------------------------------------------------------------------

template <typename T>
void check_act(long n, int elem_off) {
  Mem mem;
  T* g = mem.alloc<T>(n + elem_off) + elem_off;  // elem_off = 1: not 16-byte aligned, scalar path
  T* u = mem.alloc<T>(n + elem_off) + elem_off;
  T* o = mem.alloc<T>(n + elem_off) + elem_off;
  fill(g, n, -6.f, 6.f);
  fill(u, n, -2.f, 2.f);
  for (int geo = 0; geo < 2; ++geo) {
    const unsigned grid = geo ? cdiv(n, 2048) : std::min<unsigned>(cdiv(n, 256), 65536);
    std::string sym = std::string("silu_mul_") + sfx<T>();
    if (run(mem, sym, grid, 1, 1, 256, {g, u, o, n})) {
      int bad = 0;
      for (long i = 0; i < n; ++i) {
        const float gv = to_f(g[i]);
        const T e = from_f<T>(gv / (1.f + expf(-gv)) * to_f(u[i]));
        bad += memcmp(&e, &o[i], sizeof(T)) != 0;
      }
      ++g_checks;
      if (bad) fail(sym + ": " + std::to_string(bad) + " elements differ");
    }
    sym = std::string("add_") + sfx<T>();
    std::vector<T> o0(o, o + n);
    if (run(mem, sym, grid, 1, 1, 256, {o, u, n})) {
      int bad = 0;
      for (long i = 0; i < n; ++i) {
        const T e = from_f<T>(to_f(o0[i]) + to_f(u[i]));
        bad += memcmp(&e, &o[i], sizeof(T)) != 0;
      }
      ++g_checks;
      if (bad) fail(sym + ": " + std::to_string(bad) + " elements differ");
    }
  }
  // converts
  float* f = mem.alloc<float>(n + elem_off) + elem_off;
  for (long i = 0; i < n; ++i) f[i] = urand(-100.f, 100.f);
  const unsigned grid = std::min<unsigned>(cdiv(n, 256), 65535);
  std::string sym = std::string("f32_to_") + sfx<T>();
  if (run(mem, sym, grid, 1, 1, 256, {f, o, n})) {
    int bad = 0;
    for (long i = 0; i < n; ++i) {
      const T e = from_f<T>(f[i]);
      bad += memcmp(&e, &o[i], sizeof(T)) != 0;
    }
    ++g_checks;
    if (bad) fail(sym + ": " + std::to_string(bad) + " elements differ");
  }
  sym = std::string(sfx<T>()) + "_to_f32";
  if (run(mem, sym, 3, 1, 1, 256, {g, f, n})) {  // any grid >= 1: grid-stride
    int bad = 0;
    for (long i = 0; i < n; ++i) bad += f[i] != to_f(g[i]);
    ++g_checks;
    if (bad) fail(sym + ": " + std::to_string(bad) + " elements differ");
  }
}

template <typename T>
void check_embed_write_kv(int H, int row_off) {
  Mem mem;
  const int V = 11, M = 6;
  T* table = mem.alloc<T>((size_t)V * H);
  T* ob = mem.alloc<T>((size_t)(M + row_off) * H);
  int* tokens = mem.alloc<int>(M);
  fill(table, (size_t)V * H);
  const int tok[M] = {3, 0, 10, 3, 7, 1};
  memcpy(tokens, tok, sizeof tok);
  T* out = ob + (long)row_off * H;
  std::string sym = std::string("embed_") + sfx<T>();
  if (run(mem, sym, M, 1, 1, 256, {tokens, table, out, M, H})) {
    ++g_checks;
    for (int t = 0; t < M; ++t)
      if (memcmp(out + (long)t * H, table + (long)tok[t] * H, H * sizeof(T))) {
        fail(sym + ": row " + std::to_string(t));
        break;
      }
  }
  // write_kv: caches [blocks=3, bs=4, kv_dim]
  const int kv_dim = H, slots = 12;
  T* k = mem.alloc<T>((size_t)M * kv_dim);
  T* v = mem.alloc<T>((size_t)M * kv_dim);
  T* kc = mem.alloc<T>((size_t)slots * kv_dim);
  T* vc = mem.alloc<T>((size_t)slots * kv_dim);
  int* map = mem.alloc<int>(M);
  fill(k, (size_t)M * kv_dim);
  fill(v, (size_t)M * kv_dim);
  const int mp[M] = {5, -1, 0, 11, -1, 6};
  memcpy(map, mp, sizeof mp);
  sym = std::string("write_kv_") + sfx<T>();
  if (run(mem, sym, M, 1, 1, 256, {k, v, kc, vc, map, M, kv_dim})) {
    std::vector<T> ek(slots * kv_dim, from_f<T>(0.f)), ev(slots * kv_dim, from_f<T>(0.f));
    for (int t = 0; t < M; ++t)
      if (mp[t] >= 0) {
        memcpy(&ek[(long)mp[t] * kv_dim], k + (long)t * kv_dim, kv_dim * sizeof(T));
        memcpy(&ev[(long)mp[t] * kv_dim], v + (long)t * kv_dim, kv_dim * sizeof(T));
      }
    ++g_checks;
    if (memcmp(ek.data(), kc, ek.size() * sizeof(T)) || memcmp(ev.data(), vc, ev.size() * sizeof(T)))
      fail(sym + " kv_dim=" + std::to_string(kv_dim) + ": caches differ");
  }
}

// ---- attention ---------------------------------------------------------------------------------------------

template <typename T>
void check_attention(int hd, int nh, int nkv, int block_size, int len1 = 13, std::vector<int> extra_x = {}) {
  Mem mem;
  const int seqs = 2, max_blocks = (std::max(7, len1) + block_size - 1) / block_size;
  const int num_blocks = seqs * max_blocks + 1;
  // Tokens: the last 2 of sequence 0 (decode-like), then sequence 1: all of it (prefill) when short, else
  // its first 3 and last 3 positions.
  std::vector<int> tseq, tpos;
  for (int p = 5; p < 7; ++p) tseq.push_back(0), tpos.push_back(p);
  for (int p = 0; p < len1; ++p)
    if (len1 <= 16 || p < 3 || p >= len1 - 3) tseq.push_back(1), tpos.push_back(p);
  const int M = (int)tseq.size();
  T* q = mem.alloc<T>((size_t)M * nh * hd);
  T* kc = mem.alloc<T>((size_t)num_blocks * block_size * nkv * hd);
  T* vc = mem.alloc<T>((size_t)num_blocks * block_size * nkv * hd);
  int* bt = mem.alloc<int>(seqs * max_blocks);
  int* ts = mem.alloc<int>(M);
  int* tp = mem.alloc<int>(M);
  T* out = mem.alloc<T>((size_t)M * nh * hd);
  fill(q, (size_t)M * nh * hd, -2.f, 2.f);
  fill(kc, (size_t)num_blocks * block_size * nkv * hd, -2.f, 2.f);
  fill(vc, (size_t)num_blocks * block_size * nkv * hd);
  // Block tables: a scrambled assignment of physical blocks.
  std::vector<int> phys(num_blocks);
  std::iota(phys.begin(), phys.end(), 0);
  std::shuffle(phys.begin(), phys.end(), rng);
  for (int i = 0; i < seqs * max_blocks; ++i) bt[i] = phys[i];
  memcpy(ts, tseq.data(), M * 4);
  memcpy(tp, tpos.data(), M * 4);
  const float scale = 1.f / sqrtf((float)hd);
  const std::string sym = std::string("paged_attention_") + sfx<T>();
  // Geometries: ABI (nh, M) x 128; best (nkv, M) x 256; then extra grid.x values with 64 and 32 threads.
  std::vector<std::pair<int, int>> geos = {{nh, 128}, {nkv, 256}};
  for (int x : extra_x) geos.push_back({x, 64}), geos.push_back({x, 32});
  for (auto [gx, threads] : geos) {
    for (long i = 0; i < (long)M * nh * hd; ++i) out[i] = from_f<T>(777.f);
    if (!run(mem, sym, gx, M, 1, threads, {q, kc, vc, bt, max_blocks, ts, tp, out, M, nh, nkv, hd, block_size, scale}))
      continue;
    Cmp cmp{sym + " hd=" + std::to_string(hd) + " nh=" + std::to_string(nh) + " nkv=" + std::to_string(nkv) +
                " bs=" + std::to_string(block_size) + " len=" + std::to_string(len1) + " grid (" + std::to_string(gx) +
                ", M) x " + std::to_string(threads),
            2e-3, 2 * eps<T>()};
    for (int t = 0; t < M; ++t)
      for (int h = 0; h < nh; ++h) {
        const int kvh = h / (nh / nkv), len = tpos[t] + 1;
        std::vector<double> s(len);
        double mx = -INFINITY;
        for (int p = 0; p < len; ++p) {
          const long row = ((long)bt[tseq[t] * max_blocks + p / block_size] * block_size + p % block_size) * nkv + kvh;
          double d = 0;
          for (int i = 0; i < hd; ++i) d += (double)to_f(q[((long)t * nh + h) * hd + i]) * to_f(kc[row * hd + i]);
          s[p] = d * scale;
          mx = std::max(mx, s[p]);
        }
        double den = 0;
        for (auto& e : s) den += (e = exp(e - mx));
        for (int i = 0; i < hd; ++i) {
          double num = 0;
          for (int p = 0; p < len; ++p) {
            const long row = ((long)bt[tseq[t] * max_blocks + p / block_size] * block_size + p % block_size) * nkv + kvh;
            num += s[p] * to_f(vc[row * hd + i]);
          }
          cmp(to_f(out[((long)t * nh + h) * hd + i]), num / den, ((long)t * nh + h) * hd + i);
        }
      }
  }
}

// ---- sample ------------------------------------------------------------------------------------------------

double splitmix_uniform(unsigned long long seed, int step) {
  unsigned long long z = seed * 0x9E3779B97F4A7C15ull + (unsigned long long)((long long)step + 1) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z = z ^ (z >> 31);
  return (double)(z >> 11) * 0x1.0p-53;
}

/** Sampler.sample as the kernel's header describes it, over the whole vocabulary (no cut). */
int ref_sample(const std::vector<float>& lg, float temp, int top_k, float top_p, unsigned long long seed, int step) {
  const int V = (int)lg.size();
  std::vector<int> ids(V);
  std::iota(ids.begin(), ids.end(), 0);
  auto total = [](float f) {  // Float.compare order as an integer
    uint32_t b;
    memcpy(&b, &f, 4);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  };
  std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) { return total(lg[a]) > total(lg[b]); });
  if (temp == 0.f) return ids[0];
  const double max_s = (double)(lg[ids[0]] / temp);
  const int keep = top_k > 0 ? std::min(top_k, V) : V;
  std::vector<double> p(keep);
  for (int i = 0; i < keep; ++i) p[i] = exp((double)(lg[ids[i]] / temp) - max_s);
  double sum = 0;
  for (double x : p) sum += x;
  int nn = keep;
  if (top_p < 1.f) {
    double cum = 0;
    for (int i = 0; i < keep; ++i) {
      cum += p[i] / sum;
      if (cum >= (double)top_p) {
        nn = i + 1;
        break;
      }
    }
  }
  double mass = 0;
  for (int i = 0; i < nn; ++i) mass += p[i];
  const double u = splitmix_uniform(seed, step) * mass;
  double acc = 0;
  for (int i = 0; i < nn; ++i) {
    acc += p[i];
    if (u < acc) return ids[i];
  }
  return ids[nn - 1];
}

template <typename T>
void check_sample(int V, bool flat) {
  Mem mem;
  const int R = 9;
  T* logits = mem.alloc<T>((size_t)R * V);
  float* temp = mem.alloc<float>(R);
  int* topk = mem.alloc<int>(R);
  float* topp = mem.alloc<float>(R);
  unsigned long long* seed = mem.alloc<unsigned long long>(R);
  int* step = mem.alloc<int>(R);
  int* out = mem.alloc<int>(R);
  for (long i = 0; i < (long)R * V; ++i) logits[i] = from_f<T>(flat ? urand(-1.f, 1.f) : urand(-8.f, 8.f));
  if (V > 17) logits[5] = logits[17] = from_f<T>(20.f);  // a tie at the maximum of row 0: id 5 wins
  const float temps[R] = {0.f, 0.7f, 1.f, 1.3f, 2.f, 0.5f, 0.01f, 1.f, 3.f};
  const int ks[R] = {0, 0, 40, 0, 1000, 3, 0, 1, 0};
  const float ps[R] = {1.f, 0.9f, 1.f, 0.5f, 0.95f, 1.f, 1.f, 1.f, 0.01f};
  for (int r = 0; r < R; ++r) {
    temp[r] = temps[r];
    topk[r] = ks[r];
    topp[r] = ps[r];
    seed[r] = 0x1234567890ull * (r + 1);
    step[r] = 17 + r;
  }
  for (int threads : {256, 1024}) {
    // argmax
    std::string sym = std::string("argmax_") + sfx<T>();
    if (run(mem, sym, R, 1, 1, threads, {logits, out, R, V})) {
      for (int r = 0; r < R; ++r) {
        int best = 0;
        for (int i = 1; i < V; ++i)
          if (to_f(logits[(long)r * V + i]) > to_f(logits[(long)r * V + best])) best = i;
        ++g_checks;
        if (out[r] != best) fail(sym + " V=" + std::to_string(V) + ": row " + std::to_string(r) + " got " + std::to_string(out[r]) + ", expected " + std::to_string(best));
      }
    }
    sym = std::string("sample_") + sfx<T>();
    if (run(mem, sym, R, 1, 1, threads, {logits, temp, topk, topp, seed, step, out, R, V})) {
      for (int r = 0; r < R; ++r) {
        std::vector<float> lg(V);
        for (int i = 0; i < V; ++i) lg[i] = to_f(logits[(long)r * V + i]);
        const int e = ref_sample(lg, temps[r], ks[r], ps[r], seed[r], step[r]);
        ++g_checks;
        if (out[r] != e)
          fail(sym + " V=" + std::to_string(V) + (flat ? " flat" : "") + " threads=" + std::to_string(threads) + ": row " +
               std::to_string(r) + " got " + std::to_string(out[r]) + ", expected " + std::to_string(e));
      }
    }
  }
}

template <typename T>
void check_dtype() {
  for (int M : {1, 5, 16, 17, 70})
    for (int K : {40, 33}) check_gemm<T>(M, M <= 16 ? 67 : 70, K, M % 2 == 1, M == 5 ? 1 : 0);
  check_gemm<T>(64, 64, 64, true, 0);
  check_gemm<T>(17, 1, 3, true, 0);
  check_gemm<T>(3, 9, 1, false, 1);
  check_gemm<T>(65, 130, 72, true, 0);
  check_lora<T>(40, 48, 16);
  check_lora<T>(30, 37, 24);
  check_lora<T>(16, 4104, 8);
  check_lora<T>(24, 2050, 256);
  check_norm<T>(5, 200, 0);
  check_norm<T>(3, 13, 1);
  check_norm<T>(2, 2048 + 24, 0);
  check_rope<T>(3, 4, 2, 64);
  check_rope<T>(2, 3, 1, 10);
  check_act<T>(1003, 0);
  check_act<T>(5000, 1);
  check_embed_write_kv<T>(24, 1);
  check_embed_write_kv<T>(13, 1);
  check_embed_write_kv<T>(4096 + 8, 0);
  for (int hd : {64, 128, 256}) check_attention<T>(hd, 4, 2, 4);
  check_attention<T>(256, 8, 1, 16);
  check_attention<T>(64, 6, 3, 5);
  check_attention<T>(128, 8, 2, 16, 100, {4, 2});
  check_attention<T>(64, 4, 4, 3, 40, {4});  // X must be a multiple of nkv dividing nh
  check_sample<T>(1000, false);
  check_sample<T>(5000, true);
  check_sample<T>(7, false);
  check_sample<T>(1, false);
}

}  // namespace

int main() {
  check_dtype<__half>();
  check_dtype<__nv_bfloat16>();
  int missing = 0;
  for (int i = 0; i < emu_symbol_count(); ++i)
    if (std::find(g_launched.begin(), g_launched.end(), emu_symbol_name(i)) == g_launched.end()) {
      printf("  not launched: %s\n", emu_symbol_name(i));
      ++missing;
    }
  std::vector<size_t> order(g_launched.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [](size_t a, size_t b) { return g_seconds[a] > g_seconds[b]; });
  printf("  slowest (all launches, 3 modes each):");
  for (size_t i = 0; i < std::min<size_t>(5, order.size()); ++i)
    printf(" %s %.2fs", g_launched[order[i]].c_str(), g_seconds[order[i]]);
  printf("\n");
  printf("emu kernel check: %d of %d kernels launched, %d checks, %d failed\n", (int)g_launched.size(), emu_symbol_count(),
         g_checks, g_failed);
  return g_failed == 0 && missing == 0 ? 0 : 1;
}
