// Pieces shared by the tensor-core gemm kernels (cuda/gemm_tc_tiles.cuh: the wmma and mma
// families, any sm_80+ card; cuda/gemm_wgmma.cu: wgmma, Hopper): the problem dimensions, cp.async
// copies, the split-K plan and reduction, and the epilogue that turns eight fp32 results of one
// output row into C.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "cp_async.cuh"
#include "gelu_math.cuh"
#include "ops/gemm.h"
#include "runtime.cuh"
#include "scratch.cuh"
#include "storage.cuh"

namespace convmae {

struct TcDims {
  int64_t m, n, k, lda, ldb, sa, sb, sc;
  float alpha, beta;
};

/** The epilogue extras of gemm.h (null where not given), for one problem once offset. */
struct TcExtras {
  const __nv_bfloat16* residual;
  __nv_bfloat16* gelu_out;
  const __nv_bfloat16* gelu_grad_of;
  __host__ __device__ TcExtras at(int64_t offset) const {
    return TcExtras{residual ? residual + offset : nullptr, gelu_out ? gelu_out + offset : nullptr,
                    gelu_grad_of ? gelu_grad_of + offset : nullptr};
  }
};

inline TcExtras tc_extras(const GemmParams& p) {
  return TcExtras{p.residual ? p.residual->as<__nv_bfloat16>() : nullptr, p.gelu_out ? p.gelu_out->as<__nv_bfloat16>() : nullptr,
                  p.gelu_grad_of ? p.gelu_grad_of->as<__nv_bfloat16>() : nullptr};
}

/** v (the final fp32 value of element e of C) → C, with the extras around it (gemm.h order). */
__device__ inline float finish_element(float v, const TcExtras& x, int64_t e) {
  if (x.residual) v += ldf(x.residual, e);
  if (x.gelu_grad_of) v *= gelu_derivative(ldf(x.gelu_grad_of, e));
  return v;
}

// The extras of epilogue_store8, out of line: the WMMA kernel inlines its epilogue once per
// fragment, and inlined GELU code there would multiply the kernel's size and build time.
// Eight values v (16-byte aligned row piece `at` of C, C's row `cr` at that piece).
static __device__ __noinline__ void store8_with_extras(__nv_bfloat16* cr, float4 lo, float4 hi, TcExtras x, int64_t at) {
  float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w}, t[8];
  if (x.residual) {
    load8(x.residual + at, t);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] += t[e];
  }
  if (x.gelu_grad_of) {
    load8(x.gelu_grad_of + at, t);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] *= gelu_derivative(t[e]);
  }
  store8(cr, v);
  if (x.gelu_out) {
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] = gelu_of(__bfloat162float(__float2bfloat16_rn(v[e])));
    store8(x.gelu_out + at, v);
  }
}

// One element of C with the extras (the unaligned path), out of line for the same reason.
static __device__ __noinline__ void store1_with_extras(__nv_bfloat16* cr, float v, TcExtras x, int64_t at) {
  stf(cr, 0, finish_element(v, x, at));
  if (x.gelu_out) stf(x.gelu_out, at, gelu_of(ldf(cr, 0)));
}

inline TcDims tc_dims(const GemmParams& p) {
  return TcDims{p.m, p.n, p.k, p.trans_a ? p.m : p.k, p.trans_b ? p.k : p.n, p.stride_a, p.stride_b, p.stride_c,
                float(p.alpha), float(p.beta)};
}

/**
 * What this block of a tile kernel computes: when SPLIT, K slice blockIdx.z (of k_chunk) of the one
 * problem; else all of K of problem batch0 + blockIdx.z, A, B, C and the extras offset to it.
 */
template <bool SPLIT>
__device__ inline void block_problem(const TcDims& d, int64_t batch0, int64_t k_chunk, const __nv_bfloat16*& A,
                                     const __nv_bfloat16*& B, __nv_bfloat16*& C, TcExtras& x, int64_t& k_begin,
                                     int64_t& k_end) {
  k_begin = 0;
  k_end = d.k;
  if (SPLIT) {
    k_begin = int64_t(blockIdx.z) * k_chunk;
    k_end = min(d.k, k_begin + k_chunk);
  } else {
    const int64_t z = batch0 + blockIdx.z;
    A += z * d.sa;
    B += z * d.sb;
    C += z * d.sc;
    x = x.at(z * d.sc);
  }
}

/**
 * Writes outputs (r, c0 .. c0+7) from eight fp32 products `sv` (16-byte aligned shared memory,
 * read by load8_spread: the callers give consecutive lanes consecutive 32-byte pieces): C =
 * alpha·sv + beta·C + bias and the extras (`x`, already offset to this problem) in fp32, one
 * rounding to bf16. 16-byte accesses when the row is aligned and whole, else per element.
 */
__device__ inline void epilogue_store8(__nv_bfloat16* C, const __nv_bfloat16* bias, const TcDims& d, const TcExtras& x,
                                       int64_t r, int64_t c0, const float* sv) {
  if (r >= d.m || c0 >= d.n) return;
  const int64_t at = r * d.n + c0;
  __nv_bfloat16* cr = C + at;
  if (d.n % 8 == 0 && d.sc % 8 == 0 && c0 + 8 <= d.n) {
    float v[8], t[8];
    load8_spread(sv, v);
#pragma unroll
    for (int e = 0; e < 8; ++e) v[e] *= d.alpha;
    if (d.beta != 0.f) {
      load8(cr, t);
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] += d.beta * t[e];
    }
    if (bias) {
      load8(bias + c0, t);
#pragma unroll
      for (int e = 0; e < 8; ++e) v[e] += t[e];
    }
    if (x.residual || x.gelu_grad_of || x.gelu_out)
      store8_with_extras(cr, make_float4(v[0], v[1], v[2], v[3]), make_float4(v[4], v[5], v[6], v[7]), x, at);
    else
      store8(cr, v);
  } else {
    for (int e = 0; e < 8 && c0 + e < d.n; ++e) {
      float v = d.alpha * sv[e];
      if (d.beta != 0.f) v += d.beta * ldf(cr, e);
      if (bias) v += ldf(bias, c0 + e);
      if (x.residual || x.gelu_grad_of || x.gelu_out) store1_with_extras(cr + e, v, x, at + e);
      else stf(cr, e, v);
    }
  }
}

/** Four fp32 values of split slice `slice` at (row, col) into the scratch ws, as they are (skipping
 *  what lies past the problem's edges): one 16-byte store where the row piece is whole and aligned. */
__device__ inline void store_split4(float* ws, const TcDims& d, int64_t slice, int64_t row, int64_t col, float4 f) {
  if (row >= d.m || col >= d.n) return;
  float* wr = ws + (slice * d.m + row) * d.n + col;
  if (d.n % 4 == 0 && col + 4 <= d.n) {
    *reinterpret_cast<float4*>(wr) = f;
  } else {  // the row's ragged end, or rows not 16-byte aligned
    wr[0] = f.x;
    if (col + 1 < d.n) wr[1] = f.y;
    if (col + 2 < d.n) wr[2] = f.z;
    if (col + 3 < d.n) wr[3] = f.w;
  }
}

/**
 * Writes a warp's 16 x 16 fp32 split-K fragment staged at st (LD floats a row, 16-byte aligned) to
 * slice `slice` of the scratch at (r0, c0): 16-byte pieces, four lanes a row, so that each
 * warp-wide store covers whole 32-byte sectors (the fragment's owner-lane layout would write
 * half-sectors). Each quarter-warp (one shared-memory phase of 16-byte reads) takes rows r and
 * r + 2, which an LD of 24 puts on disjoint banks.
 */
template <int LD>
__device__ inline void store_split_fragment16(float* ws, const TcDims& d, int64_t slice, int64_t r0, int64_t c0,
                                              const float* st, int lane) {
  static_assert(LD == 24, "the row pairing assumes rows 96 bytes apart");
  const int phase = lane / 8, c = (lane % 4) * 4;
#pragma unroll 1
  for (int q = 0; q < 2; ++q) {
    const int r = 8 * q + (phase / 2) * 4 + phase % 2 + 2 * ((lane / 4) % 2);
    store_split4(ws, d, slice, r0 + r, c0 + c, *reinterpret_cast<const float4*>(st + r * LD + c));
  }
}

/**
 * Writes a bm x bn output tile at (m0, n0) from its fp32 values staged in shared memory (ld floats
 * a row, 16-byte aligned) over all `threads` threads: when SPLIT, into slice blockIdx.z of the
 * split scratch as they are, four columns a thread (consecutive threads, consecutive 16-byte
 * pieces: whole 32-byte sectors per warp-wide store); else with epilogue_store8, eight columns a
 * thread.
 */
template <bool SPLIT, int BM, int BN, int THREADS>
__device__ inline void store_staged_tile(__nv_bfloat16* C, float* ws, const __nv_bfloat16* bias, const TcDims& d,
                                         const TcExtras& x, int64_t m0, int64_t n0, const float* staged, int ld) {
  if constexpr (SPLIT) {
#pragma unroll 1
    for (int v = threadIdx.x; v < BM * BN / 4; v += THREADS) {
      const int r = v / (BN / 4), c = (v % (BN / 4)) * 4;
      store_split4(ws, d, blockIdx.z, m0 + r, n0 + c, *reinterpret_cast<const float4*>(staged + r * ld + c));
    }
  } else {
    for (int v = threadIdx.x; v < BM * BN / 8; v += THREADS) {
      const int r = v / (BN / 8), c = (v % (BN / 8)) * 8;
      epilogue_store8(C, bias, d, x, m0 + r, n0 + c, staged + r * ld + c);
    }
  }
}

/** Raises Kernel's dynamic shared-memory limit to `bytes` (the opt-in above 48 KB), once per kernel. */
template <auto Kernel>
void allow_smem_once(size_t bytes) {
  static bool done = false;
  if (done) return;
  cuda::allow_smem(Kernel, bytes, "gemm");
  done = true;
}

/** launch(std::bool_constant<trans_a>, std::bool_constant<trans_b>) for p's transpose flags. */
template <typename Launch>
void with_transposes(const GemmParams& p, Launch&& launch) {
  using T = std::true_type;
  using F = std::false_type;
  if (p.trans_a) return p.trans_b ? launch(T{}, T{}) : launch(T{}, F{});
  return p.trans_b ? launch(F{}, T{}) : launch(F{}, F{});
}

/**
 * How a problem's tiles run: rows [0, dp_rows) as whole-K tiles, rows [dp_rows, M) in `slices`
 * slices of K of k_chunk each (a multiple of the kernel's K step) summed by a second kernel
 * (slices 1: nothing split, dp_rows = M).
 */
struct TilePlan {
  int64_t dp_rows, slices, k_chunk;
};
/**
 * The plan of the lowest modelled time (cuda/gemm_split.cu) for a kernel of bm x bn tiles, K steps
 * of k_step and blocks_per_sm resident blocks per multiprocessor. Only single problems with a long
 * K split (slices of at least 512): all rows where there are fewer tiles than two waves; else the
 * rows past the whole tile rows that fill the full waves, where the short last wave would
 * otherwise leave most of the machine idle. Else nothing is split.
 */
TilePlan plan_tiles(const GemmParams& p, int bm, int bn, int64_t k_step, int blocks_per_sm);
/** C = alpha·Σ_s ws[s] + beta·C + bias and the extras, the slices summed in order (deterministic). */
void launch_split_reduce(__nv_bfloat16* C, const float* ws, const __nv_bfloat16* bias, const TcDims& d, const TcExtras& x,
                         int64_t slices);
/** The tiling a sweep build runs: environment variable `env`, one digit 0..max (0 where unset or
 *  empty; any other value throws, naming the variable), read at each call so that one process can
 *  time every tiling. */
int sweep_tiling(const char* env, int max);
/** Whether this build has tiling `tiling` of a family whose sweep builds have 0..max: 0 in every
 *  build, the others only where CONVMAE_GEMM_SWEEP is defined. */
bool tiling_in_build(int tiling, int max);

/**
 * Runs a tile kernel over a problem (its dims, extras and bias as the kernel takes them) of bm x bn
 * output tiles with K steps of bk, blocks_per_sm of its blocks resident per multiprocessor, as
 * plan_tiles says: the whole-K rows as one grid, the split rows as one grid over the slices (grid
 * z) then the reduction; unsplit problems with the batches on grid z in chunks of 65535.
 * launch_grid(split, grid, A, C, dims, extras, ws, k_chunk, batch0) launches one grid on the rows
 * A, C, dims and extras describe (offset to the part's first row).
 */
template <typename LaunchGrid>
void run_tiles(const GemmParams& p, const TcDims& d, const TcExtras& x, const __nv_bfloat16* bias, int bm, int bn, int bk,
               int blocks_per_sm, LaunchGrid launch_grid) {
  const __nv_bfloat16* A = p.a->as<__nv_bfloat16>();
  __nv_bfloat16* C = p.c->as<__nv_bfloat16>();
  const unsigned col_tiles = unsigned((p.n + bn - 1) / bn);
  auto row_tiles = [&](int64_t rows) { return unsigned((rows + bm - 1) / bm); };
  const TilePlan plan = plan_tiles(p, bm, bn, bk, blocks_per_sm);
  if (plan.slices > 1) {
    TcDims top = d, rest = d;
    top.m = plan.dp_rows;
    rest.m = p.m - plan.dp_rows;
    if (top.m > 0) launch_grid(false, dim3(col_tiles, row_tiles(top.m), 1), A, C, top, x, nullptr, int64_t(0), int64_t(0));
    // The split rows: A's rows are its columns when it is stored [K, M].
    const __nv_bfloat16* a = A + (p.trans_a ? plan.dp_rows : plan.dp_rows * d.lda);
    __nv_bfloat16* c = C + plan.dp_rows * p.n;
    const TcExtras xr = x.at(plan.dp_rows * p.n);
    Scratch ws(size_t(plan.slices * rest.m * p.n) * sizeof(float), "gemm");
    launch_grid(true, dim3(col_tiles, row_tiles(rest.m), unsigned(plan.slices)), a, c, rest, xr, ws.as<float>(), plan.k_chunk,
                int64_t(0));
    launch_split_reduce(c, ws.as<float>(), bias, rest, xr, plan.slices);
    return;
  }
  for (int64_t b0 = 0; b0 < p.batch; b0 += 65535) {
    const unsigned z = unsigned(p.batch - b0 < 65535 ? p.batch - b0 : 65535);
    launch_grid(false, dim3(col_tiles, row_tiles(p.m), z), A, C, d, x, nullptr, int64_t(0), b0);
  }
}

}  // namespace convmae
