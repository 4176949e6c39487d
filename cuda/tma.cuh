// Hopper's tensor memory accelerator (TMA) and the shared-memory mbarriers its copies complete on
// (sm_90), for bf16 tiles in the 128B-swizzled layout wgmma reads (cuda/wgmma.cuh): the host side
// makes the tensor map (the driver's cuTensorMapEncodeTiled, cuda/tma.cu); the device side is
// mbarrier init / arrive / arrive.expect_tx / try_wait.parity and the tiled 3-D bulk copy
// global -> shared. Device code only where CONVMAE_WGMMA_DEVICE is defined (sm_90a or the
// emulator, whose twins are emu/tma.cc). PTX ISA sections "mbarrier" and "cp.async.bulk.tensor".
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
#endif
/** Waits until the phase of parity `parity` of the barrier has completed. */
__device__ inline void mbar_wait(uint64_t* bar, unsigned parity) {
  while (!mbar_try_wait(bar, parity)) {
  }
}
#endif  // CONVMAE_WGMMA_DEVICE

}  // namespace convmae
