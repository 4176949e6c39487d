// fill on CUDA (contract in native/ops/fill.h): one thread per element, grid-stride.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "ops/fill.h"
#include "runtime.cuh"

namespace convmae {

template <typename T>
__global__ void fill_kernel(T* out, int64_t n, T v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = v;
}

template <typename T>
static void launch(void* out, int64_t n, T v) {
  fill_kernel<T><<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(static_cast<T*>(out), n, v);
}

void cuda_fill(const FillParams& p) {
  Buffer& o = *p.out;
  if (o.numel == 0) return;
  switch (o.dtype) {
    case DType::F32: launch(o.data, o.numel, float(p.value)); break;
    case DType::F64: launch(o.data, o.numel, p.value); break;
    case DType::BF16: launch(o.data, o.numel, float_to_bf16(float(p.value))); break;
    case DType::F16: launch(o.data, o.numel, float_to_f16(float(p.value))); break;
    case DType::I32: launch(o.data, o.numel, int32_t(p.value)); break;
    case DType::I64: launch(o.data, o.numel, int64_t(p.value)); break;
  }
}

}  // namespace convmae
