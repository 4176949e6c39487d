// Depthwise KSxKS conv on visible-block rows, one visible cell's window at a time (contract in
// native/ops/dwconv.h; the `cells` kernel family: cuda/dwconv.cu calls these when it is chosen and
// dwconv_cells_supported holds: KS = 3 or 5, cells of t = 2 or 4 positions, C even, buffers
// 2-element aligned).
// A cell's t·t rows need the (t+KS−1)² map positions around it, so a thread that owns two channels
// of a cell reads each of those positions once (4 B of bfloat16 or 8 B of float32 per lane) and
// keeps the cell's outputs or sums in registers: (t+KS−1)²/t² reads per output (4 for t = 4,
// KS = 5) instead of KS² (25).
//   gather (forward, sign +1, with bias; input gradient, sign −1, bias null): a block per CPB
//     cells (t·t·CPB = 64 rows) and a pass per 2·blockDim channels; the pass's weights are copied
//     into shared memory in their [C][KS²] order (coalesced), then each thread holds its two
//     channels' KS² weights in registers (mirrored for sign −1: the input gradient is the
//     correlation with the flipped kernel). Per output the taps are added in (u, v) order of the
//     window read, starting from the bias.
//     dst[r, c] = bias[c] + Σ_{u,v} w'[c, u, v] · src[pos(r) + (u − KS/2, v − KS/2), c], with
//     w' = w (sign +1) or w'[c, u, v] = w[c, KS−1−u, KS−1−v] (sign −1).
//   weight gradient: a block per (chunk of cells, channel pass) keeps KS² + 1 fp32 sums per
//     channel over its cells and writes partial[chunk][tap][c]; dwconv_weight_finish_kernel
//     (cuda/dwconv_layout.cuh) adds the chunks in order (deterministic) into dweight and dbias.
// Window positions (row·C, or −1 outside the map or in a masked cell, read as 0) are resolved in
// shared memory once per CPB cells. float32 or bfloat16 storage, fp32 arithmetic.
#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "dwconv_cells.cuh"
#include "dwconv_layout.cuh"
#include "runtime.cuh"
#include "scratch.cuh"
#include "storage.cuh"

namespace convmae {
namespace {

constexpr int kMaxPairs = 192;  // threads per block: two channels each (C = 384 in one pass)
constexpr int64_t kMaxChunks = 512, kPartialBudget = int64_t(1) << 25;  // floats of partial sums

__host__ __device__ constexpr int cells_per_block(int t) { return 64 / (t * t); }

int pairs_per_block(int64_t c) {
  const int64_t pairs = (c / 2 + 31) / 32 * 32;
  return int(pairs < kMaxPairs ? pairs : kMaxPairs);
}

// win[(j·W + i)·W + jj] = the element offset (row·C) of map position (i − KS/2, jj − KS/2) from
// the top-left of cell cell0 + j, or −1 (no row there, or j ≥ ncb).
template <int KS, int TT>
__device__ inline void resolve_windows(int64_t* win, const Layout& L, int64_t cell0, int ncb) {
  constexpr int W = TT + KS - 1, H = KS / 2, CPB = cells_per_block(TT);
  for (int e = threadIdx.x; e < CPB * W * W; e += blockDim.x) {
    const int j = e / (W * W), i = (e / W) % W, jj = e % W;
    int64_t v = -1;
    if (j < ncb) {
      const Pos p = row_pos(L, (cell0 + j) * TT * TT);
      const int64_t q = row_at(L, p.n, p.y - H + i, p.x - H + jj);
      v = q < 0 ? -1 : q * L.c;
    }
    win[e] = v;
  }
}

// The W values of window line i of one cell, for channels c and c + 1 (0 where there is no row).
template <typename T, int W>
__device__ inline void read_line(float2 (&line)[W], const T* src, const int64_t* win_line, int64_t c) {
#pragma unroll
  for (int jj = 0; jj < W; ++jj) {
    const int64_t q = win_line[jj];
    line[jj] = q >= 0 ? load2(src, q + c) : make_float2(0.f, 0.f);
  }
}

// Reads the cell's window line by line (win: its W·W offsets) and calls f(oy, ox, tap, value) for
// every output (oy, ox) of the cell and tap (u, v) = (tap / KS, tap % KS) that reads the value at
// (oy + u, ox + v): per output, the taps come in (u, v) order. Fully unrolled.
template <typename T, int KS, int TT, typename F>
__device__ inline void for_window(const T* src, const int64_t* win, int64_t c, F&& f) {
  constexpr int W = TT + KS - 1;
#pragma unroll
  for (int i = 0; i < W; ++i) {
    float2 line[W];
    read_line<T, W>(line, src, win + i * W, c);
#pragma unroll
    for (int u = 0; u < KS; ++u) {
      const int oy = i - u;
      if (oy < 0 || oy >= TT) continue;
#pragma unroll
      for (int ox = 0; ox < TT; ++ox)
#pragma unroll
        for (int v = 0; v < KS; ++v) f(oy, ox, u * KS + v, line[ox + v]);
    }
  }
}

template <typename T, int KS, int TT>
__global__ void __launch_bounds__(kMaxPairs)
    cells_gather_kernel(T* dst, const T* src, const T* w, const T* bias, Layout L, int64_t ncells, int sign) {
  constexpr int KK = KS * KS, W = TT + KS - 1, CPB = cells_per_block(TT);
  extern __shared__ float ws[];  // [2·blockDim.x][KK]: the pass's weights
  __shared__ int64_t win[CPB * W * W];
  const int64_t C = L.c, cell0 = int64_t(blockIdx.x) * CPB;
  const int ncb = int(ncells - cell0 < CPB ? ncells - cell0 : CPB);
  resolve_windows<KS, TT>(win, L, cell0, ncb);
  for (int64_t p0 = 0; p0 < C; p0 += 2 * int64_t(blockDim.x)) {
    const int64_t pc = C - p0 < 2 * int64_t(blockDim.x) ? C - p0 : 2 * int64_t(blockDim.x);
    __syncthreads();  // the previous pass no longer reads ws (and win is written)
    for (int64_t e = threadIdx.x; e < pc * KK; e += blockDim.x) ws[e] = ldf(w, p0 * KK + e);
    __syncthreads();
    const int64_t c = p0 + 2 * int64_t(threadIdx.x);
    if (c >= C) continue;
    float wa[KK], wb[KK];
#pragma unroll
    for (int tap = 0; tap < KK; ++tap) {
      const int from = sign > 0 ? tap : KK - 1 - tap;
      wa[tap] = ws[(2 * threadIdx.x) * KK + from];
      wb[tap] = ws[(2 * threadIdx.x + 1) * KK + from];
    }
    const float2 b = bias ? load2(bias, c) : make_float2(0.f, 0.f);
    for (int j = 0; j < ncb; ++j) {
      float2 acc[TT][TT];
#pragma unroll
      for (int oy = 0; oy < TT; ++oy)
#pragma unroll
        for (int ox = 0; ox < TT; ++ox) acc[oy][ox] = b;
      for_window<T, KS, TT>(src, win + j * W * W, c, [&](int oy, int ox, int tap, float2 s) {
        acc[oy][ox].x += wa[tap] * s.x;
        acc[oy][ox].y += wb[tap] * s.y;
      });
      const int64_t r0 = (cell0 + j) * TT * TT;
#pragma unroll
      for (int oy = 0; oy < TT; ++oy)
#pragma unroll
        for (int ox = 0; ox < TT; ++ox) store2(dst, (r0 + oy * TT + ox) * C + c, acc[oy][ox]);
    }
  }
}

// Block (chunk, pass): sums over cells [chunk·chunk_cells, +chunk_cells) for channels
// pass·2·blockDim + 2·threadIdx.x and the next one.
template <typename T, int KS, int TT>
__global__ void __launch_bounds__(kMaxPairs)
    cells_weight_kernel(float* partial, const T* dy, const T* x, Layout L, int64_t ncells, int64_t chunk_cells) {
  constexpr int KK = KS * KS, W = TT + KS - 1, CPB = cells_per_block(TT);
  __shared__ int64_t win[CPB * W * W];
  const int64_t C = L.c, c = int64_t(blockIdx.y) * 2 * blockDim.x + 2 * int64_t(threadIdx.x);
  const int64_t first = int64_t(blockIdx.x) * chunk_cells;
  const int64_t end = ncells < first + chunk_cells ? ncells : first + chunk_cells;
  float2 acc[KK + 1];
#pragma unroll
  for (int tap = 0; tap <= KK; ++tap) acc[tap] = make_float2(0.f, 0.f);
  for (int64_t cell0 = first; cell0 < end; cell0 += CPB) {
    const int ncb = int(end - cell0 < CPB ? end - cell0 : CPB);
    __syncthreads();  // the previous cells' windows are no longer read
    resolve_windows<KS, TT>(win, L, cell0, ncb);
    __syncthreads();
    if (c >= C) continue;
    for (int j = 0; j < ncb; ++j) {
      const int64_t r0 = (cell0 + j) * TT * TT;
      float2 g[TT][TT];
#pragma unroll
      for (int oy = 0; oy < TT; ++oy)
#pragma unroll
        for (int ox = 0; ox < TT; ++ox) {
          g[oy][ox] = load2(dy, (r0 + oy * TT + ox) * C + c);
          acc[KK].x += g[oy][ox].x;
          acc[KK].y += g[oy][ox].y;
        }
      for_window<T, KS, TT>(x, win + j * W * W, c, [&](int oy, int ox, int tap, float2 s) {
        acc[tap].x += g[oy][ox].x * s.x;
        acc[tap].y += g[oy][ox].y * s.y;
      });
    }
  }
  if (c >= C) return;
#pragma unroll
  for (int tap = 0; tap <= KK; ++tap) store2(partial, (int64_t(blockIdx.x) * (KK + 1) + tap) * C + c, acc[tap]);
}

template <typename F>
void by_dtype_and_shape(DType d, int64_t ks, int64_t t, F&& f) {
  auto shaped = [&](auto zero, auto k) {
    if (t == 2) f(zero, k, std::integral_constant<int, 2>{});
    else f(zero, k, std::integral_constant<int, 4>{});
  };
  auto sized = [&](auto zero) {
    if (ks == 3) shaped(zero, std::integral_constant<int, 3>{});
    else shaped(zero, std::integral_constant<int, 5>{});
  };
  if (d == DType::F32) sized(float{});
  else sized(__nv_bfloat16{});
}

bool aligned2(const Buffer* b) {
  return !b || reinterpret_cast<uintptr_t>(b->data) % (2 * dtype_size(b->dtype)) == 0;
}
}  // namespace

bool dwconv_cells_supported(const DwconvGeometry& g, std::initializer_list<const Buffer*> buffers) {
  if ((g.ksize != 3 && g.ksize != 5) || (g.t != 2 && g.t != 4) || g.c % 2 != 0) return false;
  for (const Buffer* b : buffers)
    if (!aligned2(b)) return false;
  return true;
}

void dwconv_cells_gather(const DwconvGeometry& g, Buffer* dst, const Buffer* src, const Buffer* w, const Buffer* bias,
                         int sign) {
  const int64_t ncells = g.n * g.kept;
  if (ncells == 0 || g.c == 0) return;
  const int threads = pairs_per_block(g.c);
  by_dtype_and_shape(dst->dtype, g.ksize, g.t, [&](auto zero, auto ks, auto t) {
    using T = decltype(zero);
    constexpr int KS = decltype(ks)::value, TT = decltype(t)::value, CPB = cells_per_block(TT);
    const size_t smem = size_t(2 * threads) * KS * KS * sizeof(float);
    cells_gather_kernel<T, KS, TT><<<unsigned((ncells + CPB - 1) / CPB), threads, smem, cuda::stream()>>>(
        dst->as<T>(), src->as<T>(), w->as<T>(), bias ? bias->as<T>() : nullptr, layout_of(g), ncells, sign);
  });
}

void dwconv_cells_weight(const DwconvBackwardWeightParams& p) {
  const DwconvGeometry& g = p.geo;
  const int64_t C = g.c, taps = g.ksize * g.ksize + 1, ncells = g.n * g.kept;
  if (C == 0) return;
  const int threads = pairs_per_block(C);
  const int64_t passes = (C + 2 * threads - 1) / (2 * threads);
  // Chunks of at least one block's cells, at most kMaxChunks: stage 2 of ConvMAE-B at b128 (6272
  // cells of 4 rows) gets 392 blocks of 16 cells, stage 1 (6272 cells of 16 rows) 483 of 13.
  const RowChunks plan = plan_row_chunks(ncells, taps * C, cells_per_block(int(g.t)), kMaxChunks, kPartialBudget);
  const int64_t chunks = plan.chunks;
  Scratch partial(size_t(chunks * taps * C) * sizeof(float), "dwconvRowsBackwardWeight");
  by_dtype_and_shape(p.dweight->dtype, g.ksize, g.t, [&](auto zero, auto ks, auto t) {
    using T = decltype(zero);
    constexpr int KS = decltype(ks)::value, TT = decltype(t)::value;
    if (chunks > 0) {
      const dim3 grid{unsigned(chunks), unsigned(passes)};
      cells_weight_kernel<T, KS, TT><<<grid, threads, 0, cuda::stream()>>>(
          partial.as<float>(), p.dy->as<T>(), p.x->as<T>(), layout_of(g), ncells, plan.rows_per_chunk);
    }
    dwconv_weight_finish_kernel<T><<<cuda::grid_for(taps * C, kSumCols), kSumThreads, 0, cuda::stream()>>>(
        p.dweight->as<T>(), p.dbias->as<T>(), partial.as<float>(), chunks, taps, C);
  });
}

}  // namespace convmae
