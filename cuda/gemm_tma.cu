// gemm on Hopper tensor cores with TMA loads and a producer warp (sm_90a), for bfloat16 storage
// (contract in native/ops/gemm.h; cuda_gemm takes it for the gemm family `tma` where
// cuda::wgmma_available, and it runs the wgmma kernel, cuda/gemm_wgmma.cu, for problems whose
// layout a tensor map cannot describe). Same arithmetic as the wgmma kernel: bf16 operands, fp32
// accumulation, then alpha, beta·C and the bias in fp32 and one rounding.
//
// Block: CONSUMERS warpgroups then one warp (288 threads for 2). The warpgroups are the consumers
// (a warpgroup starts at a warp rank that is a multiple of 4), each owning 64 rows x BN columns
// in registers (BM = 64·CONSUMERS); the last warp is the producer,
// whose first thread queues, per K tile of 64, the TMA copies (cuda/tma.cuh) of the A and B tiles
// into a STAGES-deep ring, each landing 128B-swizzled as wgmma reads it, whichever of the
// operand's dimensions is contiguous (K-contiguous: one box of rows x 64 K; M/N-contiguous: one
// 64 x 64 box per 64-wide panel), outside the tensor as zeros.
// Each ring slot has two mbarriers: `full` (the producer's arrival with the tile's byte count; the
// copies complete it) and `empty` (one arrival per consumer warp once its wgmmas of that tile are
// done: each warpgroup keeps one batch of wgmmas in flight, so tile kt's slot is released after
// tile kt+1's batch is queued). The producer waits on `empty` before refilling a slot, the
// consumers on `full` before reading one; no __syncthreads in the main loop.
// Epilogue, once every tile has landed and been consumed: the accumulators go through shared
// memory (fp32, over the ring) and every thread writes C with epilogue_store8, 16-byte row
// pieces. Blocks take their tiles in groups of 8 tile rows (the grid's x fastest within a group),
// so that a wave's tiles share A and B in L2 (gemm_tma_tiles.cuh). Split K and batches as the
// wgmma kernel (batches are the maps' third dimension). Tilings 4 to 7 are the persistent kernels
// of cuda/gemm_tma_persistent.cuh (4 and 5, the gemm family auto's default candidates, in every
// build; 1-3, 6 and 7 only in sweep builds): 4: ping-pong, a 128x128 tile per consumer
// warpgroup, epilogues overlapping the other warpgroup's products; 5: cooperative 128x256 tiles;
// 6: the same in clusters of two blocks down, each B tile loaded once for both by TMA multicast;
// 7: in clusters of 2 x 2 blocks, each A tile loaded once for its tile row and each B tile for its
// column.
#include <cuda_bf16.h>

#include <algorithm>

#include "cluster_launch.cuh"
#include "cuda_api.h"
#include "gemm_common.cuh"
#include "gemm_tma.cuh"
#include "gemm_tma_persistent.cuh"
#include "gemm_tma_tiles.cuh"
#include "gemm_wgmma.cuh"
#include "runtime.cuh"
#include "tma.cuh"
#include "wgmma.cuh"

namespace convmae {

namespace {
using bf16 = __nv_bfloat16;

template <int BN_, int STAGES_, int MIN_BLOCKS_, int CONSUMERS_ = 2>
struct TmaCfg {
  static constexpr int CONSUMERS = CONSUMERS_, BM = 64 * CONSUMERS, BN = BN_, BK = 64, STAGES = STAGES_;
  static constexpr int MIN_BLOCKS = MIN_BLOCKS_, TILES_PER_SM = MIN_BLOCKS, PRODUCER = 128 * CONSUMERS, THREADS = PRODUCER + 32;
  static constexpr bool PERSISTENT = false;
  static constexpr int CLUSTER_M = 1, CLUSTER_N = 1, CLUSTER = 1;
  static constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2, STAGE_BYTES = A_BYTES + B_BYTES;
  static constexpr int PANEL_BYTES = BK * 128;  // one 64-wide M/N panel of an MN-major tile
  static constexpr int OUT_LD = BN + 8;         // fp32 staging row, in floats
  static constexpr int PIPE_BYTES = STAGES * STAGE_BYTES, OUT_BYTES = BM * OUT_LD * 4;
  static constexpr int BAR_BYTES = 2 * STAGES * 8;
  static constexpr size_t SMEM = size_t(PIPE_BYTES) + BAR_BYTES + 1024;  // + alignment
  static_assert(BN == 128 || BN == 256, "wgmma tiles are 64x128 or 64x256 per warpgroup");
  static_assert(CONSUMERS == 2 || CONSUMERS == 4, "a box is at most 256 rows");
  static_assert(STAGES >= 2, "the ring keeps one slot on the tensor cores and one loading");
  static_assert(OUT_BYTES <= PIPE_BYTES, "the epilogue stages the tile over the ring");
  static_assert(STAGE_BYTES % 1024 == 0 && A_BYTES % 1024 == 0 && PANEL_BYTES % 1024 == 0, "tiles start on swizzle atoms");
};
// The default runs two blocks per SM (3 slots of 32 KB each), so that one block's pipeline fill
// and epilogue overlap the other's products (the wgmma kernel's reasoning, cuda/gemm_wgmma.cu);
// the sweep's tiling 1 is 128x256 tiles, one block per SM (L2 reads per FLOP down by a quarter),
// and 3 the same reads per FLOP as 256x128 tiles over four consumer warpgroups (half the
// accumulators per thread, twice the warps to hide latency); 4 is the persistent ping-pong
// kernel with 4 slots, its split rows on TmaCfg0; 5 the persistent cooperative one, 128x256
// tiles in 3 slots, its split rows on TmaCfg1; 6 that one in clusters of 2 (a cluster's two
// tiles share their B tile: per K slice a block reads 16 KB of A and 16 KB of B from L2 for
// 2·128·256·64 FLOP, 128 FLOP/B against 85 at 5; session 11's L2 ceiling hypothesis), 7 in
// clusters of 2 x 2 (8 KB of A and 16 KB of B: 171 FLOP/B).
using TmaCfg0 = TmaCfg<128, 3, 2>;
using TmaCfg1 = TmaCfg<256, 4, 1>;
using TmaCfg2 = TmaCfg<128, 6, 1>;
using TmaCfg3 = TmaCfg<128, 4, 1, 4>;

template <typename G, bool TA, bool TB, bool SPLIT>
__global__ void __launch_bounds__(G::THREADS, G::MIN_BLOCKS)
    gemm_tma_kernel(bf16* C, const __grid_constant__ TmaMaps maps, const bf16* bias, TcDims d, TcExtras x, int64_t batch0,
                    float* ws, int64_t k_chunk) {
#ifdef CONVMAE_WGMMA_DEVICE
  constexpr int BM = G::BM, BN = G::BN, BK = G::BK, STAGES = G::STAGES, THREADS = G::THREADS;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = smem_aligned_1024(smem_raw);
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + G::PIPE_BYTES);
  uint64_t* empty = full + STAGES;

  int64_t k_begin, k_end;
  const bf16 *a_offset = nullptr, *b_offset = nullptr;  // unused: the maps address A and B, batch z their third coordinate
  block_problem<SPLIT>(d, batch0, k_chunk, a_offset, b_offset, C, x, k_begin, k_end);
  const int z = SPLIT ? 0 : int(batch0 + blockIdx.z);

  int tile_m, tile_n;
  grouped_tile(int64_t(blockIdx.y) * gridDim.x + blockIdx.x, int(gridDim.y), int(gridDim.x), &tile_m, &tile_n);
  const int m0 = tile_m * BM, n0 = tile_n * BN;

  const int wg = threadIdx.x / 128;  // < CONSUMERS: a consumer (rows m0 + 64·wg ..); CONSUMERS: the producer warp
  if (threadIdx.x == G::PRODUCER) {
    for (int s = 0; s < STAGES; ++s) {
      mbar_init(&full[s], 1);
      mbar_init(&empty[s], 4 * G::CONSUMERS);  // one arrival per consumer warp
    }
    fence_mbarrier_init();
  }
  __syncthreads();

  const int ktiles = int((k_end - k_begin + BK - 1) / BK);
  float acc[1][BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; ++i) acc[0][i] = 0.f;

  if (wg == G::CONSUMERS) {
    if (threadIdx.x == G::PRODUCER) {
      const int za = maps.a_batched ? z : 0, zb = maps.b_batched ? z : 0;
      for (int kt = 0; kt < ktiles; ++kt) ring_fill<G, TA, TB>(smem, full, empty, maps, kt, m0, n0, int(k_begin) + kt * BK, za, zb);
    }
  } else {
    for (int kt = 0; kt < ktiles; ++kt) ring_consume<G, TA, TB>(smem, full, empty, kt, kt == 0, acc, wg, nullptr);
    wgmma_wait<0>();
    wgmma_fence_operands(acc[0]);
  }
  __syncthreads();  // every tile landed and consumed: the ring is free for the fp32 tile

  float* out = reinterpret_cast<float*>(smem);
  if (wg < G::CONSUMERS) wgmma_stage<BN>(out, G::OUT_LD, acc[0], wg);
  __syncthreads();
  store_staged_tile<SPLIT, BM, BN, THREADS>(C, ws, bias, d, x, m0, n0, out, G::OUT_LD);
#endif
}

// The map of one operand: `outer` rows (M or N) by K, `contig_k` when K is the contiguous
// dimension, leading dimension ld, batch stride (0: one matrix for every batch) over `batches`.
std::string operand_map(CUtensorMap* map, const bf16* base, bool contig_k, int64_t outer, int64_t k, int64_t ld, int64_t stride,
                        int64_t batches, int box_outer) {
  const uint64_t inner = uint64_t(contig_k ? k : outer), rows = uint64_t(contig_k ? outer : k);
  const uint64_t nb = stride == 0 ? 1 : uint64_t(batches);
  const uint64_t dims[3] = {inner, rows, nb};
  const uint64_t strides[2] = {uint64_t(ld) * 2, stride == 0 ? uint64_t(ld) * 2 * rows : uint64_t(stride) * 2};
  const uint32_t box[3] = {64, uint32_t(contig_k ? box_outer : 64), 1};
  return encode_bf16_tile_map(map, base, dims, strides, box);
}

// The maps of a problem's operands (dims dd, A at `a`; batches on the maps' third dimension unless
// `split`) for boxes of bm rows of A and bn rows of B by 64 K (where K is contiguous; else boxes of
// 64 x 64); "" or why one cannot be made.
std::string make_tma_maps(TmaMaps* maps, const GemmParams& p, bool split, const bf16* a, const TcDims& dd, int bm, int bn) {
  const int64_t batches = split ? 1 : p.batch;
  maps->a_batched = !split && p.batch > 1 && dd.sa != 0;
  maps->b_batched = !split && p.batch > 1 && dd.sb != 0;
  std::string why = operand_map(&maps->a, a, !p.trans_a, dd.m, dd.k, dd.lda, maps->a_batched ? dd.sa : 0, batches, bm);
  if (why.empty()) why = operand_map(&maps->b, p.b->as<bf16>(), p.trans_b, dd.n, dd.k, dd.ldb, maps->b_batched ? dd.sb : 0, batches, bn);
  return why;
}

// Whether tensor maps can describe p's operands (gemm_tensor_core_eligible holds: rows and batch
// strides are 16-byte multiples): 16-byte aligned bases, and batches that do not overlap (a
// map's batch stride spans its matrix). Boxes may run past the tensor: the copies zero-fill.
bool maps_possible(const GemmParams& p) {
  const TcDims d = tc_dims(p);
  auto aligned = [](const void* q) { return reinterpret_cast<uintptr_t>(q) % 16 == 0; };
  auto apart = [&](int64_t stride, int64_t rows, int64_t ld) { return p.batch == 1 || stride == 0 || stride >= rows * ld; };
  return aligned(p.a->as<bf16>()) && aligned(p.b->as<bf16>()) && apart(d.sa, p.trans_a ? p.k : p.m, d.lda) &&
         apart(d.sb, p.trans_b ? p.n : p.k, d.ldb);
}

// Runs p on G's tiles: each unsplit grid on G's kernel (the one-tile kernel, or where
// G::PERSISTENT the persistent kernel of cuda/gemm_tma_persistent.cuh, at most one block per SM,
// as many clusters as the card holds at once where G::CLUSTER > 1), split K rows on the one-tile
// kernel of S (G itself unless G is persistent; the same tile size).
template <typename G, typename S, bool TA, bool TB>
void launch(const GemmParams& p) {
  static_assert(G::BM == S::BM && G::BN == S::BN && !S::PERSISTENT, "run_tiles plans one tile size for both kernels");
  static_assert(G::TILES_PER_SM == S::TILES_PER_SM, "and the split rows' waves with G's tiles in flight per SM");
  static_assert(S::CLUSTER_M == 1 && S::CLUSTER_N == 1 && S::CLUSTER == 1, "the one-tile kernel runs without clusters");
  const TcDims d = tc_dims(p);
  const TcExtras x = tc_extras(p);
  const bf16* bias = p.bias ? p.bias->as<bf16>() : nullptr;
  auto launch_grid = [&](bool split, dim3 grid, const bf16* a, bf16* c, const TcDims& dd, const TcExtras& xx, float* ws,
                         int64_t k_chunk, int64_t b0) {
    TmaMaps maps{};
    const bool persistent = G::PERSISTENT && !split;
    // in clusters, a block loads its share of A (of the CLUSTER_N blocks of its tile row) and of B
    const int a_box = persistent ? G::BM / G::CLUSTER_N : S::BM, b_box = persistent ? G::BN / G::CLUSTER_M : S::BN;
    const std::string why = make_tma_maps(&maps, p, split, a, dd, a_box, b_box);
    if (!why.empty()) throw_error("gemm", "tma: cannot describe an operand to the TMA unit: " + why);
    if constexpr (G::PERSISTENT) {
      if (!split) {
        allow_smem_once<gemm_tma_persistent_kernel<G, TA, TB>>(G::SMEM);
        if constexpr (G::CLUSTER > 1) {
          auto kernel = gemm_tma_persistent_kernel<G, TA, TB>;
          const int64_t groups_m = (int64_t(grid.y) + G::CLUSTER_M - 1) / G::CLUSTER_M;
          const int64_t groups = groups_m * ((grid.x + G::CLUSTER_N - 1) / G::CLUSTER_N) * grid.z;
          static const int resident = cuda::resident_clusters(kernel, G::CLUSTER, G::THREADS, G::SMEM, "gemm");
          const unsigned blocks = unsigned(std::min<int64_t>(groups, resident) * G::CLUSTER);
          cuda::launch_in_clusters(kernel, G::CLUSTER, dim3(blocks), G::THREADS, G::SMEM, "gemm", c, maps, bias, dd, xx, b0,
                                   int(grid.y), int(grid.x), int(grid.z));
        } else {
          const int64_t tiles = int64_t(grid.x) * grid.y * grid.z;
          const unsigned blocks = unsigned(std::min<int64_t>(tiles, cuda::sm_count()));
          gemm_tma_persistent_kernel<G, TA, TB><<<blocks, G::THREADS, G::SMEM, cuda::stream()>>>(
              c, maps, bias, dd, xx, b0, int(grid.y), int(grid.x), int(grid.z));
        }
        return;
      }
    }
    auto kernel = split ? gemm_tma_kernel<S, TA, TB, true> : gemm_tma_kernel<S, TA, TB, false>;
    split ? allow_smem_once<gemm_tma_kernel<S, TA, TB, true>>(S::SMEM) : allow_smem_once<gemm_tma_kernel<S, TA, TB, false>>(S::SMEM);
    kernel<<<grid, S::THREADS, S::SMEM, cuda::stream()>>>(c, maps, bias, dd, xx, b0, ws, k_chunk);
  };
  run_tiles(p, d, x, bias, G::BM, G::BN, G::BK, G::TILES_PER_SM, launch_grid);
}

template <typename G, typename S = G>
void launch_any(const GemmParams& p) {
  if (!maps_possible(p)) return cuda_gemm_wgmma(p);
  with_transposes(p, [&](auto ta, auto tb) { launch<G, S, decltype(ta)::value, decltype(tb)::value>(p); });
}
}  // namespace

// Tilings 4 and 5 are in every build (gemm `auto`'s default candidates); 1-3, 6 and 7 only in sweep
// builds (6 and 7 lost to 5 on every form in run 8, bench/RESULTS.md).
constexpr int kLastTmaTiling = 7;

bool cuda_gemm_tma_has_tiling(int tiling) {
  return tiling == 4 || tiling == 5 || tiling_in_build(tiling, kLastTmaTiling);
}

void cuda_gemm_tma(const GemmParams& p, int tiling) {
#ifdef CONVMAE_GEMM_SWEEP
  if (tiling < 0) tiling = sweep_tiling("CONVMAE_TMA_TILE", kLastTmaTiling);  // read per call: bench/gemm_sweep.ts switches it
  switch (tiling) {
    case 1: return launch_any<TmaCfg1>(p);
    case 2: return launch_any<TmaCfg2>(p);
    case 3: return launch_any<TmaCfg3>(p);
    case 6: return launch_any<TmaPersistentCfg<256, 3, false, 2>, TmaCfg1>(p);
    case 7: return launch_any<TmaPersistentCfg<256, 3, false, 2, 2>, TmaCfg1>(p);
    default: break;
  }
#endif
  switch (tiling) {  // 4 and 5 are in every build: the gemm family `auto` picks them by default
    case 4: return launch_any<TmaPersistentCfg<128, 4, true>, TmaCfg0>(p);
    case 5: return launch_any<TmaPersistentCfg<256, 3, false>, TmaCfg1>(p);
    default: return launch_any<TmaCfg0>(p);
  }
}

}  // namespace convmae
