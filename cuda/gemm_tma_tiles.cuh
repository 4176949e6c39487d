// What the TMA-fed gemm kernels (cuda/gemm_tma.cu: one tile per block; cuda/gemm_tma_persistent.cuh:
// persistent, ping-pong or cooperative) share: the operands' tensor maps, the grouped order in
// which tiles are taken, and the ring of K slices between the producer and the consumers (a
// `full` and an `empty` mbarrier a slot; step g uses slot g % STAGES in phase g / STAGES).
// Where G::CLUSTER > 1 (the persistent cooperative kernel in clusters of CLUSTER_M x CLUSTER_N
// tiles; block rank r has the tile rm = r % CLUSTER_M down, rn = r / CLUSTER_M across), the
// blocks of a tile column share its B tile and those of a tile row its A tile: each block loads
// its share of each into every block that reads it at once (TMA multicast). A slot is then
// refilled once the readers of every block have released it, so a consumer warp releases a slot
// in every block of its cluster.
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

// The same split in SHARES: this block copies share `share`, the OUTER/SHARES outer elements
// o0 + share·OUTER/SHARES.., into `slot` of every block of `readers` (bit r: rank r), completing on
// `full` of each (a K-contiguous map's box is then OUTER/SHARES rows).
template <bool kContig, int OUTER, int PANEL_BYTES, int SHARES>
__device__ inline void load_tile_multicast(unsigned char* slot, const CUtensorMap* map, int o0, int k0, int z, uint64_t* full,
                                           int share, uint16_t readers) {
  constexpr int SHARE = OUTER / SHARES;
  static_assert(SHARE % 64 == 0, "a share is whole 64-wide panels");
  if (kContig) {
    tma_load_3d_multicast(slot + share * SHARE * 128, map, k0, o0 + share * SHARE, z, full, readers);
  } else {
#pragma unroll
    for (int p = 0; p < SHARE / 64; ++p) {
      const int panel = share * (SHARE / 64) + p;
      tma_load_3d_multicast(slot + panel * PANEL_BYTES, map, o0 + 64 * panel, k0, z, full, readers);
    }
  }
}

// An operand tile (outer elements o0.., K slice k0) into `slot`: the block's own copy where no
// other block reads it (SHARES 1), else its share, multicast to the `readers`.
template <bool kContig, int OUTER, int PANEL_BYTES, int SHARES>
__device__ inline void load_operand(unsigned char* slot, const CUtensorMap* map, int o0, int k0, int z, uint64_t* full, int share,
                                    uint16_t readers) {
  if constexpr (SHARES == 1) load_tile<kContig, OUTER, PANEL_BYTES>(slot, map, o0, k0, z, full);
  else load_tile_multicast<kContig, OUTER, PANEL_BYTES, SHARES>(slot, map, o0, k0, z, full, share, readers);
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
 * of A's rows m0.. and B's rows n0.. (batches za and zb of the maps); in clusters, this block
 * (rank `rank`) copies its share of each into the blocks of its tile row (A) and column (B).
 */
template <typename G, bool TA, bool TB>
__device__ inline void ring_fill(unsigned char* smem, uint64_t* full, uint64_t* empty, const TmaMaps& maps, int64_t g, int m0,
                                 int n0, int k0, int za, int zb, unsigned rank = 0) {
  constexpr int CM = G::CLUSTER_M, CN = G::CLUSTER_N;
  const int rm = int(rank) % CM, rn = int(rank) / CM;
  uint16_t row_blocks = 0;  // the blocks of this tile row: ranks rm + CM·j
#pragma unroll
  for (int j = 0; j < CN; ++j) row_blocks |= uint16_t(1u << (rm + CM * j));
  const uint16_t column_blocks = uint16_t(((1u << CM) - 1) << (CM * rn));  // of this tile column: CM·rn + i
  const int s = int(g % G::STAGES);
  if (g >= G::STAGES) mbar_wait(&empty[s], unsigned(g / G::STAGES - 1) & 1u);
  mbar_arrive_expect_tx(&full[s], G::STAGE_BYTES);
  unsigned char* slot = smem + s * G::STAGE_BYTES;
  // A is K-contiguous unless transposed
  load_operand<!TA, G::BM, G::PANEL_BYTES, CN>(slot, &maps.a, m0, k0, za, &full[s], rn, row_blocks);
  load_operand<TB, G::BN, G::PANEL_BYTES, CM>(slot + G::A_BYTES, &maps.b, n0, k0, zb, &full[s], rm, column_blocks);
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
