// CUDA-only helpers shared by the kernels: the package stream, the device's shared-memory limits and
// multiprocessor count, and launch-size arithmetic.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "errors.h"

namespace convmae {
namespace cuda {

cudaStream_t stream();
/** Most dynamic shared memory one block may opt into on the device (bytes; after require()). */
size_t smem_per_block();
/** The device's multiprocessor count (after require()). */
int sm_count();
/** How many blocks with `smem` bytes of dynamic shared memory one SM holds, by shared memory alone
 *  (the SM's shared memory over the block's, the driver's per-block reservation included). */
int blocks_per_sm_by_smem(size_t smem);
/** Throws the CUDA error e as op's error: "<what> failed: <CUDA's message>". */
[[noreturn]] void fail(const char* op, const char* what, cudaError_t e);
/** Counts one wait of the host for the GPU (a stream or event synchronize), for cache_stats(). */
void count_wait();
/** Pinned host bytes held for uploads (cuda/upload.cu). */
size_t staging_bytes();
/** Frees the upload staging slots (cuda/upload.cu); the caller has synchronized the stream. */
void release_staging();

/** Lets `kernel` launch with up to `bytes` of dynamic shared memory (the default stops at 48 KB). */
template <typename K>
void allow_smem(K kernel, size_t bytes, const char* op) {
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes));
  if (e != cudaSuccess) throw_error(op, std::string("cannot reserve shared memory: ") + cudaGetErrorString(e));
}

/** How many blocks of `kernel` (`threads` each, `smem` bytes of dynamic shared memory) one SM runs
 *  at once, by the card's threads, registers and shared memory (at least 1): the size of a grid
 *  whose blocks stay resident. */
template <typename K>
int resident_blocks(K kernel, int threads, size_t smem, const char* op) {
  int n = 0;
  const cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kernel, threads, smem);
  if (e != cudaSuccess) throw_error(op, std::string("cannot query the kernel's occupancy: ") + cudaGetErrorString(e));
  return n < 1 ? 1 : n;
}

inline unsigned grid_for(int64_t n, int threads) {
  int64_t g = (n + threads - 1) / threads;
  return unsigned(g < 1 ? 1 : (g > 65535 * 32 ? 65535 * 32 : g));
}

}  // namespace cuda
}  // namespace convmae
