// What the TMA-fed gemm kernels (cuda/gemm_tma.cu: one tile per block; cuda/gemm_tma_persistent.cuh:
// persistent, ping-pong or cooperative) share: the operands' tensor maps, the grouped order in
// which tiles are taken, and the ring of K slices between the producer and the consumers (a
// `full` and an `empty` mbarrier a slot; step g uses slot g % STAGES in phase g / STAGES).
// Where G::CLUSTER > 1 (the persistent cooperative kernel in clusters), the blocks of a cluster
// take tiles of the same columns, and each loads its share of the B tile into every block of the
// cluster at once (TMA multicast): a slot is then refilled once the readers of every block have
// released it, so a consumer warp releases a slot in every block of its cluster.
#pragma once
#include <cstdint>

#include "tma.cuh"
#include "wgmma.cuh"

namespace convmae {

/** The two operands' tensor maps and which batch each block reads (0 for a shared operand). */
struct TmaMaps {
  CUtensorMap a, b;
  bool a_batched, b_batched;
};

/** Tile rows per raster group: consecutive tiles walk down 8 tile rows, then along the columns,
 *  so that the tiles of a wave share their A and B panels in L2. */
constexpr int TMA_GROUP_ROWS = 8;

/** Tile `linear` (of tiles_m x tiles_n, grouped as TMA_GROUP_ROWS says) → its tile row and column. */
__host__ __device__ inline void grouped_tile(int64_t linear, int tiles_m, int tiles_n, int* tile_m, int* tile_n) {
  const int64_t per_group = int64_t(TMA_GROUP_ROWS) * tiles_n;
  const int first_row = int(linear / per_group) * TMA_GROUP_ROWS;
  const int rows_here = tiles_m - first_row < TMA_GROUP_ROWS ? tiles_m - first_row : TMA_GROUP_ROWS;
  const int in_group = int(linear % per_group);
  *tile_m = first_row + in_group % rows_here;
  *tile_n = in_group / rows_here;
}

#ifdef CONVMAE_WGMMA_DEVICE
// Queues the copy of an operand tile (outer elements o0.., K k0..k0+63, batch z) into `slot`:
// K-contiguous, one box of OUTER rows of 64 K; else OUTER/64 boxes of 64 K rows of 64 outer.
template <bool kContig, int OUTER, int PANEL_BYTES>
__device__ inline void load_tile(unsigned char* slot, const CUtensorMap* map, int o0, int k0, int z, uint64_t* full) {
  if (kContig) {
    tma_load_3d(slot, map, k0, o0, z, full);
  } else {
#pragma unroll
    for (int p = 0; p < OUTER / 64; ++p) tma_load_3d(slot + p * PANEL_BYTES, map, o0 + 64 * p, k0, z, full);
  }
}

// The same in clusters of CLUSTER blocks: this block (rank `rank`) copies its share, the
// OUTER/CLUSTER outer elements o0 + rank·OUTER/CLUSTER.., into `slot` of every block of the
// cluster, completing on `full` of each (a K-contiguous map's box is then OUTER/CLUSTER rows).
template <bool kContig, int OUTER, int PANEL_BYTES, int CLUSTER>
__device__ inline void load_tile_multicast(unsigned char* slot, const CUtensorMap* map, int o0, int k0, int z, uint64_t* full,
                                           unsigned rank) {
  constexpr int SHARE = OUTER / CLUSTER;
  constexpr uint16_t every_block = uint16_t((1u << CLUSTER) - 1);
  static_assert(SHARE % 64 == 0, "a share is whole 64-wide panels");
  if (kContig) {
    tma_load_3d_multicast(slot + rank * SHARE * 128, map, k0, o0 + int(rank) * SHARE, z, full, every_block);
  } else {
#pragma unroll
    for (int p = 0; p < SHARE / 64; ++p) {
      const int panel = int(rank) * (SHARE / 64) + p;
      tma_load_3d_multicast(slot + panel * PANEL_BYTES, map, o0 + 64 * panel, k0, z, full, every_block);
    }
  }
}

/** Hands a ring slot back to its producer: arrives on `empty` (of every block of the cluster). */
template <int CLUSTER>
__device__ inline void release_slot(uint64_t* empty) {
  if constexpr (CLUSTER == 1) {
    mbar_arrive(empty);
  } else {
#pragma unroll
    for (unsigned r = 0; r < unsigned(CLUSTER); ++r) mbar_arrive_cluster(empty, r);
  }
}

/**
 * The producer's ring step g (slot g % STAGES): once the slot's previous K slice (step g - STAGES)
 * is consumed, arms its `full` barrier with the slot's bytes and queues the copies of K slice k0
 * of A's rows m0.. and B's rows n0.. (batches za and zb of the maps); in clusters, B's rows are
 * the cluster's, this block copying its share of them (rank `rank`) into every block.
 */
template <typename G, bool TA, bool TB>
__device__ inline void ring_fill(unsigned char* smem, uint64_t* full, uint64_t* empty, const TmaMaps& maps, int64_t g, int m0,
                                 int n0, int k0, int za, int zb, unsigned rank = 0) {
  const int s = int(g % G::STAGES);
  if (g >= G::STAGES) mbar_wait(&empty[s], unsigned(g / G::STAGES - 1) & 1u);
  mbar_arrive_expect_tx(&full[s], G::STAGE_BYTES);
  unsigned char* slot = smem + s * G::STAGE_BYTES;
  load_tile<!TA, G::BM, G::PANEL_BYTES>(slot, &maps.a, m0, k0, za, &full[s]);  // K-contiguous unless transposed
  if constexpr (G::CLUSTER == 1)
    load_tile<TB, G::BN, G::PANEL_BYTES>(slot + G::A_BYTES, &maps.b, n0, k0, zb, &full[s]);
  else
    load_tile_multicast<TB, G::BN, G::PANEL_BYTES, G::CLUSTER>(slot + G::A_BYTES, &maps.b, n0, k0, zb, &full[s], rank);
}

/**
 * A consumer warpgroup's ring step g: waits for slot g % STAGES to land (then arrives on `landed`
 * with one lane a warp, where given), queues one 64-deep K step into each of its H accumulator
 * blocks (block h: the tile's rows 64·(row_block + h)..), commits, and once the previous step's
 * wgmmas are done hands that step's slot back, one arrival a warp (none on a tile's first step;
 * in clusters, one on each block's `empty`).
 */
template <typename G, bool TA, bool TB, int H>
__device__ inline void ring_consume(const unsigned char* smem, uint64_t* full, uint64_t* empty, int64_t g, bool first,
                                    float (&acc)[H][G::BN / 2], int row_block, uint64_t* landed) {
  const int s = int(g % G::STAGES);
  const bool lane0 = threadIdx.x % 32 == 0;
  mbar_wait(&full[s], unsigned(g / G::STAGES) & 1u);
  if (landed && lane0) mbar_arrive(landed);
  const unsigned char* ta = smem + s * G::STAGE_BYTES;
  wgmma_fence();
#pragma unroll
  for (int h = 0; h < H; ++h) wgmma_fence_operands(acc[h]);
#pragma unroll
  for (int h = 0; h < H; ++h) wgmma_k64<G::BN, TA, TB, G::PANEL_BYTES>(acc[h], ta, ta + G::A_BYTES, row_block + h);
  wgmma_commit();
  wgmma_wait<1>();
#pragma unroll
  for (int h = 0; h < H; ++h) wgmma_fence_operands(acc[h]);
  if (!first && lane0) release_slot<G::CLUSTER>(&empty[(g - 1) % G::STAGES]);
}
#endif

}  // namespace convmae
