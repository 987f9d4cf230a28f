// lorastream CUDA kernel emulator: replacement for CUDA's <mma.h> (nvcuda::wmma), found first on the include
// path (build-emu.sh puts kernels/src/test/emu/include before the CUDA include directory).
//
// TEST TOOL ONLY: runs the real kernel sources on the CPU; checks argument order, indexing, arithmetic and
// barrier placement (deadlocks, races via thread-order permutation); does NOT check PTX/JIT, the real memory
// model, warp-synchronous code without explicit syncs, timing, or driver behaviour. See cuda_emu.h.
//
// Semantics (Programming Guide, "Warp Matrix Functions"): the WMMA API is defined on whole tiles; how the
// elements of a fragment are spread over the lanes is unspecified. The emulator therefore keeps the WHOLE
// 16x16 tile in every lane's fragment (x[row * 16 + col] of the operand: A is m x k, B is k x n, C/D m x n),
// which gives exactly the API's results for every documented use, including element-wise loops over
// `x[0..num_elements)` (note: num_elements is 256 here, not the per-lane count of the hardware).
//
// load_matrix_sync, mma_sync and store_matrix_sync are warp collectives (PTX `wmma.load/mma/store .sync
// .aligned`: every lane of the warp executes the same instruction, and waits for the others). Each starts
// with a warp barrier over all 32 lanes; loads and stores check that all lanes pass the same pointer, ldm and
// layout, that the pointer is 256-bit aligned and that ldm is a multiple of 16 bytes (errors otherwise).
// A store's memory writes are done by lane 0 only, so a missing __syncwarp between a store and other lanes'
// reads of the tile shows up as a forward/reverse thread-order difference.
// mma_sync accumulates d = c + a·b with fp32 fmaf over k in increasing order (inputs converted exactly);
// tensor cores sum in a different order and precision, so GPU results may differ in the last bits.
// Supported: m16n16k16 with __half or __nv_bfloat16 inputs and a float accumulator (what the kernels use).
#pragma once

#include "cuda_emu.h"

namespace nvcuda {
namespace wmma {

struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };

namespace detail {
template <typename L>
constexpr int layout_code() {
  static_assert(std::is_same_v<L, row_major> || std::is_same_v<L, col_major>, "layout must be row_major or col_major");
  return std::is_same_v<L, row_major> ? 0 : 1;
}
template <typename T>
constexpr bool is_input_type = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
template <typename T>
inline float to_float(T v) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(v);
  else return __bfloat162float(v);
}
}  // namespace detail

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
class fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulator's wmma supports the m16n16k16 shape only");
  static_assert((std::is_same_v<Use, accumulator> && std::is_same_v<T, float> && std::is_same_v<Layout, void>) ||
                    ((std::is_same_v<Use, matrix_a> || std::is_same_v<Use, matrix_b>) && detail::is_input_type<T> &&
                     (std::is_same_v<Layout, row_major> || std::is_same_v<Layout, col_major>)),
                "the emulator's wmma supports __half/__nv_bfloat16 row_major/col_major inputs and float accumulators");

 public:
  using element_type = T;
  using storage_element_type = T;
  static constexpr int num_elements = 256;  // the whole tile (see the header comment)
  T x[num_elements];
};

template <typename Use, int M, int N, int K, typename T, typename L>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& f, const std::type_identity_t<T>& v) {
  // Not a collective (no `_sync`): plain register writes on the hardware.
  for (int i = 0; i < 256; ++i) f.x[i] = v;
}

template <typename T, typename L>
inline void load_matrix_sync(fragment<matrix_a, 16, 16, 16, T, L>& a, const T* p, unsigned ldm,
                             std::source_location loc = std::source_location::current()) {
  constexpr int lay = detail::layout_code<L>();
  emu::wmma_enter(emu::Op::WmmaLoadA, p, ldm, sizeof(T), lay, loc.file_name(), loc.line());
  for (int m = 0; m < 16; ++m)
    for (int k = 0; k < 16; ++k) a.x[m * 16 + k] = lay == 0 ? p[(long)m * ldm + k] : p[m + (long)k * ldm];
}

template <typename T, typename L>
inline void load_matrix_sync(fragment<matrix_b, 16, 16, 16, T, L>& b, const T* p, unsigned ldm,
                             std::source_location loc = std::source_location::current()) {
  constexpr int lay = detail::layout_code<L>();
  emu::wmma_enter(emu::Op::WmmaLoadB, p, ldm, sizeof(T), lay, loc.file_name(), loc.line());
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 16; ++n) b.x[k * 16 + n] = lay == 0 ? p[(long)k * ldm + n] : p[k + (long)n * ldm];
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& c, const float* p, unsigned ldm, layout_t layout,
                             std::source_location loc = std::source_location::current()) {
  emu::wmma_enter(emu::Op::WmmaLoadC, p, ldm, sizeof(float), (int)layout, loc.file_name(), loc.line());
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 16; ++n)
      c.x[m * 16 + n] = layout == mem_row_major ? p[(long)m * ldm + n] : p[m + (long)n * ldm];
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& c, unsigned ldm, layout_t layout,
                              std::source_location loc = std::source_location::current()) {
  emu::wmma_enter(emu::Op::WmmaStore, p, ldm, sizeof(float), (int)layout, loc.file_name(), loc.line());
  if (!emu::wmma_is_writer_lane()) return;
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 16; ++n) {
      if (layout == mem_row_major) p[(long)m * ldm + n] = c.x[m * 16 + n];
      else p[m + (long)n * ldm] = c.x[m * 16 + n];
    }
}

template <typename T, typename LA, typename LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, T, LA>& a,
                     const fragment<matrix_b, 16, 16, 16, T, LB>& b, const fragment<accumulator, 16, 16, 16, float>& c,
                     std::source_location loc = std::source_location::current()) {
  emu::wmma_enter(emu::Op::WmmaMma, nullptr, 0, 0, 0, loc.file_name(), loc.line());
  float af[256], bf[256];
  for (int i = 0; i < 256; ++i) {
    af[i] = detail::to_float(a.x[i]);  // exact: every __half / __nv_bfloat16 is a float
    bf[i] = detail::to_float(b.x[i]);
  }
  emu::mma_16x16x16(af, bf, c.x, d.x);  // d may be c
}

}  // namespace wmma
}  // namespace nvcuda
