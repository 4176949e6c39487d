// Launching a kernel in clusters of blocks along x (sm_90; the device side is cuda/tma.cuh's
// cluster_rank, cluster_sync, mbar_arrive_cluster and tma_load_3d_multicast): cudaLaunchKernelEx
// with a cluster dimension, or in the emulated build the emulator's cluster launch (emu/emu.h),
// and how many such clusters the device holds at once. Errors throw as the op's OpError.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "errors.h"
#include "runtime.cuh"

namespace convmae {
namespace cuda {

/** The launch configuration of clusters of `cluster` blocks along x, its one attribute in
 *  `attribute` (aggregate-initialised: the emulated build's gridDim and blockDim are macros). */
inline cudaLaunchConfig_t cluster_config(cudaLaunchAttribute* attribute, unsigned cluster, dim3 grid, unsigned threads,
                                         size_t smem) {
  *attribute = cudaLaunchAttribute{};
  attribute->id = cudaLaunchAttributeClusterDimension;
  attribute->val.clusterDim.x = cluster;
  attribute->val.clusterDim.y = 1;
  attribute->val.clusterDim.z = 1;
  return cudaLaunchConfig_t{grid, dim3(threads), smem, stream(), attribute, 1};
}

/** How many clusters of `cluster` blocks of `kernel` (`threads` each, `smem` bytes of dynamic
 *  shared memory) the device runs at once (at least 1): the grid of a persistent kernel. */
template <typename... P>
int resident_clusters(void (*kernel)(P...), unsigned cluster, unsigned threads, size_t smem, const char* op) {
  cudaLaunchAttribute attribute;
  const cudaLaunchConfig_t config = cluster_config(&attribute, cluster, dim3(cluster), threads, smem);
  int n = 0;
  const cudaError_t e = cudaOccupancyMaxActiveClusters(&n, reinterpret_cast<const void*>(kernel), &config);
  if (e != cudaSuccess) throw_error(op, std::string("cannot query the kernel's cluster occupancy: ") + cudaGetErrorString(e));
  return n < 1 ? 1 : n;
}

/** Launches kernel(args...) on `grid` blocks of `threads` with `smem` bytes of dynamic shared
 *  memory on stream(), in clusters of `cluster` blocks along x (grid.x a multiple of it). */
template <typename... P, typename... A>
void launch_in_clusters(void (*kernel)(P...), unsigned cluster, dim3 grid, unsigned threads, size_t smem, const char* op,
                        A... args) {
#ifdef CONVMAE_CUDA_EMULATION
  ::emu::Config config(grid, dim3(threads), smem);
  config.cluster = cluster;
  ::emu::launch(config, ::emu::key(kernel), "cluster_launch.cuh launch_in_clusters", [&](auto&&... a) { kernel(a...); }, args...);
  (void)op;
#else
  cudaLaunchAttribute attribute;
  const cudaLaunchConfig_t config = cluster_config(&attribute, cluster, grid, threads, smem);
  const cudaError_t e = cudaLaunchKernelEx(&config, kernel, args...);
  if (e != cudaSuccess) throw_error(op, std::string("cannot launch in clusters: ") + cudaGetErrorString(e));
#endif
}

}  // namespace cuda
}  // namespace convmae
