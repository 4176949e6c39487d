// reduce_sum on CUDA (contract in native/ops/reduce.h): one block per output element, a
// block-wide fp32 tree reduction over the reduced axis.
#include <cuda_bf16.h>

#include "ops/reduce.h"
#include "runtime.cuh"
#include "storage.cuh"

namespace convmae {

namespace {

template <typename T>
__global__ void reduce_kernel(T* out, const T* in, int64_t rows, int64_t cols, int axis, float scale, bool acc,
                              int64_t out0) {
  __shared__ float part[256];
  const int64_t o = out0 + blockIdx.x;
  const int64_t count = axis == 0 ? rows : cols;
  float s = 0.f;
  for (int64_t t = threadIdx.x; t < count; t += blockDim.x)
    s += axis == 0 ? ldf(in, t * cols + o) : ldf(in, o * cols + t);
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

template <typename T>
void launch(const ReduceParams& p) {
  int64_t n_out = p.axis == 0 ? p.cols : p.rows;
  for (int64_t o0 = 0; o0 < n_out; o0 += 65535 * 32) {
    int64_t chunk = n_out - o0 < 65535 * 32 ? n_out - o0 : 65535 * 32;
    reduce_kernel<T><<<unsigned(chunk), 256, 0, cuda::stream()>>>(p.out->as<T>(), p.in->as<T>(), p.rows, p.cols,
                                                                  p.axis, float(p.scale), p.accumulate, o0);
  }
}
}  // namespace

void cuda_reduce_sum(const ReduceParams& p) {
  if ((p.axis == 0 ? p.cols : p.rows) == 0) return;
  if (p.out->dtype == DType::F32) launch<float>(p);
  else launch<__nv_bfloat16>(p);
}

}  // namespace convmae
