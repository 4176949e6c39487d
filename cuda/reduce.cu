// reduce_sum on CUDA (contract in native/ops/reduce.h), fp32 sums.
// Axis 1 (contiguous runs): one block per output element, a block-wide tree reduction.
// Axis 0 (column sums, e.g. bias gradients): blocks of 32 columns x 8 row lanes read whole row
// segments (coalesced), each block summing one chunk of rows into partial[chunk][c]; a second
// kernel sums the chunks (cuda/chunk_sum.cuh: deterministic) and applies scale / accumulate. Where
// cols % 8 == 0 (every bias gradient of the models), each thread takes 8 columns with 16-byte
// loads, so a block covers 256 columns; the sums are the same either way.
#include <cuda_bf16.h>

#include <algorithm>

#include "chunk_sum.cuh"
#include "ops/reduce.h"
#include "runtime.cuh"
#include "scratch.cuh"
#include "storage.cuh"

namespace convmae {

namespace {

// Axis 1: out[o] = scale · Σ_t in[o, t], block o (offset by out0) reducing its row.
template <typename T>
__global__ void row_sum_kernel(T* out, const T* in, int64_t cols, float scale, bool acc, int64_t out0) {
  __shared__ float part[256];
  const int64_t o = out0 + blockIdx.x;
  float s = 0.f;
  for (int64_t t = threadIdx.x; t < cols; t += blockDim.x) s += ldf(in, o * cols + t);
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = 128; w > 0; w >>= 1) {
    if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    float v = part[0] * scale;
    stf(out, o, acc ? ldf(out, o) + v : v);
  }
}

constexpr int kCols = 32, kRowLanes = 8;

// Partial column sums of one chunk of rows: a block of 32 x 8 threads covers 32·VEC columns, each
// thread VEC consecutive columns (VEC = 8: 16-byte loads of bf16, for cols % 8 == 0 and an aligned
// input) over every 8th row of the chunk, four rows in flight; each column's rows are added in
// row order, then the 8 row lanes in lane order.
template <typename T, int VEC>
__global__ void __launch_bounds__(kCols* kRowLanes)
    column_partial_kernel(float* partial, const T* in, int64_t rows, int64_t cols, int64_t chunk_rows) {
  constexpr int W = kCols * VEC;
  __shared__ __align__(16) float lanes[kRowLanes][W + (VEC == 1)];  // (+1: no bank conflicts for VEC = 1)
  const int tx = threadIdx.x % kCols, ty = threadIdx.x / kCols;
  const int64_t c = int64_t(blockIdx.x) * W + tx * VEC;
  const int64_t r0 = int64_t(blockIdx.y) * chunk_rows, r1 = min(rows, r0 + chunk_rows);
  float s[VEC] = {};
  if (c < cols) {
    int64_t r = r0 + ty;
    for (; r + 3 * kRowLanes < r1; r += 4 * kRowLanes) {
      float v[4][VEC];
#pragma unroll
      for (int u = 0; u < 4; ++u) load_vec<VEC>(in + (r + u * kRowLanes) * cols + c, v[u]);
#pragma unroll
      for (int u = 0; u < 4; ++u)
#pragma unroll
        for (int e = 0; e < VEC; ++e) s[e] += v[u][e];
    }
    for (; r < r1; r += kRowLanes) {
      float v[VEC];
      load_vec<VEC>(in + r * cols + c, v);
#pragma unroll
      for (int e = 0; e < VEC; ++e) s[e] += v[e];
    }
  }
  if constexpr (VEC == 8) store8_spread(&lanes[ty][tx * 8], s);
  else lanes[ty][tx] = s[0];
  __syncthreads();
  // thread t < W sums column t of the tile over the row lanes
  const int64_t col = int64_t(blockIdx.x) * W + threadIdx.x;
  if (threadIdx.x < W && col < cols) {
    float t = 0.f;
    for (int l = 0; l < kRowLanes; ++l) t += lanes[l][threadIdx.x];
    partial[int64_t(blockIdx.y) * cols + col] = t;
  }
}

// out[c] = scale · Σ_k partial[k][c] (+ out[c]), by chunk_column_sum (cuda/chunk_sum.cuh).
template <typename T>
__global__ void __launch_bounds__(kSumThreads)
    column_finish_kernel(T* out, const float* partial, int64_t chunks, int64_t cols, float scale, bool acc) {
  __shared__ float lanes[kSumLanes][kSumCols];
  for (int64_t c0 = int64_t(blockIdx.x) * kSumCols; c0 < cols; c0 += int64_t(gridDim.x) * kSumCols) {  // uniform per block
    const int64_t c = c0 + column_in_tile();
    const float t = chunk_column_sum(partial + c, chunks, cols, c < cols, lanes);
    if (first_sum_lane() && c < cols) {
      const float v = t * scale;
      stf(out, c, acc ? ldf(out, c) + v : v);
    }
  }
}

template <typename T>
void launch_columns(const ReduceParams& p) {
  const bool wide = p.cols % 8 == 0 && reinterpret_cast<uintptr_t>(p.in->data) % 16 == 0;
  // Enough blocks for a few waves, chunks of at least 64 rows, partial sums under 32 Mi floats.
  const int64_t tile = wide ? kCols * 8 : kCols, col_tiles = (p.cols + tile - 1) / tile;
  int64_t chunks = std::min<int64_t>((p.rows + 63) / 64, std::max<int64_t>(1, 1024 / col_tiles));
  chunks = std::max<int64_t>(1, std::min<int64_t>({chunks, 65535, (int64_t(1) << 25) / p.cols}));
  const int64_t chunk_rows = std::max<int64_t>(1, (p.rows + chunks - 1) / chunks);
  chunks = p.rows == 0 ? 0 : (p.rows + chunk_rows - 1) / chunk_rows;
  Scratch partial(size_t(chunks * p.cols) * sizeof(float), "sum");
  if (chunks > 0) {
    const dim3 grid = dim3(unsigned(col_tiles), unsigned(chunks));
    auto kernel = wide ? column_partial_kernel<T, 8> : column_partial_kernel<T, 1>;
    kernel<<<grid, kCols * kRowLanes, 0, cuda::stream()>>>(partial.as<float>(), p.in->as<T>(), p.rows, p.cols, chunk_rows);
  }
  column_finish_kernel<T><<<cuda::grid_for(p.cols, kSumCols), kSumThreads, 0, cuda::stream()>>>(
      p.out->as<T>(), partial.as<float>(), chunks, p.cols, float(p.scale), p.accumulate);
}

template <typename T>
void launch(const ReduceParams& p) {
  if (p.axis == 0) return launch_columns<T>(p);
  for (int64_t o0 = 0; o0 < p.rows; o0 += 65535 * 32) {
    const int64_t chunk = p.rows - o0 < 65535 * 32 ? p.rows - o0 : 65535 * 32;
    row_sum_kernel<T><<<unsigned(chunk), 256, 0, cuda::stream()>>>(p.out->as<T>(), p.in->as<T>(), p.cols,
                                                                   float(p.scale), p.accumulate, o0);
  }
}
}  // namespace

void cuda_reduce_sum(const ReduceParams& p) {
  if ((p.axis == 0 ? p.cols : p.rows) == 0) return;
  if (p.out->dtype == DType::F32) launch<float>(p);
  else launch<__nv_bfloat16>(p);
}

}  // namespace convmae
