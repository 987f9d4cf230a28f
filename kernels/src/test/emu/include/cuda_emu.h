// lorastream CUDA kernel emulator: the shim force-included (g++ -include cuda_emu.h) before the unchanged
// kernel sources under kernels/src/main/cuda so that g++ compiles them for the CPU.
//
// TEST TOOL ONLY. It runs the real kernel sources on the CPU, one user-level fiber per CUDA thread, and
// checks what host code can check: argument order and unpacking, indexing, arithmetic, the placement of
// barriers (deadlocks, divergent barriers, shuffle misuse; races show up as results that change between
// forward and reverse thread order) and misaligned, null or fixed-size-array out-of-bounds accesses (which
// the GPU would fault on or silently corrupt). It does NOT check the PTX or the driver's JIT, the real memory model
// (no caches, no reordering, no bank conflicts), warp-synchronous code without explicit syncs, timing or
// occupancy, or driver behaviour. Float results can differ from the GPU in the last bits: nvcc contracts
// a*b+c into FMA (the emulator does not), transcendental functions come from glibc, not libdevice, and
// tensor-core accumulation order is emulated as sequential fmaf. It never replaces the real GPU path.
//
// Sources of the rules (CUDA C++ Programming Guide, "Built-in Variables", "Synchronization Functions",
// "Warp Shuffle Functions", "Warp Matrix Functions"; PTX ISA "bar", "bar.warp.sync", "shfl.sync",
// "wmma") are cited next to the definitions here and in emu_runtime.cpp.
#pragma once

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "cuda_emu.h needs C++20 (g++ -std=c++20)"
#endif
#if defined(__CUDACC__)
#error "cuda_emu.h is for host compilers only; nvcc builds the real kernels"
#endif

// The CUDA headers first, with their own host-compiler macro definitions; the device-only keywords are
// redefined below for the emulator.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <source_location>
#include <type_traits>

#define LORASTREAM_CUDA_EMU 1

// Exported from liblorastream_emu.so (built with -fvisibility=hidden), so that code compiled with this shim
// outside the library (emu_selftest) links against the same runtime.
#define EMU_API __attribute__((visibility("default")))

// ---- Execution-space and declaration keywords ----------------------------------------------------------
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __noinline__
#undef __align__
#undef __shared__
#undef __constant__
#undef __managed__
#undef __launch_bounds__
#undef __grid_constant__

#if defined(EMU_GENERATE_TABLE)
// Only for build-emu.sh's `g++ -E` pass: markers from which the kernel table is generated (symbol names and
// __launch_bounds__ expressions survive preprocessing; the C++ compiler evaluates the expressions later).
#define __global__ EMU_GLOBAL
#define __launch_bounds__(...) EMU_LB_BEGIN __VA_ARGS__ EMU_LB_END
#else
#define __global__
#define __launch_bounds__(...)
#endif
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __grid_constant__
// GNU attribute rather than alignas: `static thread_local alignas(n) T x[]` is ill-formed in ISO C++
// (a standard attribute may not sit between decl-specifiers), while __attribute__((aligned)) may.
#define __align__(n) __attribute__((aligned(n)))
// Shared memory: one instance per OS thread. All fibers of a block run on one OS thread, so they share it;
// blocks run one after another on each emulator worker thread, which reuses it (contents are NOT reset
// between blocks, unlike uninitialised shared memory on a GPU, whose contents are unspecified).
#define __shared__ static thread_local
#define __constant__
#define __managed__

// `warpSize` is a built-in int variable in device code (Programming Guide, "Built-in Variables").
static constexpr int warpSize = 32;

namespace emu {

/** The built-in variables of the current CUDA thread (Programming Guide, "Built-in Variables"). */
struct Builtins {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};

/**
 * The running fiber's built-ins. A __thread (not thread_local: no TLS wrapper call) pointer, rewritten by
 * the scheduler before each switch to a fiber. Every barrier below is an out-of-line call into another
 * translation unit (emu_runtime.cpp), so the compiler reloads this pointer after it: a fiber never sees
 * another fiber's values, and fibers never migrate between OS threads.
 */
extern __thread const Builtins* tl_builtins EMU_API;

// ---- Runtime entry points (emu_runtime.cpp). Each may switch fibers. ------------------------------------

/** What a waiting thread waits at; also the "same intrinsic" identity checked when a warp barrier opens. */
enum class Op : uint8_t {
  SyncThreads,
  SyncWarp,
  ShflIdx,
  ShflUp,
  ShflDown,
  ShflXor,
  WmmaLoadA,
  WmmaLoadB,
  WmmaLoadC,
  WmmaStore,
  WmmaMma,
};

EMU_API void syncthreads(const char* file, unsigned line);
EMU_API void syncwarp(unsigned mask, const char* file, unsigned line);
/** One shuffle of `bits` (the raw bytes of a value of up to 8 bytes); `arg` is srcLane / delta / laneMask. */
EMU_API uint64_t shfl(Op op, unsigned mask, uint64_t bits, int arg, int width, const char* file, unsigned line);
/**
 * Entry barrier of a wmma *_sync collective: every lane of the warp must take part (`.aligned`), and for
 * loads/stores every lane must pass the same pointer, ldm and layout; checks the documented alignment
 * (pointer 256-bit aligned, ldm a multiple of 16 bytes).
 */
EMU_API void wmma_enter(Op op, const void* ptr, unsigned ldm, unsigned elem_bytes, int layout, const char* file,
                        unsigned line);
/** True for the one lane (the lowest-numbered) of the warp that performs a wmma store's memory writes. */
EMU_API bool wmma_is_writer_lane();
/** d = c + a·b for 16x16 tiles (row-major float arrays), k summed in order with fmaf. */
EMU_API void mma_16x16x16(const float* a, const float* b, const float* c, float* d);
/** Ends the launch with a synchronisation-misuse error (emu_launch returns 3). Does not return. */
[[noreturn]] EMU_API void fail(const char* what, const char* file, unsigned line);

}  // namespace emu

// ---- Built-in variables (Programming Guide, "Built-in Variables"): read-only, per fiber ------------------
#define threadIdx (::emu::tl_builtins->thread_idx)
#define blockIdx (::emu::tl_builtins->block_idx)
#define blockDim (::emu::tl_builtins->block_dim)
#define gridDim (::emu::tl_builtins->grid_dim)

// ---- Synchronisation ------------------------------------------------------------------------------------

/**
 * Block barrier (Programming Guide, "Synchronization Functions"; PTX `bar.sync 0`). Released when every
 * thread of the block that has not exited waits at a __syncthreads (exited threads count as arrived, as
 * on current hardware). The call site is recorded for deadlock reports.
 */
inline void __syncthreads(std::source_location loc = std::source_location::current()) {
  emu::syncthreads(loc.file_name(), loc.line());
}

/**
 * Warp barrier (PTX `bar.warp.sync`): waits until every non-exited lane named in `mask` executes a
 * __syncwarp with the same mask; the calling lane must be in `mask`.
 */
inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location loc = std::source_location::current()) {
  emu::syncwarp(mask, loc.file_name(), loc.line());
}

namespace emu {
template <typename T>
inline T shfl_typed(Op op, unsigned mask, T var, int arg, int width, const std::source_location& loc) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "__shfl_*_sync: value of at most 8 bytes");
  uint64_t bits = 0;
  memcpy(&bits, &var, sizeof(T));
  bits = shfl(op, mask, bits, arg, width, loc.file_name(), loc.line());
  T r;
  memcpy(&r, &bits, sizeof(T));
  return r;
}
}  // namespace emu

// Warp shuffles (Programming Guide, "Warp Shuffle Functions"; PTX `shfl.sync`): every non-exited lane named in
// mask must execute the same intrinsic with the same mask. The emulator requires more (an error otherwise):
// no lane named in mask has exited, and the source lane is in mask. 8-byte values are exchanged whole
// (the hardware does two 32-bit shuffles with the same source lane: same result).
template <typename T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize,
                     std::source_location loc = std::source_location::current()) {
  return emu::shfl_typed(emu::Op::ShflIdx, mask, var, srcLane, width, loc);
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                        std::source_location loc = std::source_location::current()) {
  return emu::shfl_typed(emu::Op::ShflUp, mask, var, (int)delta, width, loc);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                          std::source_location loc = std::source_location::current()) {
  return emu::shfl_typed(emu::Op::ShflDown, mask, var, (int)delta, width, loc);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize,
                         std::source_location loc = std::source_location::current()) {
  return emu::shfl_typed(emu::Op::ShflXor, mask, var, laneMask, width, loc);
}

// Memory fences: the emulator is sequentially consistent within a block; across worker threads a full
// fence is the conservative choice.
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// ---- Atomics (Programming Guide, "Atomic Functions"): relaxed, return the old value --------------------
// Real atomics, because blocks may run on several worker threads (global memory is shared between them).
template <typename T>
  requires(std::is_integral_v<T> && (sizeof(T) == 4 || sizeof(T) == 8))
inline T atomicAdd(T* p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
template <typename T>
  requires(std::is_integral_v<T> && (sizeof(T) == 4 || sizeof(T) == 8))
inline T atomicSub(T* p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }
template <typename T>
  requires(std::is_integral_v<T> && (sizeof(T) == 4 || sizeof(T) == 8))
inline T atomicExch(T* p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
template <typename T>
  requires(std::is_integral_v<T> && (sizeof(T) == 4 || sizeof(T) == 8))
inline T atomicCAS(T* p, T expected, T desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return expected;  // the old value either way
}
template <typename T>
  requires(std::is_integral_v<T> && (sizeof(T) == 4 || sizeof(T) == 8))
inline T atomicMax(T* p, T v) {
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <typename T>
  requires(std::is_integral_v<T> && (sizeof(T) == 4 || sizeof(T) == 8))
inline T atomicMin(T* p, T v) {
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (v < old && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <typename F>
  requires(std::is_same_v<F, float> || std::is_same_v<F, double>)
inline F atomicAdd(F* p, F v) {
  F old;
  __atomic_load(p, &old, __ATOMIC_RELAXED);
  F sum = old + v;
  while (!__atomic_compare_exchange(p, &old, &sum, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) sum = old + v;
  return old;
}

// ---- Arithmetic intrinsics (Programming Guide, "Intrinsic Functions"; "Mathematical Functions") -------
// IEEE round-to-nearest-even, as g++ computes float and double on x86-64 (SSE2, no excess precision;
// build-emu.sh compiles with -ffp-contract=off so nothing is fused behind the sources' back).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  memcpy(&u, &f, 4);
  return u;
}
inline int __float_as_int(float f) {
  int i;
  memcpy(&i, &f, 4);
  return i;
}
inline float __uint_as_float(unsigned u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline float __int_as_float(int i) {
  float f;
  memcpy(&f, &i, 4);
  return f;
}
inline long long __double_as_longlong(double d) {
  long long i;
  memcpy(&i, &d, 8);
  return i;
}
inline double __longlong_as_double(long long i) {
  double d;
  memcpy(&d, &i, 8);
  return d;
}
/** Number of leading zero bits of the 32-bit x; 32 for x == 0 (PTX `clz.b32`). */
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
/** Position (1-based) of the least significant set bit, 0 for x == 0. */
inline int __ffs(int x) { return __builtin_ffs(x); }
template <typename T>
inline T __ldg(const T* p) { return *p; }

// min/max: the overload set of CUDA's crt/math_functions.hpp (same-type, and mixed signed/unsigned of equal
// width returning unsigned; float/double via fminf/fmin/fmaxf/fmax, so a NaN operand yields the other).
inline int min(int a, int b) { return a < b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned min(int a, unsigned b) { return min((unsigned)a, b); }
inline unsigned min(unsigned a, int b) { return min(a, (unsigned)b); }
inline long min(long a, long b) { return a < b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long min(long a, unsigned long b) { return min((unsigned long)a, b); }
inline unsigned long min(unsigned long a, long b) { return min(a, (unsigned long)b); }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long min(long long a, unsigned long long b) { return min((unsigned long long)a, b); }
inline unsigned long long min(unsigned long long a, long long b) { return min(a, (unsigned long long)b); }
inline float min(float a, float b) { return fminf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double min(float a, double b) { return fmin((double)a, b); }
inline double min(double a, float b) { return fmin(a, (double)b); }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline unsigned max(int a, unsigned b) { return max((unsigned)a, b); }
inline unsigned max(unsigned a, int b) { return max(a, (unsigned)b); }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline unsigned long max(long a, unsigned long b) { return max((unsigned long)a, b); }
inline unsigned long max(unsigned long a, long b) { return max(a, (unsigned long)b); }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline unsigned long long max(long long a, unsigned long long b) { return max((unsigned long long)a, b); }
inline unsigned long long max(unsigned long long a, long long b) { return max(a, (unsigned long long)b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double max(float a, double b) { return fmax((double)a, b); }
inline double max(double a, float b) { return fmax(a, (double)b); }
