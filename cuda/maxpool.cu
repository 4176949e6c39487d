// 2×2 max pool, stride 2, and its gradient on CUDA (full contract in native/ops/maxpool.h):
//   maxPool2x2:         out[n, c, i, j] = max of x[n, c, 2i..2i+1, 2j..2j+1], argmax (int32, y*W + x
//                       inside the plane) = the first maximum in raster order; a NaN wins (the
//                       first NaN)                                                             (=)
//   maxPool2x2Backward: dx[n, c, y, x] = dout[n, c, y/2, x/2] where argmax of that window is
//                       y*W + x, else 0                                                        (=)
// float32 or bfloat16 storage; the comparisons run on the exact fp32 values, and values are copied,
// so results equal the CPU's bit for bit. One thread per output element, grid-stride over int64
// indices: the forward per pooled element, the backward per dx element (it reads its window's
// argmax, so no zero pass and no write conflicts). argmax values were checked on the host by the
// binding before the backward runs.
#include <cuda_bf16.h>

#include "ops/maxpool.h"
#include "runtime.cuh"
#include "storage.cuh"

namespace convmae {
namespace {

constexpr int kThreads = 256;

// Grid-stride loops: for (int64_t i = first_index(); i < n; i += grid_stride()).

template <typename T>
__global__ void max_pool_kernel(T* out, int32_t* argmax, const T* x, int64_t total, int64_t H, int64_t W) {
  const int64_t ho = H / 2, wo = W / 2, q = ho * wo;
  for (int64_t o = first_index(); o < total; o += grid_stride()) {
    const int64_t plane = o / q, rem = o - plane * q, i = rem / wo, j = rem - i * wo;
    const T* xp = x + plane * H * W;
    int64_t best = (2 * i) * W + 2 * j;
    float bv = ldf(xp, best);
    for (int k = 1; k < 4; ++k) {
      const int64_t at = (2 * i + k / 2) * W + 2 * j + k % 2;
      const float v = ldf(xp, at);
      if (!isnan(bv) && (v > bv || isnan(v))) {
        best = at;
        bv = v;
      }
    }
    out[o] = xp[best];
    argmax[o] = int32_t(best);
  }
}

template <typename T>
__global__ void max_pool_backward_kernel(T* dx, const T* dout, const int32_t* argmax, int64_t total, int64_t H,
                                         int64_t W) {
  const int64_t hw = H * W, ho = H / 2, wo = W / 2;
  for (int64_t e = first_index(); e < total; e += grid_stride()) {
    const int64_t plane = e / hw, rem = e - plane * hw, y = rem / W, x = rem - y * W;
    const int64_t o = (plane * ho + y / 2) * wo + x / 2;
    dx[e] = argmax[o] == rem ? dout[o] : T(0.f);
  }
}

}  // namespace

void cuda_max_pool2x2(const MaxPoolParams& p) {
  const int64_t total = p.out->numel;
  if (total == 0) return;
  const unsigned grid = cuda::grid_for(total, kThreads);
  int32_t* am = p.argmax->as<int32_t>();
  if (p.out->dtype == DType::F32)
    max_pool_kernel<<<grid, kThreads, 0, cuda::stream()>>>(p.out->as<float>(), am, p.in->as<float>(), total, p.h, p.w);
  else
    max_pool_kernel<<<grid, kThreads, 0, cuda::stream()>>>(p.out->as<__nv_bfloat16>(), am,
                                                           p.in->as<__nv_bfloat16>(), total, p.h, p.w);
}

void cuda_max_pool2x2_backward(const MaxPoolParams& p) {
  const int64_t total = p.out->numel;
  if (total == 0) return;
  const unsigned grid = cuda::grid_for(total, kThreads);
  const int32_t* am = p.index->as<int32_t>();
  if (p.out->dtype == DType::F32)
    max_pool_backward_kernel<<<grid, kThreads, 0, cuda::stream()>>>(p.out->as<float>(), p.in->as<float>(), am, total,
                                                                    p.h, p.w);
  else
    max_pool_backward_kernel<<<grid, kThreads, 0, cuda::stream()>>>(p.out->as<__nv_bfloat16>(),
                                                                    p.in->as<__nv_bfloat16>(), am, total, p.h, p.w);
}

}  // namespace convmae
