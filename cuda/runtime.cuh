// CUDA-only helpers shared by the kernels: the package stream and launch-size arithmetic.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace convmae {
namespace cuda {

cudaStream_t stream();

inline unsigned grid_for(int64_t n, int threads) {
  int64_t g = (n + threads - 1) / threads;
  return unsigned(g < 1 ? 1 : (g > 65535 * 32 ? 65535 * 32 : g));
}

}  // namespace cuda
}  // namespace convmae
