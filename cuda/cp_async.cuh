// cp.async (sm_80+): 16-byte copies from global to shared memory that go out at once and land by
// group (commit, then wait until at most N groups are still in flight), for the kernels that stage
// tiles in shared memory (the GEMM tiles, attention's heads). The emulated build (emu/) runs its
// twins of the three instructions; there a destination reads as NaN until its group is waited for.
#pragma once

namespace convmae {

#ifdef CONVMAE_CUDA_EMULATION
__device__ inline void cp_async16(void* smem, const void* gmem, bool valid) { ::emu::cp_async16(smem, gmem, valid); }
__device__ inline void cp_async_commit() { ::emu::cp_async_commit(); }
template <int N>
__device__ inline void cp_async_wait() { ::emu::cp_async_wait(N); }
#else
/** Copies 16 bytes from gmem to smem (both 16-byte aligned); when !valid, writes 16 zero bytes and reads nothing. */
__device__ inline void cp_async16(void* smem, const void* gmem, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;  // 0: fill the 16 bytes with zeros, read nothing
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(bytes));
}
__device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ inline void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
#endif

}  // namespace convmae
