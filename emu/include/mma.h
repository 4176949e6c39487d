// The CUDA emulator's WMMA (nvcuda::wmma), for the 16x16x16 shapes with bf16 operands and fp32
// accumulators that cuda/gemm_tc.cu (the wmma family) uses. Fragment layouts are the emulator's own
// (the real ones are opaque too): an A or B fragment holds the whole 16x16 tile in every lane, an
// accumulator holds elements lane + 32·i of the row-major tile. Each operation is warp-collective
// (a warp barrier over all 32 lanes) and checks the alignment rules of the real one. Loads and
// stores tell the access profiler the accesses the real ones make (emu::note_wmma_load/store); in
// its builds (CONVMAE_EMU_PROFILE) they stay out of line, so that their return address is the
// kernel's call, and their own reads of whole tiles are left out of its instrumentation.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>
#include <cstring>

#include "emu.h"

#ifdef CONVMAE_EMU_PROFILE
#define CONVMAE_EMU_UNPROFILED __attribute__((no_sanitize("kernel-address"), noinline))
#else
#define CONVMAE_EMU_UNPROFILED
#endif

namespace nvcuda {
namespace wmma {

struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment;

template <typename T, typename Layout>
struct fragment<matrix_a, 16, 16, 16, T, Layout> {
  float v[256];  // (row, k) at v[row·16 + k]
};
template <typename T, typename Layout>
struct fragment<matrix_b, 16, 16, 16, T, Layout> {
  float v[256];  // (k, col) at v[k·16 + col]
};
template <>
struct fragment<accumulator, 16, 16, 16, float, void> {
  float v[8];  // element lane + 32·i of the row-major 16x16 tile
};
using Acc = fragment<accumulator, 16, 16, 16, float, void>;

namespace detail {
inline void check(const void* p, unsigned ldm, unsigned ldm_multiple, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0) ::emu::fail(std::string(what) + ": the pointer is not 32-byte aligned");
  if (ldm % ldm_multiple != 0) ::emu::fail(std::string(what) + ": ldm " + std::to_string(ldm) + " is not a multiple of " +
                                            std::to_string(ldm_multiple));
}
// Element (r, c) of a 16x16 tile at p with leading dimension ldm, row- or column-major.
template <typename T>
CONVMAE_EMU_UNPROFILED inline float at(const T* p, unsigned ldm, bool row_major, int r, int c) {
  T v;  // copied out first: T's conversion to float is instrumented code of its own
  std::memcpy(&v, p + (row_major ? size_t(r) * ldm + c : size_t(c) * ldm + r), sizeof v);
  return float(v);
}
}  // namespace detail

// An A or B tile: element (i, j) (row and k for A, k and column for B) into v[i·16 + j].
template <typename Use, typename Layout>
CONVMAE_EMU_UNPROFILED void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, Layout>& f, const __nv_bfloat16* p,
                                             unsigned ldm) {
  ::emu::note_wmma_load(__builtin_return_address(0), p, size_t(ldm) * 2);
  ::emu::sync_warp(0xffffffffu);
  detail::check(p, ldm, 8, "wmma::load_matrix_sync");
  constexpr bool rm = std::is_same<Layout, row_major>::value;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) f.v[i * 16 + j] = detail::at(p, ldm, rm, i, j);
}

CONVMAE_EMU_UNPROFILED inline void fill_fragment(Acc& f, float x) {
  for (float& e : f.v) e = x;
}

template <typename LA, typename LB>
CONVMAE_EMU_UNPROFILED void mma_sync(Acc& d, const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA>& a,
              const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB>& b, const Acc& c) {
  ::emu::sync_warp(0xffffffffu);
  const int lane = ::emu::lane();
  for (int i = 0; i < 8; ++i) {
    const int e = lane + 32 * i, r = e / 16, col = e % 16;
    float s = c.v[i];
    for (int k = 0; k < 16; ++k) s += a.v[r * 16 + k] * b.v[k * 16 + col];
    d.v[i] = s;
  }
}

CONVMAE_EMU_UNPROFILED inline void store_matrix_sync(float* p, const Acc& f, unsigned ldm, layout_t layout) {
  ::emu::note_wmma_store(__builtin_return_address(0), p, size_t(ldm) * 4, layout == mem_row_major);
  ::emu::sync_warp(0xffffffffu);
  detail::check(p, ldm, 4, "wmma::store_matrix_sync");
  const int lane = ::emu::lane();
  for (int i = 0; i < 8; ++i) {
    const int e = lane + 32 * i, r = e / 16, c = e % 16;
    p[layout == mem_row_major ? size_t(r) * ldm + c : size_t(c) * ldm + r] = f.v[i];
  }
  ::emu::sync_warp(0xffffffffu);
}

}  // namespace wmma
}  // namespace nvcuda
