// gelu on CUDA (full contract in native/ops/gelu.h): the exact erf GELU and its backward,
//   forward:  y[i]  = 0.5 · x[i] · (1 + erf(x[i] / √2))                                   (=)
//   backward: dx[i] = dy[i] · (Φ(x[i]) + x[i] · φ(x[i]))                                    (=)
// float32 or bfloat16 storage, fp32 arithmetic (cuda/gelu_math.cuh: within 1e-6 relative, not the
// tanh form, exact in the negative tail where 1 + erf(x/√2) cancels). Elementwise
// grid-stride loops, 8 elements per thread and step with 16-byte accesses when n is a multiple
// of 8 (else one); each element is read before it is written, so y may alias x and dx may alias
// dy or x.
#include <cuda_bf16.h>

#include <string>

#include "errors.h"
#include "gelu_math.cuh"
#include "ops/gelu.h"
#include "runtime.cuh"
#include "storage.cuh"
#include "scratch.cuh"

namespace convmae {

namespace {
__device__ inline float gelu_grad_of(float g, float v) { return g * gelu_derivative(v); }

template <typename T>
__global__ void gelu_kernel(T* y, const T* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    stf(y, i, gelu_of(ldf(x, i)));
  }
}

template <typename T>
__global__ void gelu8_kernel(T* y, const T* x, int64_t n) {
  for (int64_t i = first_index() * 8; i < n; i += grid_stride() * 8) {
    float v[8];
    load8(x + i, v);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = gelu_of(v[e]);
    store8(y + i, v);
  }
}

template <typename T>
__global__ void gelu_backward8_kernel(T* dx, const T* dy, const T* x, int64_t n) {
  for (int64_t i = first_index() * 8; i < n; i += grid_stride() * 8) {
    float v[8], g[8];
    load8(x + i, v);
    load8(dy + i, g);
#pragma unroll
    for (int e = 0; e < 8; ++e) g[e] = gelu_grad_of(g[e], v[e]);
    store8(dx + i, g);
  }
}

template <typename T>
__global__ void gelu_backward_kernel(T* dx, const T* dy, const T* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    stf(dx, i, gelu_grad_of(ldf(dy, i), ldf(x, i)));
  }
}
}  // namespace

void cuda_gelu(const GeluParams& p) {
  const int64_t n = p.x->numel;
  if (n == 0) return;
  cuda_float_dispatch(p.x->dtype, "gelu", [&](auto zero) {
    using T = decltype(zero);
    if (n % 8 == 0) gelu8_kernel<T><<<cuda::grid_for(n / 8, 256), 256, 0, cuda::stream()>>>(p.y->as<T>(), p.x->as<T>(), n);
    else gelu_kernel<T><<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(p.y->as<T>(), p.x->as<T>(), n);
  });
}

void cuda_gelu_backward(const GeluBackwardParams& p) {
  const int64_t n = p.x->numel;
  if (n == 0) return;
  cuda_float_dispatch(p.x->dtype, "geluBackward", [&](auto zero) {
    using T = decltype(zero);
    if (n % 8 == 0)
      gelu_backward8_kernel<T><<<cuda::grid_for(n / 8, 256), 256, 0, cuda::stream()>>>(p.dx->as<T>(), p.dy->as<T>(),
                                                                                      p.x->as<T>(), n);
    else
      gelu_backward_kernel<T><<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(p.dx->as<T>(), p.dy->as<T>(),
                                                                                 p.x->as<T>(), n);
  });
}

}  // namespace convmae
