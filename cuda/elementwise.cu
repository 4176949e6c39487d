// binary and scale on CUDA (contract in native/ops/elementwise.h): float32 or bfloat16 storage,
// fp32 arithmetic.
#include <cuda_bf16.h>

#include "errors.h"
#include "ops/elementwise.h"
#include "runtime.cuh"

namespace convmae {

__device__ inline float ld(const float* p, int64_t i) { return p[i]; }
__device__ inline float ld(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ inline void st(float* p, int64_t i, float v) { p[i] = v; }
__device__ inline void st(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

template <typename T>
__global__ void binary_kernel(T* out, const T* a, const T* b, int64_t n, int64_t nb, int kind) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float x = ld(a, i), y = ld(b, i % nb), r;
    switch (kind) {
      case 0: r = x + y; break;
      case 1: r = x - y; break;
      case 2: r = x * y; break;
      default: r = x / y; break;
    }
    st(out, i, r);
  }
}

template <typename T>
__global__ void scale_kernel(T* out, const T* in, int64_t n, float alpha, float beta) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    st(out, i, alpha * ld(in, i) + beta);
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
