// Persistent gemm kernels on Hopper tensor cores with TMA loads (sm_90a), included by
// cuda/gemm_tma.cu, whose contract they keep (native/ops/gemm.h; same arithmetic as the wgmma
// kernel: bf16 operands, fp32 accumulation, alpha, beta·C, the bias and the extras in fp32, one
// rounding). Unsplit problems only (split K runs the one-tile-per-block kernel).
//
// One block per SM, 288 threads: two consumer warpgroups and a producer warp. The grid's blocks
// take tiles blockIdx.x, + gridDim.x, ... (each problem's tiles in the grouped order of
// gemm_tma_tiles.cuh, batches after one another). The producer's first thread queues every tile's
// K slices, in the block's tile order, into one STAGES-deep ring (`full`/`empty` mbarriers as in
// the one-tile kernel, one `empty` arrival per warp that read the slot), running on into the next
// tile while the consumers finish this one. Two schedules:
//   ping-pong (PINGPONG, 128 x 128 tiles): a block's tiles alternate between its warpgroups, each
//     computing a whole tile (two m64n128 halves, 128 accumulators a thread). Their main loops
//     alternate: `order[w]` lets warpgroup w start its next tile once the other has passed its
//     last `full` wait, so each waits only on slots whose previous phase has completed (a parity
//     wait two phases ahead would pass at once), and while one multiplies, the other runs its
//     epilogue: the tensor cores never wait for an epilogue.
//   cooperative (128 x 256 tiles): both warpgroups on every tile, warpgroup w its rows 64·w..
//     (m64n256, 128 accumulators a thread); the epilogue is not overlapped with products, only
//     with the next tile's loads, and each slot's K slice feeds twice the FLOPs of a 128 x 128
//     tile's (a quarter less L2 traffic per FLOP).
//   cooperative in clusters of CLUSTER_M x CLUSTER_N tiles (launched by cuda/cluster_launch.cuh as
//     clusters of CLUSTER_M·CLUSTER_N blocks along x): block rank r takes the tile r % CLUSTER_M
//     down and r / CLUSTER_M across of the cluster's group of tiles (past the last tile row or
//     column a block computes zeros and stores nothing), and loads only its share of the A tile
//     its tile row shares and of the B tile its column shares, multicast into the slots of the
//     blocks that read it (gemm_tma_tiles.cuh): per K slice 32 KB of L2 reads a block at 2 x 1,
//     24 KB at 2 x 2, against 48 KB alone. The blocks of a cluster walk the same ring steps; a
//     cluster barrier after the barriers' init and before the end keeps every block's shared
//     memory alive while the others' copies and arrivals can reach it.
// Epilogue without block barriers: in the m64nN accumulator layout each warp holds 16 whole rows
// of each m64 block, so it stages them alone, 16 x 64 fp32 at a time in its own shared memory, and
// writes them with epilogue_store8 (each row piece of 64 columns in whole 128-byte lines).
#pragma once
#include <cuda_bf16.h>

#include "gemm_common.cuh"
#include "gemm_tma_tiles.cuh"
#include "tma.cuh"
#include "wgmma.cuh"

namespace convmae {

template <int BN_, int STAGES_, bool PINGPONG_, int CLUSTER_M_ = 1, int CLUSTER_N_ = 1>
struct TmaPersistentCfg {
  static constexpr int BM = 128, BN = BN_, BK = 64, STAGES = STAGES_, MIN_BLOCKS = 1;
  static constexpr int CLUSTER_M = CLUSTER_M_, CLUSTER_N = CLUSTER_N_, CLUSTER = CLUSTER_M * CLUSTER_N;
  static constexpr bool PERSISTENT = true, PINGPONG = PINGPONG_;
  static constexpr int HALVES = PINGPONG ? 2 : 1;         // m64 row blocks a warpgroup computes
  static constexpr int TILES_PER_SM = PINGPONG ? 2 : 1;   // in flight at once
  static constexpr int READERS = PINGPONG ? 4 : 8;        // warps that read each ring slot
  static constexpr int PRODUCER = 256, THREADS = PRODUCER + 32;
  static constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2, STAGE_BYTES = A_BYTES + B_BYTES;
  static constexpr int PANEL_BYTES = BK * 128;             // one 64-wide M/N panel of an MN-major tile
  static constexpr int CHUNK_LD = 64 + 8;                  // a warp's staging row (64 columns), in floats
  static constexpr int WARP_STAGING = 16 * CHUNK_LD;       // floats
  static constexpr int PIPE_BYTES = STAGES * STAGE_BYTES, STAGING_BYTES = 8 * WARP_STAGING * 4;
  static constexpr int BAR_BYTES = (2 * STAGES + 2) * 8;
  static constexpr size_t SMEM = size_t(PIPE_BYTES) + STAGING_BYTES + BAR_BYTES + 1024;  // + alignment
  static_assert(BN == (PINGPONG ? 128 : 256), "128 accumulators a thread: 2 x m64n128 or 1 x m64n256");
  static_assert(STAGES >= 2, "the ring keeps one slot on the tensor cores and one loading");
  static_assert(STAGE_BYTES % 1024 == 0 && A_BYTES % 1024 == 0 && PANEL_BYTES % 1024 == 0, "tiles start on swizzle atoms");
  static_assert(SMEM <= 227 * 1024, "one block per SM");
  static_assert(CLUSTER == 1 || !PINGPONG, "clusters of the cooperative kernel");
  static_assert(BM % (64 * CLUSTER_N) == 0 && BN % (64 * CLUSTER_M) == 0 && CLUSTER <= 8, "shares of whole 64-wide panels");
};

#ifdef CONVMAE_WGMMA_DEVICE
/** Group t of `batches` problems of groups_m x groups_n groups of CM x CN BM x BN tiles → the
 *  batch (after batch0) and first row and column of block `rank`'s BM x BN tile. */
template <int BM, int BN, int CM, int CN>
__device__ inline void persistent_tile(int64_t t, int groups_m, int groups_n, unsigned rank, int* z, int* m0, int* n0) {
  const int64_t per_batch = int64_t(groups_m) * groups_n;
  int gm, gn;
  grouped_tile(t % per_batch, groups_m, groups_n, &gm, &gn);
  *z = int(t / per_batch);
  *m0 = (gm * CM + int(rank) % CM) * BM;
  *n0 = (gn * CN + int(rank) / CM) * BN;
}
#endif

template <typename G, bool TA, bool TB>
__global__ void __launch_bounds__(G::THREADS, 1)
    gemm_tma_persistent_kernel(__nv_bfloat16* C, const __grid_constant__ TmaMaps maps, const __nv_bfloat16* bias, TcDims d,
                               TcExtras x, int64_t batch0, int tiles_m, int tiles_n, int batches) {
#ifdef CONVMAE_WGMMA_DEVICE
  constexpr int BM = G::BM, BN = G::BN, BK = G::BK, STAGES = G::STAGES, HALVES = G::HALVES;
  constexpr int CM = G::CLUSTER_M, CN = G::CLUSTER_N, CLUSTER = G::CLUSTER;
  constexpr bool PINGPONG = G::PINGPONG;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = smem_aligned_1024(smem_raw);
  float* staging = reinterpret_cast<float*>(smem + G::PIPE_BYTES);
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + G::PIPE_BYTES + G::STAGING_BYTES);
  uint64_t* empty = full + STAGES;
  uint64_t* order = empty + STAGES;  // ping-pong: order[w], warpgroup w may start its next tile's main loop

  if (threadIdx.x == G::PRODUCER) {
    for (int s = 0; s < STAGES; ++s) {
      mbar_init(&full[s], 1);
      mbar_init(&empty[s], G::READERS * CLUSTER);
    }
    mbar_init(&order[0], 4);
    mbar_init(&order[1], 4);
    fence_mbarrier_init();
  }
  if constexpr (CLUSTER > 1) cluster_sync();  // every block's barriers exist before any copy or arrival reaches them
  else __syncthreads();

  // The cluster's tiles: (cluster c of `clusters`) c, c + clusters, ... of the groups of CM x CN tiles.
  const unsigned rank = CLUSTER > 1 ? cluster_rank() % CLUSTER : 0u;  // (the modulo: the compiler learns rank < CLUSTER)
  const int groups_m = (tiles_m + CM - 1) / CM, groups_n = (tiles_n + CN - 1) / CN;
  const int64_t total = int64_t(groups_m) * groups_n * batches;
  const int64_t cluster_id = blockIdx.x / CLUSTER, clusters = gridDim.x / CLUSTER;
  const int ktiles = int((d.k + BK - 1) / BK);
  const int wg = threadIdx.x / 128;  // 0, 1: consumers; 2: the producer warp

  if (wg == 2) {
    if (threadIdx.x == G::PRODUCER) {
      int64_t g = 0;  // ring step: the block's K slices in order, over its tiles
      for (int64_t t = cluster_id; t < total; t += clusters) {
        int z, m0, n0;
        persistent_tile<BM, BN, CM, CN>(t, groups_m, groups_n, rank, &z, &m0, &n0);
        const int za = maps.a_batched ? int(batch0) + z : 0, zb = maps.b_batched ? int(batch0) + z : 0;
        for (int kt = 0; kt < ktiles; ++kt, ++g) ring_fill<G, TA, TB>(smem, full, empty, maps, g, m0, n0, kt * BK, za, zb, rank);
      }
    }
    if constexpr (CLUSTER > 1) cluster_sync();
    return;
  }

  const int lane = threadIdx.x % 32, warp_in_wg = (threadIdx.x / 32) % 4;
  float* mine = staging + (threadIdx.x / 32) * G::WARP_STAGING;
  unsigned order_phase = 0;
  // This warpgroup's tiles, as the block's local tile index i: ping-pong wg, wg + 2, ...; else all.
  const int64_t first = PINGPONG ? wg : 0, step = PINGPONG ? 2 : 1;
  for (int64_t i = first, t = cluster_id + first * clusters; t < total; i += step, t += step * clusters) {
    int z, m0, n0;
    persistent_tile<BM, BN, CM, CN>(t, groups_m, groups_n, rank, &z, &m0, &n0);
    if (PINGPONG && i > 0) {
      mbar_wait(&order[wg], order_phase);
      order_phase ^= 1u;
    }
    float acc[HALVES][BN / 2];  // ping-pong: rows m0 .. +63 and m0+64 .. +127; else rows m0 + 64·wg ..
#pragma unroll
    for (int h = 0; h < HALVES; ++h)
#pragma unroll
      for (int e = 0; e < BN / 2; ++e) acc[h][e] = 0.f;
    // The last K step apart: in ping-pong, once its slot has landed (every slot of this tile has),
    // the other warpgroup may start its next tile (kept out of the loop: a runtime choice of
    // barrier there cost the kernel 16 bytes of spills).
    const int64_t g = i * ktiles;
    for (int kt = 0; kt + 1 < ktiles; ++kt) ring_consume<G, TA, TB>(smem, full, empty, g + kt, kt == 0, acc, PINGPONG ? 0 : wg, nullptr);
    if (ktiles > 0)
      ring_consume<G, TA, TB>(smem, full, empty, g + ktiles - 1, ktiles == 1, acc, PINGPONG ? 0 : wg, PINGPONG ? &order[1 - wg] : nullptr);
    else if (PINGPONG && lane == 0)
      mbar_arrive(&order[1 - wg]);
    wgmma_wait<0>();
#pragma unroll
    for (int h = 0; h < HALVES; ++h) wgmma_fence_operands(acc[h]);
    if (ktiles > 0 && lane == 0) release_slot<CLUSTER>(&empty[(g + ktiles - 1) % STAGES]);  // the tile's last slot

    __nv_bfloat16* Cz = C + (batch0 + z) * d.sc;
    const TcExtras xz = x.at((batch0 + z) * d.sc);
#pragma unroll
    for (int h = 0; h < HALVES; ++h) {
      const int row0 = m0 + 64 * (PINGPONG ? h : wg) + 16 * warp_in_wg;
#pragma unroll
      for (int c = 0; c < BN / 64; ++c) {
        __syncwarp();  // the previous chunk is read
        wgmma_stage_rows16<BN>(mine, G::CHUNK_LD, acc[h], c);
        __syncwarp();
        for (int v = lane; v < 16 * 8; v += 32) {
          const int r = v / 8, col = (v % 8) * 8;
          epilogue_store8(Cz, bias, d, xz, row0 + r, n0 + 64 * c + col, mine + r * G::CHUNK_LD + col);
        }
      }
    }
  }
  if constexpr (CLUSTER > 1) cluster_sync();  // the other blocks' last arrivals on this block's barriers are in
#endif
}

}  // namespace convmae
