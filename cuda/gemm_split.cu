// Split K for the tensor-core gemm kernels (declared in cuda/gemm_common.cuh, with the sweep's
// tiling switch): the weight
// gradients (M×N = out×in, K = all rows) have few output tiles and a long K, so one problem is cut
// into slices of K whose blocks write fp32 tiles to a scratch [S][M][N]; this kernel then sums the
// slices in order and applies alpha, beta·C, the bias and the epilogue extras (deterministic: no
// atomics).
#include <algorithm>
#include <cstdlib>

#include "gemm_common.cuh"
#include "runtime.cuh"

namespace convmae {

namespace {
__global__ void split_reduce_kernel(__nv_bfloat16* C, const float* ws, const __nv_bfloat16* bias, TcDims d,
                                    TcExtras x, int64_t slices) {
  const int64_t mn = d.m * d.n;
  for (int64_t e = first_index(); e < mn; e += grid_stride()) {
    float s = 0.f;
    for (int64_t k = 0; k < slices; ++k) s += ws[k * mn + e];
    float v = d.alpha * s;
    if (d.beta != 0.f) v += d.beta * ldf(C, e);
    if (bias) v += ldf(bias, e % d.n);
    stf(C, e, finish_element(v, x, e));
    if (x.gelu_out) stf(x.gelu_out, e, gelu_of(ldf(C, e)));
  }
}
}  // namespace

int sweep_tiling(const char* env, int max) {
  const char* v = std::getenv(env);
  return v && v[0] >= '0' && v[0] <= '0' + max && v[1] == 0 ? v[0] - '0' : 0;
}

SplitPlan plan_split_k(const GemmParams& p, int64_t tiles, int64_t k_step) {
  const int64_t target = 2 * int64_t(cuda::sm_count());
  const int64_t wanted = p.batch == 1 && tiles < target ? std::min((target + tiles - 1) / tiles, p.k / 512) : 1;
  if (wanted < 2) return SplitPlan{1, p.k};
  const int64_t k_chunk = ((p.k + wanted - 1) / wanted + k_step - 1) / k_step * k_step;
  return SplitPlan{(p.k + k_chunk - 1) / k_chunk, k_chunk};
}

void launch_split_reduce(__nv_bfloat16* C, const float* ws, const __nv_bfloat16* bias, const TcDims& d, const TcExtras& x,
                         int64_t slices) {
  split_reduce_kernel<<<cuda::grid_for(d.m * d.n, 256), 256, 0, cuda::stream()>>>(C, ws, bias, d, x, slices);
}

}  // namespace convmae
