// The CUDA emulator's memory-access profiler (emu/access_profile.cc; built only with
// CONVMAE_EMU_PROFILE=1): between start and stop, every shared- and global-memory access the
// kernels make is grouped into warp-wide requests by code site and scored as the hardware serves
// them: shared-memory wavefronts (bank conflicts) and global-memory sectors (coalescing), each
// beside its ideal. Correct kernels only: a conflict the emulator scores is a cost on the GPU,
// but timing, caches and the wgmma operand reads (hardware-swizzled) are not modelled.
#pragma once
#include <cstdint>
#include <vector>

namespace emu {

enum class AccessSpace : uint8_t { Shared, Global };

/** One code site's requests (a load or a store instruction in one memory space). */
struct AccessStat {
  const char* launch = nullptr;  // the launch ("file.cu:line kernel", emu::launch_site)
  uintptr_t site = 0;  // the address just past the access's call in the instrumented code
  bool store = false;
  AccessSpace space = AccessSpace::Shared;
  uint64_t requests = 0;       // warp-wide requests
  uint64_t lane_accesses = 0;  // lanes taking part, summed over requests
  uint64_t bytes = 0;          // bytes the lanes asked for
  uint64_t transactions = 0;   // shared: wavefronts; global: 32-byte sectors
  uint64_t ideal = 0;          // the fewest the same bytes could take
};

/** Whether p is shared memory (the block's dynamic shared memory or a static __shared__ array) or
 *  a device allocation, and which; false for anything else (registers, locals, the emulator's own). */
bool access_space(const void* p, AccessSpace* space);
/** Whether p is shared memory (access_space without the device-allocation lookup). */
bool is_shared_memory(const void* p);

void access_profile_start();
/** Stops recording and returns every site's figures since the start. */
std::vector<AccessStat> access_profile_stop();

}  // namespace emu
