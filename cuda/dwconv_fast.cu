// Depthwise KSxKS conv on visible-block rows on CUDA for KS = 3, 5, 7 (contract in
// native/ops/dwconv.h; the general kernels of cuda/dwconv.cu take every other size). The window
// of every row is the same for all its channels, so a block first resolves the neighbour rows of
// its rows through `table` once (KS² lookups per row, kept in shared memory) and then runs the
// channels over its threads with the KS² weights of a channel in registers:
//   gather (forward, sign +1, and input gradient, sign −1): a block per 32 rows (so that each
//     thread's KS² weight loads, strided by KS² in memory, serve 32 rows), threads over channels:
//     dst[r, c] = (bias[c]) + Σ_tap w[c, tap] · src[nb(r, tap), c], taps in order;
//   weight gradient: a block per (256 channels, row chunk) keeps KS² + 1 fp32 sums per channel
//     in registers over the chunk's rows and writes partial[chunk][tap][c]; a second kernel sums
//     the chunks in chunk order (deterministic) into dweight and dbias.
// float32 or bfloat16 storage, fp32 arithmetic.
#include <cuda_bf16.h>

#include <type_traits>

#include "dwconv_fast.cuh"
#include "dwconv_layout.cuh"
#include "runtime.cuh"
#include "scratch.cuh"
#include "storage.cuh"

namespace convmae {
namespace {

constexpr int kThreads = 256, kRows = 8, kGatherRows = 32;
constexpr int64_t kMaxChunks = 1024, kMinChunkRows = 64;
constexpr int64_t kPartialBudget = int64_t(1) << 25;  // floats of partial sums

// nb[rr * KK + tap] = the row read by tap of row r0 + rr (sign·offset), or −1 (zero / past the end),
// for ROWS rows.
template <int KS, int ROWS>
__device__ inline void resolve_window(int64_t* nb, const Layout& L, int64_t r0, int64_t r_end, int sign) {
  constexpr int KK = KS * KS, half = KS / 2;
  for (int e = threadIdx.x; e < ROWS * KK; e += kThreads) {
    const int rr = e / KK, tap = e % KK;
    const int64_t r = r0 + rr;
    int64_t v = -1;
    if (r < r_end) {
      const Pos p = row_pos(L, r);
      v = row_at(L, p.n, p.y + sign * (tap / KS - half), p.x + sign * (tap % KS - half));
    }
    nb[e] = v;
  }
}

template <typename T, int KS>
__global__ void __launch_bounds__(kThreads)
    gather_kernel(T* dst, const T* src, const T* w, const T* bias, Layout L, int64_t rows, int sign) {
  constexpr int KK = KS * KS;
  __shared__ int64_t nb[kGatherRows * KK];
  const int64_t r0 = int64_t(blockIdx.x) * kGatherRows, C = L.c;
  resolve_window<KS, kGatherRows>(nb, L, r0, rows, sign);
  __syncthreads();
  const int nrows = int(rows - r0 < kGatherRows ? rows - r0 : kGatherRows);
  for (int64_t c = threadIdx.x; c < C; c += kThreads) {
    float wc[KK];
#pragma unroll
    for (int tap = 0; tap < KK; ++tap) wc[tap] = ldf(w, c * KK + tap);
    const float b = bias ? ldf(bias, c) : 0.f;
    for (int rr = 0; rr < nrows; ++rr) {
      float acc = b;
#pragma unroll
      for (int tap = 0; tap < KK; ++tap) {
        const int64_t q = nb[rr * KK + tap];
        if (q >= 0) acc += wc[tap] * ldf(src, q * C + c);
      }
      stf(dst, (r0 + rr) * C + c, acc);
    }
  }
}

template <typename T, int KS>
__global__ void __launch_bounds__(kThreads)
    weight_kernel(float* partial, const T* dy, const T* x, Layout L, int64_t rows, int64_t chunk_rows) {
  constexpr int KK = KS * KS;
  __shared__ int64_t nb[kRows * KK];
  const int64_t C = L.c, c = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * chunk_rows, r1 = min(rows, r0 + chunk_rows);
  float acc[KK + 1];
#pragma unroll
  for (int tap = 0; tap <= KK; ++tap) acc[tap] = 0.f;
  for (int64_t rb = r0; rb < r1; rb += kRows) {
    __syncthreads();  // the previous rows' window is no longer read
    resolve_window<KS, kRows>(nb, L, rb, r1, 1);
    __syncthreads();
    if (c < C) {
      const int nrows = int(r1 - rb < kRows ? r1 - rb : kRows);
      for (int rr = 0; rr < nrows; ++rr) {
        const float g = ldf(dy, (rb + rr) * C + c);
        acc[KK] += g;
#pragma unroll
        for (int tap = 0; tap < KK; ++tap) {
          const int64_t q = nb[rr * KK + tap];
          if (q >= 0) acc[tap] += g * ldf(x, q * C + c);
        }
      }
    }
  }
  if (c < C) {
#pragma unroll
    for (int tap = 0; tap <= KK; ++tap) partial[(int64_t(blockIdx.y) * (KK + 1) + tap) * C + c] = acc[tap];
  }
}


template <typename F>
void by_dtype_and_size(DType d, int64_t ks, F&& f) {
  auto sized = [&](auto zero) {
    if (ks == 3) f(zero, std::integral_constant<int, 3>{});
    else if (ks == 5) f(zero, std::integral_constant<int, 5>{});
    else f(zero, std::integral_constant<int, 7>{});
  };
  if (d == DType::F32) sized(float{});
  else sized(__nv_bfloat16{});
}
}  // namespace

bool dwconv_fast_supported(int64_t ksize) { return ksize == 3 || ksize == 5 || ksize == 7; }

void dwconv_fast_gather(const DwconvGeometry& g, Buffer* dst, const Buffer* src, const Buffer* w, const Buffer* bias,
                        int sign) {
  const int64_t rows = rows_of(g);
  if (rows == 0 || g.c == 0) return;
  by_dtype_and_size(dst->dtype, g.ksize, [&](auto zero, auto ks) {
    using T = decltype(zero);
    gather_kernel<T, decltype(ks)::value><<<unsigned((rows + kGatherRows - 1) / kGatherRows), kThreads, 0, cuda::stream()>>>(
        dst->as<T>(), src->as<T>(), w->as<T>(), bias ? bias->as<T>() : nullptr, layout_of(g), rows, sign);
  });
}

void dwconv_fast_weight(const DwconvBackwardWeightParams& p) {
  const DwconvGeometry& g = p.geo;
  const int64_t C = g.c, taps = g.ksize * g.ksize + 1, rows = rows_of(g);
  if (C == 0) return;
  const RowChunks plan = plan_row_chunks(rows, taps * C, kMinChunkRows, kMaxChunks, kPartialBudget);
  const int64_t chunks = plan.chunks, chunk_rows = plan.rows_per_chunk;
  Scratch partial(size_t(chunks * taps * C) * sizeof(float), "dwconvRowsBackwardWeight");
  by_dtype_and_size(p.dweight->dtype, g.ksize, [&](auto zero, auto ks) {
    using T = decltype(zero);
    if (chunks > 0) {
      const dim3 grid(unsigned((C + kThreads - 1) / kThreads), unsigned(chunks));
      weight_kernel<T, decltype(ks)::value><<<grid, kThreads, 0, cuda::stream()>>>(
          partial.as<float>(), p.dy->as<T>(), p.x->as<T>(), layout_of(g), rows, chunk_rows);
    }
    dwconv_weight_finish_kernel<T><<<cuda::grid_for(taps * C, kSumCols), kSumThreads, 0, cuda::stream()>>>(
        p.dweight->as<T>(), p.dbias->as<T>(), partial.as<float>(), chunks, taps, C);
  });
}

}  // namespace convmae
