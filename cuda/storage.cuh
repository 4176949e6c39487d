// Device helpers shared by the kernels: fp32 loads and stores of float32 or bfloat16 storage
// (arithmetic is always fp32; bf16 stores round to nearest even) and grid-stride loop bounds.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

namespace convmae {

__device__ inline float ldf(const float* p, int64_t i) { return p[i]; }
__device__ inline float ldf(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ inline void stf(float* p, int64_t i, float v) { p[i] = v; }
__device__ inline void stf(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

/** First element of this thread in a grid-stride loop, and the stride. */
__device__ inline int64_t first_index() { return blockIdx.x * int64_t(blockDim.x) + threadIdx.x; }
__device__ inline int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

}  // namespace convmae
