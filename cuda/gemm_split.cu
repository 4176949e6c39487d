// Split K for the tensor-core gemm kernels (declared in cuda/gemm_common.cuh, with the sweep's
// tiling switch): the weight
// gradients (M×N = out×in, K = all rows) have few output tiles and a long K, so one problem is cut
// into slices of K whose blocks write fp32 tiles to a scratch [S][M][N]; this kernel then sums the
// slices in order and applies alpha, beta·C, the bias and the epilogue extras (deterministic: no
// atomics). The slice count comes from a time model (plan_split_k, below); it depends only on
// the shape, the kernel's tiling and the GPU's multiprocessor count.
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

// The split-K model. A wave is sm_count x blocks_per_sm blocks; each block takes its K steps plus
// about kBlockOverheadSteps of pipeline fill and epilogue, at an assumed kAssumedFlops over the
// card; each slice past one writes an fp32 [M][N] that the reduction reads back (8 bytes per
// output element) at kAssumedBandwidth. The assumptions only rank the candidates: what the model
// weighs is how full the last wave is against the workspace traffic (e.g. 16 tiles of a weight
// gradient on 132 SMs, one block each: 17 slices make 3 waves, the last of 8 blocks; 8 slices
// make one full-length wave and half the workspace). A split must beat one slice by
// kSplitMargin of the modelled time, so that a near tie (the model is rough) does not add a
// workspace and a reduction pass.
constexpr double kAssumedFlops = 400e12, kAssumedBandwidth = 2.5e12, kBlockOverheadSteps = 3, kSplitMargin = 0.1;

SplitPlan slices_of(int64_t k, int64_t wanted, int64_t k_step) {
  const int64_t k_chunk = ((k + wanted - 1) / wanted + k_step - 1) / k_step * k_step;
  return SplitPlan{(k + k_chunk - 1) / k_chunk, k_chunk};
}
}  // namespace

int sweep_tiling(const char* env, int max) {
  const char* v = std::getenv(env);
  return v && v[0] >= '0' && v[0] <= '0' + max && v[1] == 0 ? v[0] - '0' : 0;
}

SplitPlan plan_split_k(const GemmParams& p, int64_t tiles, int bm, int bn, int64_t k_step, int blocks_per_sm) {
  const int64_t sms = cuda::sm_count(), wave = sms * blocks_per_sm;
  const int64_t most = p.batch == 1 && tiles < 2 * wave ? std::min<int64_t>(p.k / 512, 1024) : 1;
  if (most < 2) return SplitPlan{1, p.k};
  const double step_seconds = double(blocks_per_sm) * 2.0 * bm * bn * k_step / (kAssumedFlops / double(sms));
  auto seconds_of = [&](const SplitPlan& s) {
    const int64_t waves = (tiles * s.slices + wave - 1) / wave;
    const double workspace = s.slices > 1 ? 8.0 * double(p.m) * double(p.n) * double(s.slices) / kAssumedBandwidth : 0.0;
    return double(waves) * (double(s.k_chunk / k_step) + kBlockOverheadSteps) * step_seconds + workspace;
  };
  const SplitPlan one{1, p.k};
  const double one_seconds = seconds_of(one);
  SplitPlan best = one;
  double best_seconds = one_seconds;
  for (int64_t wanted = 2; wanted <= most; ++wanted) {
    const SplitPlan s = slices_of(p.k, wanted, k_step);
    const double seconds = seconds_of(s);
    if (seconds < best_seconds) {
      best = s;
      best_seconds = seconds;
    }
  }
  return best_seconds < (1.0 - kSplitMargin) * one_seconds ? best : one;
}

void launch_split_reduce(__nv_bfloat16* C, const float* ws, const __nv_bfloat16* bias, const TcDims& d, const TcExtras& x,
                         int64_t slices) {
  split_reduce_kernel<<<cuda::grid_for(d.m * d.n, 256), 256, 0, cuda::stream()>>>(C, ws, bias, d, x, slices);
}

}  // namespace convmae
