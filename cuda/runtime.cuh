// CUDA-only helpers shared by the kernels: the package stream, the device's shared-memory limit and
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

inline unsigned grid_for(int64_t n, int threads) {
  int64_t g = (n + threads - 1) / threads;
  return unsigned(g < 1 ? 1 : (g > 65535 * 32 ? 65535 * 32 : g));
}

}  // namespace cuda
}  // namespace convmae
