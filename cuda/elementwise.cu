// binary, scale and sampleScale on CUDA (contract in native/ops/elementwise.h): float32 or
// bfloat16 storage, fp32 arithmetic, one rounding per stored value. When the element counts are
// multiples of 8 (and so is b's, for binary; the per-sample count, for sampleScale), each thread
// moves 8 consecutive elements per step with 16-byte accesses (buffers start aligned); otherwise
// one element per step.
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

__device__ inline float apply(int kind, float x, float y) {
  switch (kind) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    default: return x / y;
  }
}

// n and nb multiples of 8: out[i..i+8) = a[i..i+8) (op) b[i % nb .. +8).
template <typename T>
__global__ void binary8_kernel(T* out, const T* a, const T* b, int64_t n, int64_t nb, int kind) {
  for (int64_t i = first_index() * 8; i < n; i += grid_stride() * 8) {
    float x[8], y[8];
    load8(a + i, x);
    load8(b + (nb == n ? i : i % nb), y);
#pragma unroll
    for (int e = 0; e < 8; ++e) x[e] = apply(kind, x[e], y[e]);
    store8(out + i, x);
  }
}

template <typename T>
__global__ void scale8_kernel(T* out, const T* in, int64_t n, float alpha, float beta) {
  for (int64_t i = first_index() * 8; i < n; i += grid_stride() * 8) {
    float x[8];
    load8(in + i, x);
#pragma unroll
    for (int e = 0; e < 8; ++e) x[e] = alpha * x[e] + beta;
    store8(out + i, x);
  }
}

template <typename T>
__global__ void scale_kernel(T* out, const T* in, int64_t n, float alpha, float beta) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    stf(out, i, alpha * ldf(in, i) + beta);
}

// out[i] = base[i] + s[i / per]·x[i] (base may be null: 0), VEC = 8 when per and n are multiples of
// 8 (a piece of 8 then lies within one sample), else 1.
template <int VEC, typename T>
__global__ void sample_scale_kernel(T* out, const T* x, const T* s, const T* base, int64_t n, int64_t per) {
  for (int64_t i = first_index() * VEC; i < n; i += grid_stride() * VEC) {
    float v[VEC], b[VEC];
    load_vec<VEC>(x + i, v);
    if (base) load_vec<VEC>(base + i, b);
    const float f = ldf(s, i / per);
#pragma unroll
    for (int e = 0; e < VEC; ++e) v[e] = (base ? b[e] : 0.f) + f * v[e];
    store_vec<VEC>(out + i, v);
  }
}

template <typename T>
void binary_launch(const BinaryParams& p) {
  const int64_t n = p.out->numel, nb = p.b->numel;
  if (n % 8 == 0 && nb % 8 == 0)
    binary8_kernel<<<cuda::grid_for(n / 8, 256), 256, 0, cuda::stream()>>>(p.out->as<T>(), p.a->as<T>(), p.b->as<T>(),
                                                                          n, nb, int(p.kind));
  else
    binary_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(p.out->as<T>(), p.a->as<T>(), p.b->as<T>(), n,
                                                                     nb, int(p.kind));
}

void cuda_binary(const BinaryParams& p) {
  int64_t n = p.out->numel;
  if (n == 0) return;
  if (p.out->dtype == DType::F32) binary_launch<float>(p);
  else binary_launch<__nv_bfloat16>(p);
}

template <typename T>
void scale_launch(const ScaleParams& p) {
  const int64_t n = p.out->numel;
  if (n % 8 == 0)
    scale8_kernel<<<cuda::grid_for(n / 8, 256), 256, 0, cuda::stream()>>>(p.out->as<T>(), p.in->as<T>(), n,
                                                                         float(p.alpha), float(p.beta));
  else
    scale_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(p.out->as<T>(), p.in->as<T>(), n, float(p.alpha),
                                                                    float(p.beta));
}

void cuda_scale(const ScaleParams& p) {
  int64_t n = p.out->numel;
  if (n == 0) return;
  if (p.out->dtype == DType::F32) scale_launch<float>(p);
  else scale_launch<__nv_bfloat16>(p);
}

template <typename T>
void sample_scale_launch(const SampleScaleParams& p) {
  const int64_t n = p.x->numel, per = n / p.s->numel;
  T* out = p.out->as<T>();
  const T *x = p.x->as<T>(), *s = p.s->as<T>(), *base = p.base ? p.base->as<T>() : nullptr;
  if (per % 8 == 0)
    sample_scale_kernel<8, T><<<cuda::grid_for(n / 8, 256), 256, 0, cuda::stream()>>>(out, x, s, base, n, per);
  else
    sample_scale_kernel<1, T><<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(out, x, s, base, n, per);
}

void cuda_sample_scale(const SampleScaleParams& p) {
  if (p.x->numel == 0) return;
  if (p.out->dtype == DType::F32) sample_scale_launch<float>(p);
  else sample_scale_launch<__nv_bfloat16>(p);
}
}  // namespace convmae
