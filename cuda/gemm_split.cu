// Split K for the tensor-core gemm kernels (declared in cuda/gemm_common.cuh, with the sweep's
// tiling switch). The weight gradients (M×N = out×in, K = all rows) have few output tiles and a
// long K, so the whole problem is cut into slices of K whose blocks write fp32 tiles to a scratch
// [S][M][N]; this kernel then sums the slices in order and applies alpha, beta·C, the bias and the
// epilogue extras (deterministic: no atomics). Problems of a few waves whose last wave is short
// (the stage-3 products with 768 outputs at batch 128: 294 tiles of 128x128 on 264 slots, the
// second wave 30 blocks long) split only the rows of that wave: the tile rows that fill the full
// waves run whole, the rest in slices that spread over the machine. The plan comes from a time
// model (plan_tiles, below); it depends only on the shape, the kernel's tiling and the GPU's
// multiprocessor count.
#include <algorithm>
#include <cstdlib>

#include "errors.h"
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
// card; the whole-K rows and the split rows run as two grids, one after the other; each slice of
// the split rows writes an fp32 [rows][N] that the reduction reads back (8 bytes per output
// element) at kAssumedBandwidth. The assumptions only rank the candidates: what the model
// weighs is how full the last wave is against the workspace traffic (e.g. 16 tiles of a weight
// gradient on 132 SMs, one block each: 17 slices make 3 waves, the last of 8 blocks; 8 slices
// make one full-length wave and half the workspace). A split must beat one slice by
// kSplitMargin of the modelled time, so that a near tie (the model is rough) does not add a
// workspace and a reduction pass.
constexpr double kAssumedFlops = 400e12, kAssumedBandwidth = 2.5e12, kBlockOverheadSteps = 3, kSplitMargin = 0.1;

// How one problem's K is cut: `slices` slices of `k_chunk` (a multiple of the kernel's K step).
struct SplitPlan {
  int64_t slices, k_chunk;
};

SplitPlan slices_of(int64_t k, int64_t wanted, int64_t k_step) {
  const int64_t k_chunk = ((k + wanted - 1) / wanted + k_step - 1) / k_step * k_step;
  return SplitPlan{(k + k_chunk - 1) / k_chunk, k_chunk};
}
}  // namespace

int sweep_tiling(const char* env, int max) {
  const char* v = std::getenv(env);
  if (!v || !*v) return 0;
  if (v[0] >= '0' && v[0] <= '0' + max && v[1] == 0) return v[0] - '0';
  throw_error("gemm", std::string(env) + " must be a tiling from 0 to " + std::to_string(max) + ", not '" + v + "'");
}

bool tiling_in_build(int tiling, int max) {
#ifdef CONVMAE_GEMM_SWEEP
  return tiling >= 0 && tiling <= max;
#else
  (void)max;
  return tiling == 0;
#endif
}

TilePlan plan_tiles(const GemmParams& p, int bm, int bn, int64_t k_step, int blocks_per_sm) {
  const int64_t sms = cuda::sm_count(), wave = sms * blocks_per_sm;
  const int64_t row_tiles = (p.m + bm - 1) / bm, col_tiles = (p.n + bn - 1) / bn, tiles = row_tiles * col_tiles;
  const TilePlan plain{p.m, 1, p.k};
  const int64_t most = p.batch == 1 ? std::min<int64_t>(p.k / 512, 1024) : 1;
  if (most < 2) return plain;
  const double step_seconds = double(blocks_per_sm) * 2.0 * bm * bn * k_step / (kAssumedFlops / double(sms));
  // Waves of `count` blocks that each take `k` of K, in seconds.
  auto waves_seconds = [&](int64_t count, int64_t k) {
    return double((count + wave - 1) / wave) * (double((k + k_step - 1) / k_step) + kBlockOverheadSteps) * step_seconds;
  };
  // Rows from `dp_row_tiles` tile rows on split in about `wanted` slices.
  auto plan_of = [&](int64_t dp_row_tiles, int64_t wanted) {
    const SplitPlan s = slices_of(p.k, wanted, k_step);
    return TilePlan{dp_row_tiles * bm, s.slices, s.k_chunk};
  };
  // A split plan: its whole-K grid (dp_rows a multiple of bm), then its split grid and workspace.
  auto seconds_of = [&](const TilePlan& t) {
    const int64_t dp_tiles = t.dp_rows / bm * col_tiles, rest_rows = p.m - t.dp_rows;
    const double workspace = 8.0 * double(rest_rows) * double(p.n) * double(t.slices) / kAssumedBandwidth;
    return (dp_tiles ? waves_seconds(dp_tiles, p.k) : 0.0) + waves_seconds((tiles - dp_tiles) * t.slices, t.k_chunk) + workspace;
  };
  // Split from row 0 (few tiles), or after the whole tile rows that fill the full waves (a short
  // last wave: its rows split instead, so that they spread over the machine).
  const int64_t full_wave_rows = tiles / wave * wave / col_tiles;
  const double plain_seconds = waves_seconds(tiles, p.k);
  TilePlan best = plain;
  double best_seconds = plain_seconds;
  for (const int64_t dp_row_tiles : {int64_t(0), full_wave_rows}) {
    if (dp_row_tiles >= row_tiles || (dp_row_tiles == 0 && tiles >= 2 * wave)) continue;
    for (int64_t wanted = 2; wanted <= most; ++wanted) {
      const TilePlan t = plan_of(dp_row_tiles, wanted);
      const double seconds = seconds_of(t);
      if (seconds < best_seconds) {
        best = t;
        best_seconds = seconds;
      }
    }
  }
  return best_seconds < (1.0 - kSplitMargin) * plain_seconds ? best : plain;
}

void launch_split_reduce(__nv_bfloat16* C, const float* ws, const __nv_bfloat16* bias, const TcDims& d, const TcExtras& x,
                         int64_t slices) {
  split_reduce_kernel<<<cuda::grid_for(d.m * d.n, 256), 256, 0, cuda::stream()>>>(C, ws, bias, d, x, slices);
}

}  // namespace convmae
