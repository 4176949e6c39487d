// Tile rearrangements on CUDA (full contract in native/ops/patches.h): rowsToPatches,
// patchesToRows, imageToRows, patchify, rowsToMap, mapToRows. Every op is a pure copy (no
// arithmetic) of float32 or bfloat16 values and writes its whole output (=). One thread per output
// element (grid-stride over int64 indices, so any size the bindings allow fits the grid), which
// reads the one input element the formula names; except that rowsToPatches and patchesToRows, where
// C is a multiple of 8 and a patch's k²·C values fit a warp's share of 48 KB of shared memory (the
// model's patch embeddings), run a warp per patch: its k² rows of C move through shared memory in
// 16-byte pieces both ways, so the reads and writes are whole sectors and the index arithmetic is
// per patch, not per element. rowsToMap is another exception: it receives `cells`
// but no table, so it zero-fills the map and then scatters one thread per input element; the
// writes are disjoint because cells are distinct within a sample (checked by the binding, which
// also checks every cell value on the host before any kernel runs).
#include <cuda_bf16.h>

#include <algorithm>

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

// Warp w of the block takes patches w, w + warps, ... (grid-stride); its shared slice holds one
// patch as kk rows of C ([ab][c]). to_patches: the patch's rows are read whole into the slice, then
// the patch row (c-major: c·kk + ab) is written from it; else the reverse.
template <typename T>
__global__ void patch_rows_staged_kernel(T* out, const T* in, int64_t patches, int t, int k, int C, bool to_patches) {
  extern __shared__ unsigned char patch_smem[];
  const int warps = blockDim.x / 32, w = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int q = t / k, kk = k * k, ck = C * kk, vecs = ck / 8;
  T* slice = reinterpret_cast<T*>(patch_smem) + int64_t(w) * ck;
  for (int64_t patch = int64_t(blockIdx.x) * warps + w; patch < patches; patch += int64_t(gridDim.x) * warps) {
    const int64_t b = patch / (q * q);
    const int pq = int(patch - b * q * q), py = pq / q, px = pq - py * q;
    // the patch's row ab = a·k + bb is input/output row (b·t + py·k + a)·t + px·k + bb
    auto row_of = [&](int ab) { return (b * t + py * k + ab / k) * t + px * k + ab % k; };
    if (to_patches) {
      for (int v = lane; v < vecs; v += 32) {
        const int ab = v / (C / 8), c = (v - ab * (C / 8)) * 8;
        float x[8];
        load8(in + row_of(ab) * C + c, x);
        store_vec<8>(slice + ab * C + c, x);
      }
      __syncwarp();
      for (int v = lane; v < vecs; v += 32) {
        float x[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const int j = v * 8 + e;
          x[e] = ldf(slice, (j % kk) * C + j / kk);
        }
        store8(out + patch * ck + v * 8, x);
      }
    } else {
      for (int v = lane; v < vecs; v += 32) {
        float x[8];
        load8(in + patch * ck + v * 8, x);
        store_vec<8>(slice + v * 8, x);
      }
      __syncwarp();
      for (int v = lane; v < vecs; v += 32) {
        // neighbouring lanes take neighbouring rows of one channel piece: their shared reads
        // fall in neighbouring banks, and each row still gets whole 16-byte pieces
        const int ab = v % kk, c = (v / kk) * 8;
        float x[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) x[e] = ldf(slice, (c + e) * kk + ab);
        store8(out + row_of(ab) * C + c, x);
      }
    }
    __syncwarp();  // the slice is refilled for the next patch
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

// Warps per block of the staged kernel for these sizes (each holds a patch of k²·C values in shared
// memory, 48 KB per block at most), or 0 where it does not apply.
int staged_warps(const PatchRowsParams& p, size_t elem_bytes) {
  if (p.c % 8 != 0) return 0;
  const size_t patch_bytes = size_t(p.k * p.k * p.c) * elem_bytes;
  return int(std::min<size_t>(8, (48 * 1024) / patch_bytes));
}

void patch_rows(const PatchRowsParams& p, bool to_patches) {
  const int64_t total = p.blocks * p.t * p.t * p.c;
  if (total == 0) return;
  by_dtype(p.out->dtype, [&](auto zero) {
    using T = decltype(zero);
    if (const int warps = staged_warps(p, sizeof(T))) {
      const int64_t patches = p.blocks * (p.t / p.k) * (p.t / p.k);
      const unsigned grid = unsigned(std::min<int64_t>((patches + warps - 1) / warps, 65535 * 32));
      patch_rows_staged_kernel<T><<<grid, 32 * warps, size_t(warps) * p.k * p.k * p.c * sizeof(T), cuda::stream()>>>(
          p.out->as<T>(), p.in->as<T>(), patches, int(p.t), int(p.k), int(p.c), to_patches);
      return;
    }
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
