// Depthwise ksize×ksize conv on visible-block rows on CUDA (full contract in native/ops/dwconv.h):
//   dwconvRows:               y[p, c]  = bias[c] + Σ_{u,v} w[c, u, v] · x[p + (u−r, v−r), c]   (=)
//   dwconvRowsBackwardInput:  dx[q, c] = Σ_{u,v} w[c, u, v] · dy[q − (u−r, v−r), c]          (=)
//   dwconvRowsBackwardWeight: dw[c, u, v] = Σ_p dy[p, c] · x[p + (u−r, v−r), c],
//                             dbias[c] = Σ_p dy[p, c]                                       (=)
// Rows [N*K*t*t, C] in the tile-major layout of native/ops/patches.h; a neighbour is found through
// `table` [N*G*G] (slot or -1) and counts as 0 when outside the map or masked. float32 or bfloat16
// storage, fp32 arithmetic and accumulation. The bindings have checked cells/table on the host
// (values in range, consistent) before any of these kernels runs.
//
// With kernel_choice("dwconv") == "cells", kernel sizes 3 and 5 on cells of 2 or 4 positions with
// an even C run the cell-window kernels of cuda/dwconv_cells.cu; otherwise kernel sizes 3, 5 and 7
// run the kernels of cuda/dwconv_fast.cu (the `taps` family); these general ones take the rest.
// Forward and input gradient: one thread per output element (row, channel), grid-stride over the
// int64 element count; the thread walks the ksize² window (sign +1 forward, −1 for the mirrored
// window of the input gradient), so neighbouring threads read neighbouring channels of one row.
// Weight gradient: a reduction over all rows for each (c, tap), done in two deterministic passes.
// Pass 1: blocks of 32 channels × 8 row lanes own one chunk of rows (grid x: channel tiles, y: at
// most 128 row chunks, z: taps, at most 64, a block taking every gridDim.z-th tap; the bias is tap
// ksize²); each lane sums its rows in fp32, the 8 lanes are summed in shared memory, and the block
// writes partial[chunk][tap][c] (scratch of chunks × (ksize²+1) × C floats, the chunk count
// lowered so that it stays under 128 MiB where possible). Pass 2: one thread per (tap, c) sums
// the chunks in order and writes dweight / dbias.
#include <cuda_bf16.h>

#include <algorithm>

#include "cuda_api.h"
#include "dwconv_cells.cuh"
#include "dwconv_fast.cuh"
#include "dwconv_layout.cuh"
#include "kernel_choice.h"
#include "ops/dwconv.h"
#include "runtime.cuh"
#include "storage.cuh"
#include "scratch.cuh"

namespace convmae {
namespace {

constexpr int kThreads = 256;
constexpr int kTileC = 32, kLanes = 8;       // weight-gradient block: channels × row lanes
constexpr int64_t kMaxChunks = 128;          // row chunks of the weight gradient (grid y)
constexpr int64_t kMinChunkRows = 64;
constexpr int64_t kPartialBudget = int64_t(1) << 25;  // floats of partial sums we aim to stay under

// Grid-stride loops: for (int64_t i = first_index(); i < n; i += grid_stride()).

// dst[r, c] = (bias[c] or 0) + Σ_{u,v} w[c, u, v] · src[row at pos(r) + sign·(u − half, v − half), c].
template <typename T>
__global__ void conv_gather_kernel(T* dst, const T* src, const T* w, const T* bias, Layout L, int64_t total,
                                   int sign) {
  const int64_t C = L.c;
  const int ks = L.ksize, kk = ks * ks, half = ks / 2;
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t r = i / C, c = i - r * C;
    const Pos p = row_pos(L, r);
    float acc = bias ? ldf(bias, c) : 0.f;
    for (int u = 0; u < ks; ++u)
      for (int v = 0; v < ks; ++v) {
        const int64_t nb = row_at(L, p.n, p.y + sign * (u - half), p.x + sign * (v - half));
        if (nb >= 0) acc += ldf(w, c * kk + u * ks + v) * ldf(src, nb * C + c);
      }
    stf(dst, i, acc);
  }
}

// Pass 1 of the weight gradient: partial[(chunk*taps + j)*C + c] = Σ over the chunk's rows r of
// dy[r, c] · x[window_j(r), c] (tap j < ksize²) or dy[r, c] (j = ksize², the bias).
template <typename T>
__global__ void __launch_bounds__(kTileC* kLanes)
    weight_partial_kernel(float* partial, const T* dy, const T* x, Layout L, int64_t rows, int64_t chunk_rows,
                          int64_t taps) {
  __shared__ float lanes[kLanes][kTileC + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t C = L.c, c = int64_t(blockIdx.x) * kTileC + tx;
  const int64_t r0 = int64_t(blockIdx.y) * chunk_rows, r1 = min(rows, r0 + chunk_rows);
  const int ks = L.ksize, half = ks / 2;
  const int64_t bias_tap = taps - 1;
  for (int64_t j = blockIdx.z; j < taps; j += gridDim.z) {
    float acc = 0.f;
    if (c < C) {
      const int du = int(j / ks) - half, dv = int(j % ks) - half;
      for (int64_t r = r0 + ty; r < r1; r += kLanes) {
        const float g = ldf(dy, r * C + c);
        if (j == bias_tap) {
          acc += g;
        } else {
          const Pos p = row_pos(L, r);
          const int64_t nb = row_at(L, p.n, p.y + du, p.x + dv);
          if (nb >= 0) acc += g * ldf(x, nb * C + c);
        }
      }
    }
    lanes[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && c < C) {
      float s = 0.f;
      for (int l = 0; l < kLanes; ++l) s += lanes[l][tx];
      partial[(int64_t(blockIdx.y) * taps + j) * C + c] = s;
    }
    __syncthreads();
  }
}



bool cells_chosen() { return kernel_choice("dwconv") == "cells"; }

template <typename Fn>
void by_dtype(DType d, Fn&& fn) {
  if (d == DType::F32) fn(float{});
  else fn(__nv_bfloat16{});
}

template <typename T>
void gather_conv(const DwconvGeometry& g, T* dst, const T* src, const T* w, const T* bias, int sign) {
  const int64_t total = rows_of(g) * g.c;
  if (total == 0) return;
  conv_gather_kernel<T><<<cuda::grid_for(total, kThreads), kThreads, 0, cuda::stream()>>>(dst, src, w, bias,
                                                                                         layout_of(g), total, sign);
}

}  // namespace

void cuda_dwconv_rows(const DwconvParams& p) {
  if (cells_chosen() && dwconv_cells_supported(p.geo, {p.y, p.x, p.bias}))
    return dwconv_cells_gather(p.geo, p.y, p.x, p.weight, p.bias, 1);
  if (dwconv_fast_supported(p.geo.ksize)) return dwconv_fast_gather(p.geo, p.y, p.x, p.weight, p.bias, 1);
  by_dtype(p.y->dtype, [&](auto zero) {
    using T = decltype(zero);
    gather_conv<T>(p.geo, p.y->as<T>(), p.x->as<T>(), p.weight->as<T>(), p.bias->as<T>(), 1);
  });
}

void cuda_dwconv_rows_backward_input(const DwconvBackwardInputParams& p) {
  if (cells_chosen() && dwconv_cells_supported(p.geo, {p.dx, p.dy}))
    return dwconv_cells_gather(p.geo, p.dx, p.dy, p.weight, nullptr, -1);
  if (dwconv_fast_supported(p.geo.ksize)) return dwconv_fast_gather(p.geo, p.dx, p.dy, p.weight, nullptr, -1);
  by_dtype(p.dx->dtype, [&](auto zero) {
    using T = decltype(zero);
    gather_conv<T>(p.geo, p.dx->as<T>(), p.dy->as<T>(), p.weight->as<T>(), nullptr, -1);
  });
}

void cuda_dwconv_rows_backward_weight(const DwconvBackwardWeightParams& p) {
  if (cells_chosen() && dwconv_cells_supported(p.geo, {p.dy, p.x})) return dwconv_cells_weight(p);
  if (dwconv_fast_supported(p.geo.ksize)) return dwconv_fast_weight(p);
  const DwconvGeometry& g = p.geo;
  const int64_t C = g.c, taps = g.ksize * g.ksize + 1, rows = rows_of(g);
  if (C == 0) return;
  // Row chunks: enough blocks to fill the GPU, few enough that the partial sums stay small.
  const RowChunks plan = plan_row_chunks(rows, taps * C, kMinChunkRows, kMaxChunks, kPartialBudget);
  const int64_t chunks = plan.chunks, chunk_rows = plan.rows_per_chunk;
  Scratch partial(size_t(chunks * taps * C) * sizeof(float), "dwconvRowsBackwardWeight");
  by_dtype(p.dweight->dtype, [&](auto zero) {
    using T = decltype(zero);
    if (chunks > 0) {
      const dim3 block(kTileC, kLanes);
      const dim3 grid(unsigned((C + kTileC - 1) / kTileC), unsigned(chunks), unsigned(std::min<int64_t>(taps, 64)));
      weight_partial_kernel<T><<<grid, block, 0, cuda::stream()>>>(partial.as<float>(), p.dy->as<T>(), p.x->as<T>(),
                                                                  layout_of(g), rows, chunk_rows, taps);
    }
    dwconv_weight_finish_kernel<T><<<cuda::grid_for(taps * C, kSumCols), kSumThreads, 0, cuda::stream()>>>(
        p.dweight->as<T>(), p.dbias->as<T>(), partial.as<float>(), chunks, taps, C);
  });
}

}  // namespace convmae
