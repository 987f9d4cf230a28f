// lorastream CUDA kernel emulator: the kernel table shared by the runtime, the generated per-family tables
// (build-emu.sh writes them into OUT_DIR/gen) and emu_selftest.cpp.
//
// TEST TOOL ONLY: runs the real kernel sources on the CPU; checks argument order, indexing, arithmetic and
// barrier placement (deadlocks, races via thread-order permutation); does NOT check PTX/JIT, the real memory
// model, warp-synchronous code without explicit syncs, timing, or driver behaviour. See include/cuda_emu.h.
#pragma once

#include <stddef.h>
#include <string.h>

#include <type_traits>
#include <utility>

#include "include/cuda_emu.h"

namespace emu {

/** Calls the kernel with driver-API style parameters: params[i] points at argument i's value. */
using InvokeFn = void (*)(void* const* params);

struct KernelEntry {
  const char* name;     // the extern "C" symbol
  int launch_bound;     // first argument of __launch_bounds__ (1024 when the kernel has none)
  InvokeFn invoke;
  const char* params;   // one code per parameter: p pointer, i 4-byte int, l 8-byte int, f float, d double
};

/** Adds entries to the table (called from the generated tables' static initialisers). */
EMU_API void register_kernels(const KernelEntry* entries, int n);

/**
 * Launches one entry with emu_launch's checks and semantics (the C API looks the symbol up and calls this;
 * emu_selftest launches its own test kernels through it). Returns emu_launch's codes.
 */
EMU_API int launch_entry(const KernelEntry& k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                         unsigned bz, unsigned dynamic_smem_bytes, void* const* params);

/** __launch_bounds__(maxThreadsPerBlock, minBlocksPerMultiprocessor, ...): the first value is the limit. */
constexpr int launch_bound(int max_threads_per_block, auto...) { return max_threads_per_block; }

template <typename T>
constexpr char param_code() {
  if constexpr (std::is_pointer_v<T>) return 'p';
  else if constexpr (std::is_integral_v<T> && sizeof(T) == 4) return 'i';
  else if constexpr (std::is_integral_v<T> && sizeof(T) == 8) return 'l';
  else if constexpr (std::is_same_v<T, float>) return 'f';
  else if constexpr (std::is_same_v<T, double>) return 'd';
  else return '?';
}

/** Reads one argument from the location params[i] points at (memcpy: no alignment assumed). */
template <typename T>
inline T load_param(const void* p) {
  static_assert(std::is_trivially_copyable_v<T>, "kernel parameters must be trivially copyable");
  T v;
  memcpy(&v, p, sizeof(T));
  return v;
}

template <auto F>
struct Invoker;

/** Unpacks void** params into a call of the kernel function F. */
template <typename... A, void (*F)(A...)>
struct Invoker<F> {
  static void call(void* const* params) { call_with(params, std::index_sequence_for<A...>{}); }
  static constexpr char codes[] = {param_code<A>()..., '\0'};

 private:
  template <size_t... I>
  static void call_with([[maybe_unused]] void* const* params, std::index_sequence<I...>) {
    F(load_param<A>(params[I])...);
  }
};

}  // namespace emu
