// Row gather and its scatter-add gradient on CUDA (full contract in native/ops/gather_rows.h):
//   gatherRows:      out[m, :] = x[idx[m], :]                  (=)
//   scatterAddRows:  dx[idx[m], :] += dy[m, :] for every m     (+=), repeated indices summed
// float32 or bfloat16 rows, int32 idx whose values the binding has checked on the host (in
// [0, R)) before any kernel runs. One thread per element of the [M, C] side, grid-stride.
// The scatter sums repeated indices with fp32 atomicAdd. float32: straight into dx. bfloat16: a
// bf16 atomic would round after every addition (and bf16 atomics are not exact anyway), so dx is
// widened into an fp32 scratch copy, the atomics add there, and the result is rounded to bf16
// once: dx = bf16(dx + Σ dy) with fp32 accumulation, whatever the number of repeats.
#include <cuda_bf16.h>

#include "cuda_api.h"
#include "ops/gather_rows.h"
#include "runtime.cuh"
#include "storage.cuh"
#include "scratch.cuh"

namespace convmae {
namespace {

constexpr int kThreads = 256;

// Grid-stride loops: for (int64_t i = first_index(); i < n; i += grid_stride()).

template <typename T>
__global__ void gather_kernel(T* out, const T* x, const int32_t* idx, int64_t total, int64_t C) {
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t m = i / C, c = i - m * C;
    out[i] = x[int64_t(idx[m]) * C + c];
  }
}

// acc[idx[m], c] += dy[m, c] in fp32.
template <typename T>
__global__ void scatter_add_kernel(float* acc, const T* dy, const int32_t* idx, int64_t total, int64_t C) {
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t m = i / C, c = i - m * C;
    atomicAdd(acc + int64_t(idx[m]) * C + c, ldf(dy, i));
  }
}

__global__ void widen_kernel(float* out, const __nv_bfloat16* in, int64_t total) {
  for (int64_t i = first_index(); i < total; i += grid_stride()) out[i] = __bfloat162float(in[i]);
}

__global__ void narrow_kernel(__nv_bfloat16* out, const float* in, int64_t total) {
  for (int64_t i = first_index(); i < total; i += grid_stride()) out[i] = __float2bfloat16_rn(in[i]);
}

}  // namespace

void cuda_gather_rows(const GatherRowsParams& p) {
  const int64_t total = p.m * p.c;
  if (total == 0) return;
  const unsigned grid = cuda::grid_for(total, kThreads);
  const int32_t* idx = p.idx->as<int32_t>();
  if (p.out->dtype == DType::F32)
    gather_kernel<<<grid, kThreads, 0, cuda::stream()>>>(p.out->as<float>(), p.in->as<float>(), idx, total, p.c);
  else
    gather_kernel<<<grid, kThreads, 0, cuda::stream()>>>(p.out->as<__nv_bfloat16>(), p.in->as<__nv_bfloat16>(), idx,
                                                         total, p.c);
}

void cuda_scatter_add_rows(const GatherRowsParams& p) {
  const int64_t total = p.m * p.c;
  if (total == 0) return;
  const int32_t* idx = p.idx->as<int32_t>();
  if (p.out->dtype == DType::F32) {
    scatter_add_kernel<<<cuda::grid_for(total, kThreads), kThreads, 0, cuda::stream()>>>(
        p.out->as<float>(), p.in->as<float>(), idx, total, p.c);
    return;
  }
  const int64_t dx_total = p.r * p.c;
  Scratch acc(size_t(dx_total) * sizeof(float), "scatterAddRows");
  __nv_bfloat16* dx = p.out->as<__nv_bfloat16>();
  const unsigned dx_grid = cuda::grid_for(dx_total, kThreads);
  widen_kernel<<<dx_grid, kThreads, 0, cuda::stream()>>>(acc.as<float>(), dx, dx_total);
  scatter_add_kernel<<<cuda::grid_for(total, kThreads), kThreads, 0, cuda::stream()>>>(
      acc.as<float>(), p.in->as<__nv_bfloat16>(), idx, total, p.c);
  narrow_kernel<<<dx_grid, kThreads, 0, cuda::stream()>>>(dx, acc.as<float>(), dx_total);
}

}  // namespace convmae
