// binary and scale on CUDA (contract in native/ops/elementwise.h): float32 or bfloat16 storage,
// fp32 arithmetic.
#include <cuda_bf16.h>

#include "errors.h"
#include "ops/elementwise.h"
#include "runtime.cuh"
#include "storage.cuh"

namespace convmae {

template <typename T>
__global__ void binary_kernel(T* out, const T* a, const T* b, int64_t n, int64_t nb, int kind) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float x = ldf(a, i), y = ldf(b, i % nb), r;
    switch (kind) {
      case 0: r = x + y; break;
      case 1: r = x - y; break;
      case 2: r = x * y; break;
      default: r = x / y; break;
    }
    stf(out, i, r);
  }
}

template <typename T>
__global__ void scale_kernel(T* out, const T* in, int64_t n, float alpha, float beta) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    stf(out, i, alpha * ldf(in, i) + beta);
}

void cuda_binary(const BinaryParams& p) {
  int64_t n = p.out->numel;
  auto g = cuda::grid_for(n, 256);
  if (p.out->dtype == DType::F32)
    binary_kernel<<<g, 256, 0, cuda::stream()>>>(p.out->as<float>(), p.a->as<float>(), p.b->as<float>(), n,
                                                p.b->numel, int(p.kind));
  else
    binary_kernel<<<g, 256, 0, cuda::stream()>>>(p.out->as<__nv_bfloat16>(), p.a->as<__nv_bfloat16>(),
                                                p.b->as<__nv_bfloat16>(), n, p.b->numel, int(p.kind));
}

void cuda_scale(const ScaleParams& p) {
  int64_t n = p.out->numel;
  if (n == 0) return;
  auto g = cuda::grid_for(n, 256);
  if (p.out->dtype == DType::F32)
    scale_kernel<<<g, 256, 0, cuda::stream()>>>(p.out->as<float>(), p.in->as<float>(), n, float(p.alpha),
                                               float(p.beta));
  else
    scale_kernel<<<g, 256, 0, cuda::stream()>>>(p.out->as<__nv_bfloat16>(), p.in->as<__nv_bfloat16>(), n,
                                               float(p.alpha), float(p.beta));
}

}  // namespace convmae
