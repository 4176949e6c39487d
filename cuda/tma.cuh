// Hopper's tensor memory accelerator (TMA) and the shared-memory mbarriers its copies complete on
// (sm_90), for bf16 tiles in the 128B-swizzled layout wgmma reads (cuda/wgmma.cuh): the host side
// makes the tensor map (the driver's cuTensorMapEncodeTiled, cuda/tma.cu); the device side is
// mbarrier init / arrive / arrive.expect_tx / try_wait.parity and the tiled 3-D bulk copy
// global -> shared; for kernels launched in clusters (cuda/cluster_launch.cuh), the block's rank,
// the cluster barrier, arrivals on another block's mbarrier and the copy multicast to several
// blocks. Device code only where CONVMAE_WGMMA_DEVICE is defined (sm_90a or the
// emulator, whose twins are emu/tma.cc and emu/scheduler.cc). PTX ISA sections "mbarrier",
// "cp.async.bulk.tensor", "mapa" and "barrier.cluster".
#pragma once
#include <cuda.h>

#include <cstdint>
#include <string>

#include "wgmma.cuh"

namespace convmae {

/**
 * A tiled 3-D map of a bf16 tensor (dims and box innermost first, strides in bytes of dims 1 and
 * 2) that loads with the 128B swizzle and zero fill outside the tensor. "" or why it cannot be
 * made (alignment, strides, the driver's refusal): callers then take a path without TMA.
 */
std::string encode_bf16_tile_map(CUtensorMap* map, const void* base, const uint64_t (&dims)[3],
                                 const uint64_t (&strides_bytes)[2], const uint32_t (&box)[3]);

#ifdef CONVMAE_WGMMA_DEVICE
#ifdef CONVMAE_CUDA_EMULATION
__device__ inline void mbar_init(uint64_t* bar, unsigned count) { ::emu::mbarrier_init(bar, count); }
__device__ inline void fence_mbarrier_init() {}
__device__ inline void mbar_arrive_expect_tx(uint64_t* bar, unsigned bytes) { ::emu::mbarrier_arrive(bar, bytes); }
__device__ inline void mbar_arrive(uint64_t* bar) { ::emu::mbarrier_arrive(bar, 0); }
__device__ inline bool mbar_try_wait(uint64_t* bar, unsigned parity) { return ::emu::mbarrier_try_wait_parity(bar, parity); }
__device__ inline void tma_load_3d(void* dst, const CUtensorMap* map, int c0, int c1, int c2, uint64_t* bar) {
  const int coords[3] = {c0, c1, c2};
  ::emu::tma_load(dst, map, coords, bar);
}
__device__ inline unsigned cluster_rank() { return ::emu::cluster_rank(); }
__device__ inline void cluster_sync() { ::emu::sync_cluster(); }
__device__ inline void mbar_arrive_cluster(uint64_t* bar, unsigned rank) { ::emu::mbarrier_arrive_remote(bar, rank); }
__device__ inline void tma_load_3d_multicast(void* dst, const CUtensorMap* map, int c0, int c1, int c2, uint64_t* bar,
                                             uint16_t mask) {
  const int coords[3] = {c0, c1, c2};
  ::emu::tma_load_multicast(dst, map, coords, bar, mask);
}
#else
__device__ inline uint32_t smem_u32(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }
__device__ inline void mbar_init(uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
/** After the inits, before the barrier that publishes them: the async proxy (TMA) sees them. */
__device__ inline void fence_mbarrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\nfence.proxy.async.shared::cta;\n" ::: "memory");
}
__device__ inline void mbar_arrive_expect_tx(uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_u32(bar)), "r"(bytes) : "memory");
}
__device__ inline void mbar_arrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_u32(bar)) : "memory");
}
__device__ inline bool mbar_try_wait(uint64_t* bar, unsigned parity) {
  uint32_t done;
  asm volatile(
      "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(smem_u32(bar)), "r"(parity)
      : "memory");
  return done != 0;
}
__device__ inline void tma_load_3d(void* dst, const CUtensorMap* map, int c0, int c1, int c2, uint64_t* bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(
          smem_u32(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(smem_u32(bar))
      : "memory");
}
/** The block's rank in its cluster. */
__device__ inline unsigned cluster_rank() {
  unsigned r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
/** Waits until every thread of the cluster that has not exited is here; the blocks' earlier
 *  shared-memory writes (mbarrier inits included) are then visible to each other. */
__device__ inline void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
}
/** Arrives on the mbarrier at bar's offset in block `rank` of the cluster (this block included). */
__device__ inline void mbar_arrive_cluster(uint64_t* bar, unsigned rank) {
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(smem_u32(bar)), "r"(rank));
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];\n" ::"r"(remote) : "memory");
}
/** tma_load_3d into dst's offset in every block of `mask` (bit r: rank r), completing on the
 *  barrier at bar's offset in each. */
__device__ inline void tma_load_3d_multicast(void* dst, const CUtensorMap* map, int c0, int c1, int c2, uint64_t* bar,
                                             uint16_t mask) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1, {%2, %3, "
      "%4}], [%5], %6;\n" ::"r"(smem_u32(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(smem_u32(bar)), "h"(mask)
      : "memory");
}
#endif
/** Waits until the phase of parity `parity` of the barrier has completed. */
__device__ inline void mbar_wait(uint64_t* bar, unsigned parity) {
  while (!mbar_try_wait(bar, parity)) {
  }
}
#endif  // CONVMAE_WGMMA_DEVICE

}  // namespace convmae
