// Pieces shared by the depthwise-conv kernels (cuda/dwconv.cu, cuda/dwconv_fast.cu): the visible
// layout as they see it (the row <-> map position arithmetic of native/ops/patches.h on the
// device) and the weight gradient's chunk-summing pass.
#pragma once
#include <cstdint>

#include "chunk_sum.cuh"
#include "ops/dwconv.h"
#include "storage.cuh"

namespace convmae {

// The visible layout as the kernels see it. Map coordinates are int: whenever there is a row,
// the bindings' size checks give t <= 2^20 and G <= 1024, so S = G*t < 2^31 (and a window
// reaches at most 127 past the map); row and element indices stay int64.
struct Layout {
  const int32_t* cells;  // [N*K]
  const int32_t* table;  // [N*G*G]
  int64_t kept;
  int g, t;
  int64_t c;
  int ksize;
};

struct Pos {
  int64_t n;
  int y, x;
};

// Sample and map position of visible row r.
__device__ inline Pos row_pos(const Layout& L, int64_t r) {
  const int64_t tt = int64_t(L.t) * L.t, ns = r / tt, d = r - ns * tt;  // d < t² may pass 2^31
  const int cell = L.cells[ns], dy = int(d / L.t), dx = int(d - int64_t(dy) * L.t);
  return {ns / L.kept, (cell / L.g) * L.t + dy, (cell % L.g) * L.t + dx};
}

// The row at map position (y, x) of sample n, or -1 when outside the map or in a masked cell.
__device__ inline int64_t row_at(const Layout& L, int64_t n, int y, int x) {
  const int S = L.g * L.t;
  if (y < 0 || x < 0 || y >= S || x >= S) return -1;
  const int gy = y / L.t, gx = x / L.t;
  const int64_t slot = L.table[(n * L.g + gy) * L.g + gx];
  return slot < 0 ? -1 : ((n * L.kept + slot) * L.t + (y - gy * L.t)) * L.t + (x - gx * L.t);
}

// Internal linkage in every file that includes this (like the kernels defined in those files).
namespace {
// The weight gradient's last pass (both kernel families): sums partial[chunk][tap][c] over the
// chunks (cuda/chunk_sum.cuh) into dweight (taps < ksize²) and dbias (the last tap); chunks = 0
// writes zeros. Launch with kSumThreads threads and blocks over taps·C in kSumCols pieces.
template <typename T>
__global__ void __launch_bounds__(kSumThreads)
    dwconv_weight_finish_kernel(T* dw, T* db, const float* partial, int64_t chunks, int64_t taps, int64_t C) {
  __shared__ float lanes[kSumLanes][kSumCols];
  const int64_t total = taps * C, kk = taps - 1;
  for (int64_t e0 = int64_t(blockIdx.x) * kSumCols; e0 < total; e0 += int64_t(gridDim.x) * kSumCols) {  // uniform per block
    const int64_t e = e0 + column_in_tile();
    const float s = chunk_column_sum(partial + e, chunks, total, e < total, lanes);
    if (first_sum_lane() && e < total) {
      const int64_t j = e / C, c = e - j * C;
      if (j == kk) stf(db, c, s);
      else stf(dw, c * kk + j, s);
    }
  }
}
}  // namespace

// How the weight gradient cuts `rows` into chunks: about one per min_rows rows, at most
// max_chunks, and few enough that chunks x width partial sums stay within budget floats; no chunk
// is empty (rows = 0 gives no chunks).
struct RowChunks {
  int64_t chunks, rows_per_chunk;
};
inline RowChunks plan_row_chunks(int64_t rows, int64_t width, int64_t min_rows, int64_t max_chunks, int64_t budget) {
  int64_t chunks = (rows + min_rows - 1) / min_rows < max_chunks ? (rows + min_rows - 1) / min_rows : max_chunks;
  chunks = budget / width < chunks ? budget / width : chunks;
  if (chunks < 1) chunks = 1;
  if (rows == 0) return {0, 0};
  const int64_t per = (rows + chunks - 1) / chunks;
  return {(rows + per - 1) / per, per};
}

inline Layout layout_of(const DwconvGeometry& g) {
  return {g.cells->as<int32_t>(), g.table->as<int32_t>(), g.kept, int(g.g), int(g.t), g.c, int(g.ksize)};
}

inline int64_t rows_of(const DwconvGeometry& g) { return g.n * g.kept * g.t * g.t; }

}  // namespace convmae
