// The sm_80+ tensor-core gemm kernel for bfloat16 storage over a warp-level main loop WT: the gemm
// kernel families wmma (cuda/gemm_tc.cu) and mma (cuda/gemm_mma.cu); contract in native/ops/gemm.h.
// bf16 operands, fp32 accumulation, then alpha, beta·C and the bias in fp32 and one rounding.
// Tiles: BM x BN outputs per block of 8 warps, K in steps of BK staged through a 3-deep cp.async
// pipeline in shared memory. Each operand stays in its global layout in shared memory (16-byte
// copies along its contiguous dimension) and the fragment loads follow it, so all four transpose
// combinations read memory the same way; rows past M/N and K past the end are zero-filled by the
// copies. Split K (cuda/gemm_split.cu) for single problems with few output tiles or a short last
// wave: a slice's blocks write fp32 tiles to a scratch that a second kernel sums in order.
// A main loop WT<FM, FN, a_kc, b_kc, LDA, LDB> holds one warp's 16·FM x 16·FN fp32 accumulators
// and has zero(); step(ta, tb, kk, r0, c0, lane), the products of one k16 step at column kk of the
// staged tiles (row pitches LDA / LDB elements; a_kc / b_kc: whether K is the contiguous dimension
// of A / B) for the warp tile at rows r0.. and columns c0..; and stage(i, j, st, lane), its 16x16
// fragment (i, j) into the warp's fp32 staging tile (16 rows of kStageLd floats, row-major).
// Included by the two family files only; everything here has internal linkage in each.
#pragma once
#include <cuda_bf16.h>

#include "gemm_common.cuh"
#include "runtime.cuh"
#include "scratch.cuh"
#include "storage.cuh"

namespace convmae {
namespace {
using bf16 = __nv_bfloat16;

constexpr int PAD = 8;  // bf16 elements of row padding: keeps 16-byte rows and spreads banks
constexpr int kStageLd = 24, kStageElems = 16 * kStageLd;  // a warp's fp32 epilogue tile: 16 rows of 24

// A tiling: block tile BM x BN, K step BK, WARPS_M x WARPS_N warps (each owning a
// (BM/WARPS_M) x (BN/WARPS_N) tile of 16x16 fragments), a STAGES-deep copy pipeline, and the
// blocks per SM the register budget is sized for.
template <int BM_, int BN_, int BK_, int WARPS_M_, int WARPS_N_, int STAGES_, int MIN_BLOCKS_>
struct Cfg {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_, STAGES = STAGES_;
  static constexpr int MIN_BLOCKS = MIN_BLOCKS_, WARPS = WARPS_M * WARPS_N, THREADS = 32 * WARPS;
  static constexpr int FM = BM / WARPS_M / 16, FN = BN / WARPS_N / 16;  // fragments per warp
};
// The tilings (the families pick their default and the sweep the others).
using Cfg0 = Cfg<128, 128, 32, 2, 4, 3, 2>;  // warp tile 64x32
using Cfg1 = Cfg<128, 128, 64, 2, 4, 3, 1>;  // a longer K step
using Cfg2 = Cfg<128, 256, 32, 2, 4, 3, 1>;  // warp tile 64x64
using Cfg3 = Cfg<256, 128, 32, 4, 2, 3, 1>;  // warp tile 64x64

// Shared-memory tile shapes (elements) for an operand: rows x ld, in the operand's global layout.
// A: [BM][BK+PAD] (K contiguous) or [BK][BM+PAD] (M contiguous, trans_a).
// B: [BN][BK+PAD] (K contiguous, trans_b) or [BK][BN+PAD] (N contiguous).
template <bool kContig, int Outer, int BK>
struct Tile {
  static constexpr int rows = kContig ? Outer : BK;
  static constexpr int ld = kContig ? BK + PAD : Outer + PAD;
  static constexpr int elems = rows * ld;
};

// Copies one operand tile (outer index o0.., k index k0..) into shared memory.
// kContig: element (o, k) at g[o*ld_g + k]; else at g[k*ld_g + o].
template <bool kContig, int Outer, int BK, int THREADS>
__device__ inline void load_tile(bf16* s, const bf16* g, int64_t ld_g, int64_t o0, int64_t o_end, int64_t k0,
                                 int64_t k_end) {
  using TileT = Tile<kContig, Outer, BK>;
  constexpr int vec_per_row = (kContig ? BK : Outer) / 8;
  constexpr int vecs = TileT::rows * vec_per_row;
  for (int v = threadIdx.x; v < vecs; v += THREADS) {
    int r = v / vec_per_row, c = (v % vec_per_row) * 8;
    if constexpr (vec_per_row == 4) {
      static_assert(TileT::rows % 8 == 0 && TileT::ld == 40, "whole groups of 8 rows, 80-byte pitch");
      // Rows of 4 vectors at an 80-byte pitch: the 8 lanes of a quarter-warp take rows r and r + 4
      // (16 banks apart) rather than r and r + 1 (20 apart, whose last 4 banks meet: 2-way conflicts).
      const int group = v / 8, w = v % 8;
      r = (group / 4) * 8 + group % 4 + 4 * (w / 4);
      c = (w % 4) * 8;
    }
    // kContig: r is the outer index, c the k offset; else r is the k offset, c the outer index.
    const int64_t o = kContig ? o0 + r : o0 + c;
    const int64_t k = kContig ? k0 + c : k0 + r;
    const bool valid = o < o_end && k < k_end;  // extents are multiples of 8: a vector is all in or all out
    const bf16* src = valid ? (kContig ? g + o * ld_g + k : g + k * ld_g + o) : g;
    cp_async16(s + r * TileT::ld + c, src, valid);
  }
}

template <typename G, template <int, int, bool, bool, int, int> class WT, bool TA, bool TB, bool SPLIT>
__global__ void __launch_bounds__(G::THREADS, G::MIN_BLOCKS)
    gemm_tc_kernel(bf16* C, const bf16* A, const bf16* B, const bf16* bias, TcDims d, TcExtras x, int64_t batch0, float* ws,
                   int64_t k_chunk) {
  constexpr int BM = G::BM, BN = G::BN, BK = G::BK, STAGES = G::STAGES, THREADS = G::THREADS;
  constexpr int FM = G::FM, FN = G::FN, WTM = 16 * FM, WTN = 16 * FN;  // warp tile
  constexpr bool a_kc = !TA, b_kc = TB;  // whether K is the contiguous dimension of A / B
  using TA_ = Tile<a_kc, BM, BK>;
  using TB_ = Tile<b_kc, BN, BK>;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* sa = reinterpret_cast<bf16*>(smem_raw);
  bf16* sb = sa + STAGES * TA_::elems;
  float* stage_out = reinterpret_cast<float*>(sb + STAGES * TB_::elems);  // a 16-row fp32 tile per warp

  int64_t k_begin, k_end;
  block_problem<SPLIT>(d, batch0, k_chunk, A, B, C, x, k_begin, k_end);
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / G::WARPS_N, wn = warp % G::WARPS_N;  // warp tile: rows wm*WTM.., cols wn*WTN..

  WT<FM, FN, a_kc, b_kc, TA_::ld, TB_::ld> tile;
  tile.zero();

  const int64_t ktiles = (k_end - k_begin + BK - 1) / BK;
  auto issue = [&](int64_t kt) {
    const int slot = int(kt % STAGES);
    load_tile<a_kc, BM, BK, THREADS>(sa + slot * TA_::elems, A, d.lda, m0, d.m, k_begin + kt * BK, k_end);
    load_tile<b_kc, BN, BK, THREADS>(sb + slot * TB_::elems, B, d.ldb, n0, d.n, k_begin + kt * BK, k_end);
  };
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) issue(s);
    cp_async_commit();
  }
  for (int64_t kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();  // tile kt landed for every thread; everyone is done with tile kt-1's slot
    if (kt + STAGES - 1 < ktiles) issue(kt + STAGES - 1);
    cp_async_commit();
    const bf16* ta = sa + int(kt % STAGES) * TA_::elems;
    const bf16* tb = sb + int(kt % STAGES) * TB_::elems;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) tile.step(ta, tb, kk, wm * WTM, wn * WTN, lane);
  }
  cp_async_wait<0>();

  // Epilogue, one 16x16 fragment at a time through this warp's fp32 staging tile (rows of
  // kStageLd floats): lane l owns row l%16, columns (l/16)*8 .. +8 (epilogue_store8 writes them;
  // a split slice goes out four lanes a row instead, store_split_fragment16).
  // With that pitch and this ownership the 16-byte reads of epilogue_store8 are free of bank
  // conflicts, and so are the fragment's stores in the mma accumulator layout (the mma loop's;
  // WMMA's layout is opaque, and npm run profile:emu assumes that one). 16-float rows: 2-way, and
  // read per element 8-way.
  float* st = stage_out + warp * kStageElems;
  const int er = lane % 16, ec = (lane / 16) * 8;
#pragma unroll
  for (int i = 0; i < FM; ++i) {
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      tile.stage(i, j, st, lane);
      __syncwarp();
      if constexpr (SPLIT)
        store_split_fragment16<kStageLd>(ws, d, blockIdx.z, m0 + wm * WTM + i * 16, n0 + wn * WTN + j * 16, st, lane);
      else
        epilogue_store8(C, bias, d, x, m0 + wm * WTM + i * 16 + er, n0 + wn * WTN + j * 16 + ec, st + er * kStageLd + ec);
      __syncwarp();
    }
  }
}

template <typename G>
constexpr size_t smem_bytes(bool a_kc, bool b_kc) {
  return size_t(G::STAGES) * ((a_kc ? Tile<true, G::BM, G::BK>::elems : Tile<false, G::BM, G::BK>::elems) +
                              (b_kc ? Tile<true, G::BN, G::BK>::elems : Tile<false, G::BN, G::BK>::elems)) * sizeof(bf16) +
         G::WARPS * kStageElems * sizeof(float);
}

template <typename G, template <int, int, bool, bool, int, int> class WT, bool TA, bool TB>
void launch_tc(const GemmParams& p) {
  constexpr size_t smem = smem_bytes<G>(!TA, TB);
  const TcDims d = tc_dims(p);
  const TcExtras x = tc_extras(p);
  const bf16* bias = p.bias ? p.bias->as<bf16>() : nullptr;
  auto launch_grid = [&](bool split, dim3 grid, const bf16* a, bf16* c, const TcDims& dd, const TcExtras& xx, float* ws,
                         int64_t k_chunk, int64_t b0) {
    auto kernel = split ? gemm_tc_kernel<G, WT, TA, TB, true> : gemm_tc_kernel<G, WT, TA, TB, false>;
    split ? allow_smem_once<gemm_tc_kernel<G, WT, TA, TB, true>>(smem) : allow_smem_once<gemm_tc_kernel<G, WT, TA, TB, false>>(smem);
    kernel<<<grid, G::THREADS, smem, cuda::stream()>>>(c, a, p.b->as<bf16>(), bias, dd, xx, b0, ws, k_chunk);
  };
  run_tiles(p, d, x, bias, G::BM, G::BN, G::BK, G::MIN_BLOCKS, launch_grid);
}

template <typename G, template <int, int, bool, bool, int, int> class WT>
void launch_any(const GemmParams& p) {
  with_transposes(p, [&](auto ta, auto tb) { launch_tc<G, WT, decltype(ta)::value, decltype(tb)::value>(p); });
}

// Runs p with main loop WT on tiling Default, or in a sweep build (CONVMAE_GEMM_SWEEP=1) on
// `tiling` (-1: the one CONVMAE_GEMM_TILE names): 1 Cfg1, 2 Other (the other family's default), 3 Cfg3.
template <template <int, int, bool, bool, int, int> class WT, typename Default, typename Other>
void launch_tiling(const GemmParams& p, int tiling) {
#ifdef CONVMAE_GEMM_SWEEP
  if (tiling < 0) tiling = sweep_tiling("CONVMAE_GEMM_TILE", 3);  // read per call: bench/gemm_sweep.ts switches it
  switch (tiling) {
    case 1: return launch_any<Cfg1, WT>(p);
    case 2: return launch_any<Other, WT>(p);
    case 3: return launch_any<Cfg3, WT>(p);
    default: break;
  }
#else
  (void)tiling;
#endif
  launch_any<Default, WT>(p);
}

}  // namespace
}  // namespace convmae
