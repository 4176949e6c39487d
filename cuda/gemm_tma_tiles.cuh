// What the TMA-fed gemm kernels (cuda/gemm_tma.cu: one tile per block; cuda/gemm_tma_persistent.cuh:
// persistent, ping-pong or cooperative) share: the operands' tensor maps, the producer's copy
// of one operand's K slice into a ring slot, and the grouped order in which tiles are taken.
#pragma once
#include <cstdint>

#include "tma.cuh"

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

/** The block's dynamic shared memory from its first 1024-byte boundary (swizzle atoms need it). */
__device__ inline unsigned char* smem_aligned_1024(unsigned char* raw) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(raw));
  return raw + ((1024 - (addr & 1023)) & 1023);
}
#endif

}  // namespace convmae
