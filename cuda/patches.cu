// Tile rearrangements on CUDA (full contract in native/ops/patches.h): rowsToPatches,
// patchesToRows, imageToRows, patchify, rowsToMap, mapToRows. Every op is a pure copy (no
// arithmetic) of float32 or bfloat16 values and writes its whole output (=). One thread per output
// element (grid-stride over int64 indices, so any size the bindings allow fits the grid), which
// reads the one input element the formula names. rowsToMap is the exception: it receives `cells`
// but no table, so it zero-fills the map and then scatters one thread per input element; the
// writes are disjoint because cells are distinct within a sample (checked by the binding, which
// also checks every cell value on the host before any kernel runs).
#include <cuda_bf16.h>

#include "ops/patches.h"
#include "runtime.cuh"
#include "storage.cuh"

namespace convmae {
namespace {

constexpr int kThreads = 256;

// Grid-stride loops: for (int64_t i = first_index(); i < n; i += grid_stride()).

// Sample n and map position (y, x) of visible row r.
struct RowPos {
  int64_t n, y, x;
};
__device__ inline RowPos row_pos(const int32_t* cells, int64_t r, int64_t kept, int64_t g, int64_t t) {
  const int64_t tt = t * t, ns = r / tt, d = r - ns * tt, cell = cells[ns];
  return {ns / kept, (cell / g) * t + d / t, (cell % g) * t + d % t};
}

template <typename T>
__global__ void rows_to_patches_kernel(T* out, const T* in, int64_t total, int64_t t, int64_t k, int64_t C) {
  const int64_t q = t / k, kk = k * k, ck = C * kk;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t prow = i / ck, col = i - prow * ck;
    const int64_t c = col / kk, ab = col - c * kk, a = ab / k, bb = ab - a * k;
    const int64_t b = prow / (q * q), pq = prow - b * q * q, py = pq / q, px = pq - py * q;
    const int64_t r = (b * t + py * k + a) * t + px * k + bb;
    out[i] = in[r * C + c];
  }
}

template <typename T>
__global__ void patches_to_rows_kernel(T* out, const T* in, int64_t total, int64_t t, int64_t k, int64_t C) {
  const int64_t q = t / k, kk = k * k, tt = t * t;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t r = i / C, c = i - r * C;
    const int64_t b = r / tt, d = r - b * tt, y = d / t, x = d - y * t;
    const int64_t py = y / k, a = y - py * k, px = x / k, bb = x - px * k;
    const int64_t o = (b * q + py) * q + px;
    out[i] = in[(o * C + c) * kk + a * k + bb];
  }
}

template <typename T>
__global__ void image_to_rows_kernel(T* out, const T* img, const int32_t* cells, int64_t total, int64_t kept,
                                     int64_t g, int64_t t, int64_t C, int64_t H, int64_t W, int64_t k) {
  const int64_t kk = k * k, ck = C * kk;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t r = i / ck, col = i - r * ck;
    const int64_t c = col / kk, ab = col - c * kk, a = ab / k, bb = ab - a * k;
    const RowPos p = row_pos(cells, r, kept, g, t);
    out[i] = img[((p.n * C + c) * H + p.y * k + a) * W + p.x * k + bb];
  }
}

template <typename T>
__global__ void patchify_kernel(T* out, const T* img, int64_t total, int64_t C, int64_t H, int64_t W, int64_t P) {
  const int64_t gw = W / P, L = (H / P) * gw, row = P * P * C;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t nl = i / row, col = i - nl * row;
    const int64_t ab = col / C, c = col - ab * C, a = ab / P, bb = ab - a * P;
    const int64_t n = nl / L, l = nl - n * L, h = l / gw, w = l - h * gw;
    out[i] = img[((n * C + c) * H + h * P + a) * W + w * P + bb];
  }
}

template <typename T>
__global__ void zero_kernel(T* out, int64_t total) {
  for (int64_t i = first_index(); i < total; i += grid_stride()) out[i] = T(0.f);
}

// to_map: out (the map) at row i's position = in[i]; else out[i] = in (the map) at that position.
template <typename T>
__global__ void rows_map_kernel(T* out, const T* in, const int32_t* cells, int64_t total, int64_t kept, int64_t g,
                                int64_t t, int64_t C, bool to_map) {
  const int64_t S = g * t;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t r = i / C, c = i - r * C;
    const RowPos p = row_pos(cells, r, kept, g, t);
    const int64_t mi = ((p.n * C + c) * S + p.y) * S + p.x;
    if (to_map) out[mi] = in[i];
    else out[i] = in[mi];
  }
}

// Calls fn(T{}) with T = float or __nv_bfloat16 (the bindings admit no other dtype on CUDA).
template <typename Fn>
void by_dtype(DType d, Fn&& fn) {
  if (d == DType::F32) fn(float{});
  else fn(__nv_bfloat16{});
}

void patch_rows(const PatchRowsParams& p, bool to_patches) {
  const int64_t total = p.blocks * p.t * p.t * p.c;
  if (total == 0) return;
  by_dtype(p.out->dtype, [&](auto zero) {
    using T = decltype(zero);
    const unsigned grid = cuda::grid_for(total, kThreads);
    if (to_patches)
      rows_to_patches_kernel<T><<<grid, kThreads, 0, cuda::stream()>>>(p.out->as<T>(), p.in->as<T>(), total, p.t, p.k,
                                                                        p.c);
    else
      patches_to_rows_kernel<T><<<grid, kThreads, 0, cuda::stream()>>>(p.out->as<T>(), p.in->as<T>(), total, p.t, p.k,
                                                                        p.c);
  });
}

void rows_map(const RowsMapParams& p, bool to_map) {
  const int64_t rows_total = p.n * p.kept * p.t * p.t * p.c;
  by_dtype(p.out->dtype, [&](auto zero) {
    using T = decltype(zero);
    if (to_map && p.out->numel > 0)
      zero_kernel<T><<<cuda::grid_for(p.out->numel, kThreads), kThreads, 0, cuda::stream()>>>(p.out->as<T>(),
                                                                                              p.out->numel);
    if (rows_total == 0) return;
    rows_map_kernel<T><<<cuda::grid_for(rows_total, kThreads), kThreads, 0, cuda::stream()>>>(
        p.out->as<T>(), p.in->as<T>(), p.cells->as<int32_t>(), rows_total, p.kept, p.g, p.t, p.c, to_map);
  });
}

}  // namespace

void cuda_rows_to_patches(const PatchRowsParams& p) { patch_rows(p, true); }

void cuda_patches_to_rows(const PatchRowsParams& p) { patch_rows(p, false); }

void cuda_rows_to_map(const RowsMapParams& p) { rows_map(p, true); }

void cuda_map_to_rows(const RowsMapParams& p) { rows_map(p, false); }

void cuda_image_to_rows(const ImageRowsParams& p) {
  const int64_t total = p.out->numel;
  if (total == 0) return;
  const int64_t k = p.h / (p.g * p.t);
  by_dtype(p.out->dtype, [&](auto zero) {
    using T = decltype(zero);
    image_to_rows_kernel<T><<<cuda::grid_for(total, kThreads), kThreads, 0, cuda::stream()>>>(
        p.out->as<T>(), p.img->as<T>(), p.cells->as<int32_t>(), total, p.kept, p.g, p.t, p.c, p.h, p.w, k);
  });
}

void cuda_patchify(const PatchifyParams& p) {
  const int64_t total = p.out->numel;
  if (total == 0) return;
  by_dtype(p.out->dtype, [&](auto zero) {
    using T = decltype(zero);
    patchify_kernel<T><<<cuda::grid_for(total, kThreads), kThreads, 0, cuda::stream()>>>(p.out->as<T>(), p.img->as<T>(),
                                                                                         total, p.c, p.h, p.w, p.p);
  });
}

}  // namespace convmae
