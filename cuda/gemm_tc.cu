// gemm on tensor cores for bfloat16 storage (contract in native/ops/gemm.h; the caller falls back
// to the plain kernel when this path declines). bf16 operands, fp32 accumulation, then alpha,
// beta·C and the bias in fp32 and one rounding to bf16.
// Tiles: 128x128 (wmma) or 128x256 (mma) outputs per block of 8 warps (2x4, each 64x32 or 64x64),
// K in steps of 32 staged through a 3-deep cp.async pipeline in shared memory. Each operand stays in its global layout in shared
// memory (16-byte copies along its contiguous dimension) and the fragment loads follow it, so all
// four transpose combinations read memory the same way. Eligible when the contiguous extent of
// each operand (K or M for A, K or N for B) and the batch strides are multiples of 8 elements
// (16 bytes); rows past M/N and K past the end are zero-filled by the copies.
// Two warp-level main loops over the same tiles, pipeline and epilogue (the gemm kernel choice):
//   wmma: the WMMA API (16x16x16 fragments; the fragment layouts are the compiler's);
//   mma:  ldmatrix .x4 (.trans for an operand whose K runs along rows of its tile) and mma.sync
//         m16n8k16 (cuda/mma_sync.cuh): per k16 step a warp's 64x64 tile takes 4 ldmatrix for A,
//         4 for B and 32 mma, with the fragment layouts of the PTX ISA. The 8-element row pad
//         (80- or 272-byte pitch) puts the 8 rows of every ldmatrix in distinct banks.
// Split K (cuda/gemm_split.cu) for single problems with too few output tiles: each slice's blocks
// write fp32 tiles to a scratch that a second kernel sums in order.
// This is the gemm kernel of every sm_80+ card; Hopper runs cuda/gemm_wgmma.cu when the kernel
// choice says wgmma.
#include <cuda_bf16.h>
#include <mma.h>

#include "gemm_common.cuh"
#include "gemm_tc.cuh"
#include "mma_sync.cuh"
#include "runtime.cuh"
#include "scratch.cuh"
#include "storage.cuh"

namespace convmae {

namespace {
using namespace nvcuda;
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
// The tilings. Defaults: wmma 128x128 with 64x32 warp tiles (Cfg0, the best of run 5's sweep on
// an H100 within ~10%); mma 128x256 with 64x64 warp tiles (Cfg2). For mma.sync the shared-memory
// traffic is the bound to beat: at ~0.5 m16n8k16 per clock per SM (H100 and A100) and 128 bytes
// of shared memory per clock, a 64x32 warp tile's 6 ldmatrix.x4 per 16 mma (plus the cp.async
// fills) take as many clocks as its tensor work, a 64x64 tile's 8 per 32 about 70% of them.
// A sweep build (CONVMAE_GEMM_SWEEP=1) picks the others with CONVMAE_GEMM_TILE=1..3: 1 is Cfg1,
// 2 the other main loop's default, 3 is Cfg3.
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

// The warp-level main loops. Each holds one warp's WTM x WTN fp32 accumulators (FM x FN 16x16
// fragments) and has: step(ta, tb, kk, r0, c0, lane), the products of one k16 step at column kk of
// the staged tiles (ld LDA / LDB elements), the warp tile at rows r0.. and columns c0..; and
// stage(i, j, st, lane), fragment (i, j) into a warp's fp32 staging tile of 16 rows of kStageLd
// floats in row-major order.
template <int FM, int FN, bool a_kc, bool b_kc, int LDA, int LDB>
struct WmmaWarpTile {
  using LayoutA = typename std::conditional<a_kc, wmma::row_major, wmma::col_major>::type;
  using LayoutB = typename std::conditional<b_kc, wmma::col_major, wmma::row_major>::type;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];

  __device__ void zero() {
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.f);
  }
  __device__ void step(const bf16* ta, const bf16* tb, int kk, int r0, int c0, int) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, LayoutA> fa[FM];
    wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, LayoutB> fb[FN];
#pragma unroll
    for (int i = 0; i < FM; ++i) {
      const int r = r0 + i * 16;
      wmma::load_matrix_sync(fa[i], a_kc ? ta + r * LDA + kk : ta + kk * LDA + r, LDA);
    }
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      const int c = c0 + j * 16;
      wmma::load_matrix_sync(fb[j], b_kc ? tb + c * LDB + kk : tb + kk * LDB + c, LDB);
    }
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
  }
  __device__ void stage(int i, int j, float* st, int) const {
    wmma::store_matrix_sync(st, acc[i][j], kStageLd, wmma::mem_row_major);
  }
};

template <int FM, int FN, bool a_kc, bool b_kc, int LDA, int LDB>
struct MmaWarpTile {
  float acc[FM][2 * FN][4];  // m16 tile i, n8 tile j: rows g and g + 8, columns 2t and 2t + 1

  __device__ void zero() {
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < 2 * FN; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;
  }
  // ldmatrix lane l points at row l % 8 of 8x8 matrix l / 8. A fragment: matrices (m 0-7, k 0-7),
  // (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15, k 8-15); B, two n8 tiles: (n 0-7, k 0-7),
  // (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15). A tile stored with K along its rows
  // ([k][m] or [k][n]) is read with .trans.
  __device__ void step(const bf16* ta, const bf16* tb, int kk, int r0, int c0, int lane) {
    const int q = lane / 8, row = lane % 8;
    uint32_t a[FM][4];
#pragma unroll
    for (int i = 0; i < FM; ++i) {
      const int m = r0 + 16 * i;
      if constexpr (a_kc) ldsm_x4(a[i], ta + (m + lane % 16) * LDA + kk + 8 * (lane / 16));
      else ldsm_x4_trans(a[i], ta + (kk + row + 8 * (q / 2)) * LDA + m + 8 * (q % 2));
    }
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      const int n = c0 + 16 * j;
      uint32_t b[4];
      if constexpr (b_kc) ldsm_x4(b, tb + (n + row + 8 * (q / 2)) * LDB + kk + 8 * (q % 2));
      else ldsm_x4_trans(b, tb + (kk + lane % 16) * LDB + n + 8 * (lane / 16));
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        mma(acc[i][2 * j], a[i], b[0], b[1]);
        mma(acc[i][2 * j + 1], a[i], b[2], b[3]);
      }
    }
  }
  // Lane (g, t) writes rows g and g + 8, columns 2t, 2t + 1 of both n8 halves as float2: with
  // 24-float rows each half-warp's stores cover the 32 banks once.
  __device__ void stage(int i, int j, float* st, int lane) const {
    const int g = lane / 4, t = lane % 4;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float(&c)[4] = acc[i][2 * j + h];
      *reinterpret_cast<float2*>(st + g * kStageLd + 8 * h + 2 * t) = make_float2(c[0], c[1]);
      *reinterpret_cast<float2*>(st + (g + 8) * kStageLd + 8 * h + 2 * t) = make_float2(c[2], c[3]);
    }
  }
};

template <typename G, bool TA, bool TB, bool MMA>
struct WarpTileOf {
  static constexpr bool a_kc = !TA, b_kc = TB;  // whether K is the contiguous dimension of A / B
  static constexpr int LDA = Tile<a_kc, G::BM, G::BK>::ld, LDB = Tile<b_kc, G::BN, G::BK>::ld;
  using type = typename std::conditional<MMA, MmaWarpTile<G::FM, G::FN, a_kc, b_kc, LDA, LDB>,
                                         WmmaWarpTile<G::FM, G::FN, a_kc, b_kc, LDA, LDB>>::type;
};

template <typename G, bool TA, bool TB, bool MMA, bool SPLIT>
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

  int64_t k_begin = 0, k_end = d.k;
  if (SPLIT) {  // one problem; grid z is the K slice
    k_begin = int64_t(blockIdx.z) * k_chunk;
    k_end = min(d.k, k_begin + k_chunk);
  } else {
    const int64_t z = batch0 + blockIdx.z;
    A += z * d.sa;
    B += z * d.sb;
    C += z * d.sc;
    x = x.at(z * d.sc);
  }
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / G::WARPS_N, wn = warp % G::WARPS_N;  // warp tile: rows wm*WTM.., cols wn*WTN..

  typename WarpTileOf<G, TA, TB, MMA>::type tile;
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
  // kStageLd floats): lane l owns row l%16, columns (l/16)*8 .. +8 (epilogue_store8 writes them).
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
      epilogue_store8<SPLIT>(C, ws, bias, d, x, blockIdx.z, m0 + wm * WTM + i * 16 + er, n0 + wn * WTN + j * 16 + ec,
                      st + er * kStageLd + ec);
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

template <typename G, bool TA, bool TB, bool MMA, bool SPLIT>
void configure() {
  static bool configured = false;  // the opt-in above 48 KB, once per instantiation
  if (configured) return;
  cuda::allow_smem(gemm_tc_kernel<G, TA, TB, MMA, SPLIT>, smem_bytes<G>(!TA, TB), "gemm");
  configured = true;
}

template <typename G, bool TA, bool TB, bool MMA>
void launch_tc(const GemmParams& p) {
  constexpr size_t smem = smem_bytes<G>(!TA, TB);
  const TcDims d = tc_dims(p);
  const TcExtras x = tc_extras(p);
  const bf16* bias = p.bias ? p.bias->as<bf16>() : nullptr;
  auto launch_grid = [&](bool split, dim3 grid, const bf16* a, bf16* c, const TcDims& dd, const TcExtras& xx, float* ws,
                         int64_t k_chunk, int64_t b0) {
    auto kernel = split ? gemm_tc_kernel<G, TA, TB, MMA, true> : gemm_tc_kernel<G, TA, TB, MMA, false>;
    split ? configure<G, TA, TB, MMA, true>() : configure<G, TA, TB, MMA, false>();
    kernel<<<grid, G::THREADS, smem, cuda::stream()>>>(c, a, p.b->as<bf16>(), bias, dd, xx, b0, ws, k_chunk);
  };
  run_tiles(p, d, x, bias, G::BM, G::BN, G::BK, G::MIN_BLOCKS, launch_grid);
}

template <typename G, bool MMA>
void launch_any(const GemmParams& p) {
  if (p.trans_a) return p.trans_b ? launch_tc<G, true, true, MMA>(p) : launch_tc<G, true, false, MMA>(p);
  return p.trans_b ? launch_tc<G, false, true, MMA>(p) : launch_tc<G, false, false, MMA>(p);
}

template <bool MMA>
void launch_tiling(const GemmParams& p) {
  using Default = typename std::conditional<MMA, Cfg2, Cfg0>::type;
#ifdef CONVMAE_GEMM_SWEEP
  using Other = typename std::conditional<MMA, Cfg0, Cfg2>::type;
  static const int tiling = sweep_tiling("CONVMAE_GEMM_TILE", 3);  // read once
  switch (tiling) {
    case 1: return launch_any<Cfg1, MMA>(p);
    case 2: return launch_any<Other, MMA>(p);
    case 3: return launch_any<Cfg3, MMA>(p);
    default: break;
  }
#endif
  launch_any<Default, MMA>(p);
}

}  // namespace

bool gemm_tensor_core_eligible(const GemmParams& p) {
  const int64_t a_contig = p.trans_a ? p.m : p.k, b_contig = p.trans_b ? p.k : p.n;
  const bool strides_ok = p.batch == 1 || (p.stride_a % 8 == 0 && p.stride_b % 8 == 0);
  return p.c->dtype == DType::BF16 && a_contig % 8 == 0 && b_contig % 8 == 0 && strides_ok && p.m > 0 && p.n > 0 &&
         p.k > 0 && (p.m + 127) / 128 <= 65535;
}

void cuda_gemm_tensor_core(const GemmParams& p, bool mma_sync) {
  if (mma_sync) launch_tiling<true>(p);
  else launch_tiling<false>(p);
}

}  // namespace convmae
