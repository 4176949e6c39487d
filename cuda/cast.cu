// cast and cast_multi on CUDA (contract in native/ops/cast.h): values pass through double, as on
// the CPU; the float32 <-> bfloat16 casts of the mixed-precision policy take a direct 8-wide path
// (the same values: a float32 converts to double exactly). cast_multi puts up to kMaxPairs
// float32 <-> bfloat16 pairs in one launch (cuda/multi_tensor.cuh; 8 elements per access for the
// pairs whose size and addresses allow it) and casts any other pair on its own.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "multi_tensor.cuh"
#include "ops/cast.h"
#include "runtime.cuh"
#include "storage.cuh"

namespace convmae {

__device__ inline double load_any(const void* p, int d, int64_t i) {
  switch (d) {
    case 0: return static_cast<const float*>(p)[i];
    case 1: return static_cast<const double*>(p)[i];
    case 2: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case 3: return __half2float(static_cast<const __half*>(p)[i]);
    case 4: return static_cast<const int32_t*>(p)[i];
    default: return double(static_cast<const int64_t*>(p)[i]);
  }
}

__device__ inline void store_any(void* p, int d, int64_t i, double v) {
  switch (d) {
    case 0: static_cast<float*>(p)[i] = float(v); break;
    case 1: static_cast<double*>(p)[i] = v; break;
    case 2: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(float(v)); break;
    case 3: static_cast<__half*>(p)[i] = __float2half_rn(float(v)); break;
    case 4: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    default: static_cast<int64_t*>(p)[i] = int64_t(v); break;
  }
}

// float32 <-> bfloat16 (the casts of the mixed-precision policy), 8 elements per step.
template <typename S, typename D>
__global__ void cast8_kernel(D* out, const S* in, int64_t n) {
  for (int64_t i = first_index() * 8; i < n; i += grid_stride() * 8) {
    float v[8];
    load8(in + i, v);
    store8(out + i, v);
  }
}

__global__ void cast_kernel(void* out, int dout, const void* in, int din, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    store_any(out, dout, i, load_any(in, din, i));
}

void cuda_cast(const CastParams& p) {
  const int64_t n = p.out->numel;
  if (n == 0) return;
  if (n % 8 == 0 && p.in->dtype == DType::F32 && p.out->dtype == DType::BF16)
    return cast8_kernel<<<cuda::grid_for(n / 8, 256), 256, 0, cuda::stream()>>>(p.out->as<__nv_bfloat16>(), p.in->as<float>(), n);
  if (n % 8 == 0 && p.in->dtype == DType::BF16 && p.out->dtype == DType::F32)
    return cast8_kernel<<<cuda::grid_for(n / 8, 256), 256, 0, cuda::stream()>>>(p.out->as<float>(), p.in->as<__nv_bfloat16>(), n);
  cast_kernel<<<cuda::grid_for(p.out->numel, 256), 256, 0, cuda::stream()>>>(
      p.out->data, int(p.out->dtype), p.in->data, int(p.in->dtype), p.out->numel);
}

namespace {
constexpr int kMaxPairs = 96;
struct MultiPair {
  void* out;
  const void* in;
  int64_t n, first_block;
  bool to_bf16;  // float32 -> bfloat16, else bfloat16 -> float32
  bool wide;     // n % 8 == 0 and both 16-byte aligned: 8 elements per access
};

// Elements [begin, end) of in converted into out, 8 at a time where wide (begin, end multiples of 8).
template <typename S, typename D>
__device__ inline void convert_range(D* out, const S* in, int64_t begin, int64_t end, bool wide) {
  if (wide) {
    for (int64_t i = begin + 8 * int64_t(threadIdx.x); i < end; i += 8 * multi_tensor::kThreads) {
      float v[8];
      load8(in + i, v);
      store8(out + i, v);
    }
  } else {
    for (int64_t i = begin + threadIdx.x; i < end; i += multi_tensor::kThreads) stf(out, i, ldf(in, i));
  }
}
struct MultiLaunch {
  MultiPair e[kMaxPairs];
  int count;
};
static_assert(sizeof(MultiLaunch) <= 4000, "kernel parameters must stay under 4 KB");

__global__ void __launch_bounds__(multi_tensor::kThreads) cast_multi_kernel(const __grid_constant__ MultiLaunch L) {
  const MultiPair& e = multi_tensor::block_entry(L.e, L.count);
  int64_t begin, end;
  multi_tensor::block_range(e, begin, end);
  if (e.to_bf16) convert_range(static_cast<__nv_bfloat16*>(e.out), static_cast<const float*>(e.in), begin, end, e.wide);
  else convert_range(static_cast<float*>(e.out), static_cast<const __nv_bfloat16*>(e.in), begin, end, e.wide);
}
}  // namespace

void cuda_cast_multi(const CastMultiParams& p) {
  auto launch = [](const MultiLaunch& L, int64_t blocks) {
    cast_multi_kernel<<<unsigned(blocks), multi_tensor::kThreads, 0, cuda::stream()>>>(L);
  };
  multi_tensor::Batcher<MultiLaunch, kMaxPairs, decltype(launch)> batch(MultiLaunch{}, launch);
  for (const CastParams& c : p.pairs) {
    if (c.out->numel == 0) continue;
    const bool to_bf16 = c.in->dtype == DType::F32 && c.out->dtype == DType::BF16;
    const bool to_f32 = c.in->dtype == DType::BF16 && c.out->dtype == DType::F32;
    const bool wide = c.out->numel % 8 == 0 && reinterpret_cast<uintptr_t>(c.out->data) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(c.in->data) % 16 == 0;
    if (to_bf16 || to_f32) batch.add(MultiPair{c.out->data, c.in->data, c.out->numel, 0, to_bf16, wide});
    else cuda_cast(c);
  }
  batch.flush();
}

}  // namespace convmae
