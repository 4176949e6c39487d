// The CUDA emulator's shared-memory race checker (emu/racecheck.cc; profile builds only, where
// every load and store of the kernels is instrumented). The emulator runs a block's threads in
// thread order between barriers, so a thread that reads what another thread of its block wrote
// without a barrier between them sees the right value whenever the writer comes first: the
// tests pass, and the GPU, which runs the warps in any order, does not. While the checker is on,
// every access to shared memory is checked against the last write and the last read of each byte:
// two accesses by different threads, one of them a write, race unless a __syncthreads or, for two
// lanes of one warp, a warp barrier naming both (__syncwarp, a shuffle, ldmatrix) lies between.
// A cp.async copy writes its bytes at its issue and again at the wait that lands it, so a read
// of the destination before the wait and its barrier, or a copy into bytes still being read,
// races too. The first race of a launch fails it (as the emulator's other checks do, emu/emu.h),
// naming both threads, both source lines and the bytes.
// Not checked: global memory, wgmma's operand reads (the emulator runs the product at the wait
// that retires it, so an operand overwritten before then already gives a wrong result).
// On from the first launch when CONVMAE_EMU_RACECHECK=1; racecheck_enable turns it on and off.
#pragma once

namespace emu {

void racecheck_enable(bool on);
bool racecheck_enabled();

}  // namespace emu
