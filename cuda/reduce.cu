// reduce_sum on CUDA (contract in native/ops/reduce.h), fp32 sums.
// Axis 1 (contiguous runs): one block per output element, a block-wide tree reduction.
// Axis 0 (column sums, e.g. bias gradients): blocks of 32 columns x 8 row lanes read whole row
// segments (coalesced), each block summing one chunk of rows into partial[chunk][c]; a second
// kernel sums the chunks in chunk order (deterministic) and applies scale / accumulate. Where
// cols % 8 == 0 (every bias gradient of the models), each thread takes 8 columns with 16-byte
// loads, so a block covers 256 columns.
#include <cuda_bf16.h>

#include <algorithm>

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

template <typename T>
__global__ void __launch_bounds__(kCols* kRowLanes)
    column_partial_kernel(float* partial, const T* in, int64_t rows, int64_t cols, int64_t chunk_rows) {
  __shared__ float lanes[kRowLanes][kCols + 1];
  const int tx = threadIdx.x % kCols, ty = threadIdx.x / kCols;
  const int64_t c = int64_t(blockIdx.x) * kCols + tx;
  const int64_t r0 = int64_t(blockIdx.y) * chunk_rows, r1 = min(rows, r0 + chunk_rows);
  float s = 0.f;
  if (c < cols)
    for (int64_t r = r0 + ty; r < r1; r += kRowLanes) s += ldf(in, r * cols + c);
  lanes[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && c < cols) {
    float t = 0.f;
    for (int l = 0; l < kRowLanes; ++l) t += lanes[l][tx];
    partial[int64_t(blockIdx.y) * cols + c] = t;
  }
}

// The same partial sums 8 columns per thread (16-byte loads of bf16, 32-byte of fp32), for
// cols % 8 == 0 and an aligned input: a block covers 32·8 = 256 columns x 8 row lanes, and each
// row lane keeps four rows in flight.
constexpr int kVec = 8, kCols8 = kCols * kVec;

template <typename T>
__global__ void __launch_bounds__(kCols* kRowLanes)
    column_partial8_kernel(float* partial, const T* in, int64_t rows, int64_t cols, int64_t chunk_rows) {
  __shared__ float lanes[kRowLanes][kCols8];
  const int tx = threadIdx.x % kCols, ty = threadIdx.x / kCols;
  const int64_t c = int64_t(blockIdx.x) * kCols8 + tx * kVec;
  const int64_t r0 = int64_t(blockIdx.y) * chunk_rows, r1 = min(rows, r0 + chunk_rows);
  float s[kVec] = {};
  if (c < cols) {
    int64_t r = r0 + ty;
    for (; r + 3 * kRowLanes < r1; r += 4 * kRowLanes) {
      float v[4][kVec];
#pragma unroll
      for (int u = 0; u < 4; ++u) load8(in + (r + u * kRowLanes) * cols + c, v[u]);
#pragma unroll
      for (int u = 0; u < 4; ++u)
#pragma unroll
        for (int e = 0; e < kVec; ++e) s[e] += v[u][e];
    }
    for (; r < r1; r += kRowLanes) {
      float v[kVec];
      load8(in + r * cols + c, v);
#pragma unroll
      for (int e = 0; e < kVec; ++e) s[e] += v[e];
    }
  }
#pragma unroll
  for (int e = 0; e < kVec; ++e) lanes[ty][tx * kVec + e] = s[e];
  __syncthreads();
  // 256 threads, 256 columns: thread t sums column t of the tile over the row lanes.
  const int64_t col = int64_t(blockIdx.x) * kCols8 + threadIdx.x;
  if (col < cols) {
    float t = 0.f;
    for (int l = 0; l < kRowLanes; ++l) t += lanes[l][threadIdx.x];
    partial[int64_t(blockIdx.y) * cols + col] = t;
  }
}

template <typename T>
__global__ void column_finish_kernel(T* out, const float* partial, int64_t chunks, int64_t cols, float scale, bool acc) {
  for (int64_t c = first_index(); c < cols; c += grid_stride()) {
    float s = 0.f;
    for (int64_t k = 0; k < chunks; ++k) s += partial[k * cols + c];
    const float v = s * scale;
    stf(out, c, acc ? ldf(out, c) + v : v);
  }
}

template <typename T>
void launch_columns(const ReduceParams& p) {
  const bool wide = p.cols % kVec == 0 && reinterpret_cast<uintptr_t>(p.in->data) % 16 == 0;
  // Enough blocks for a few waves, chunks of at least 64 rows, partial sums under 32 Mi floats.
  const int64_t tile = wide ? kCols8 : kCols, col_tiles = (p.cols + tile - 1) / tile;
  int64_t chunks = std::min<int64_t>((p.rows + 63) / 64, std::max<int64_t>(1, 1024 / col_tiles));
  chunks = std::max<int64_t>(1, std::min<int64_t>({chunks, 65535, (int64_t(1) << 25) / p.cols}));
  const int64_t chunk_rows = std::max<int64_t>(1, (p.rows + chunks - 1) / chunks);
  chunks = p.rows == 0 ? 0 : (p.rows + chunk_rows - 1) / chunk_rows;
  Scratch partial(size_t(chunks * p.cols) * sizeof(float), "sum");
  if (chunks > 0) {
    const dim3 grid = dim3(unsigned(col_tiles), unsigned(chunks));
    if (wide)
      column_partial8_kernel<T><<<grid, kCols * kRowLanes, 0, cuda::stream()>>>(partial.as<float>(), p.in->as<T>(), p.rows,
                                                                                 p.cols, chunk_rows);
    else
      column_partial_kernel<T><<<grid, kCols * kRowLanes, 0, cuda::stream()>>>(partial.as<float>(), p.in->as<T>(), p.rows,
                                                                                p.cols, chunk_rows);
  }
  column_finish_kernel<T><<<cuda::grid_for(p.cols, 256), 256, 0, cuda::stream()>>>(
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
