// Device helpers shared by the kernels: fp32 loads and stores of float32 or bfloat16 storage
// (arithmetic is always fp32; bf16 stores round to nearest even), warp reductions and grid-stride
// loop bounds.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

namespace convmae {

__device__ inline float ldf(const float* p, int64_t i) { return p[i]; }
__device__ inline float ldf(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ inline void stf(float* p, int64_t i, float v) { p[i] = v; }
__device__ inline void stf(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

/** Sum and max over the 32 lanes of a full warp (every lane gets the result). */
__device__ inline float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/** First element of this thread in a grid-stride loop, and the stride. */
__device__ inline int64_t first_index() { return blockIdx.x * int64_t(blockDim.x) + threadIdx.x; }
__device__ inline int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

}  // namespace convmae
