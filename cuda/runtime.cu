// CUDA runtime surface of native/cuda_api.h: device discovery, the package stream, copies (uploads
// are in upload.cu) and a caching allocator. Blocks are rounded (512 B below 1 MiB, 2 MiB above) and kept on free lists
// keyed by that size class, so a steady training loop stops calling cudaMalloc after its first step.
// A released block is handed out again without waiting for the work queued on it: all work runs
// on the one package stream, so its next user is queued after that work (stream-ordered reuse).
// empty_cache() synchronizes, then returns cached blocks to the driver; an out-of-memory cudaMalloc first empties
// the cache and retries.
#include <cuda_runtime.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "errors.h"
#include "cuda_api.h"
#include "runtime.cuh"

namespace convmae {
namespace cuda {
namespace {

struct State {
  bool probed = false;
  DeviceInfo info;
  cudaStream_t stream = nullptr;
  size_t smem_per_block = 0;  // opt-in limit of the device
  size_t smem_per_sm = 0, smem_reserved = 0;  // an SM's shared memory; what the driver keeps per block
  std::multimap<size_t, void*> free_blocks;
  CacheStats stats;
  std::mutex mu;
};

State& state() {
  static State* s = new State();  // never destroyed: the driver may be gone at exit
  return *s;
}

std::atomic<int64_t> waits{0};

void probe() {
  State& s = state();
  if (s.probed) return;
  s.probed = true;
  s.info.compiled = true;
  cudaRuntimeGetVersion(&s.info.runtime_version);
  cudaDriverGetVersion(&s.info.driver_version);
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    s.info.reason = e != cudaSuccess ? std::string("no usable CUDA device: ") + cudaGetErrorString(e)
                                     : "no CUDA device found";
    cudaGetLastError();
    return;
  }
  s.info.device_count = n;
  cudaDeviceProp prop{};
  if ((e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess || (e = cudaSetDevice(0)) != cudaSuccess) {
    s.info.reason = cudaGetErrorString(e);
    cudaGetLastError();
    return;
  }
  s.info.name = prop.name;
  s.info.cc_major = prop.major;
  s.info.cc_minor = prop.minor;
  s.smem_per_block = prop.sharedMemPerBlockOptin;
  s.smem_per_sm = prop.sharedMemPerMultiprocessor;
  s.smem_reserved = prop.reservedSharedMemPerBlock;
  s.info.multiprocessors = prop.multiProcessorCount;
  if ((e = cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking)) != cudaSuccess) {
    s.info.reason = cudaGetErrorString(e);
    cudaGetLastError();
    return;
  }
  s.info.usable = true;
}

size_t round_size(size_t bytes) {
#ifdef CONVMAE_EMU_EXACT_ALLOC  // the emulator's AddressSanitizer build: a block is its tensor, to the byte
  return bytes ? bytes : 1;
#endif
  const size_t small = 512, large = size_t(2) << 20;
  return bytes < (size_t(1) << 20) ? (bytes + small - 1) / small * small : (bytes + large - 1) / large * large;
}

void free_cached_locked(State& s) {
  for (auto& kv : s.free_blocks) {
    cudaFree(kv.second);
    s.stats.driver_frees += 1;
    s.stats.reserved_bytes -= int64_t(kv.first);
  }
  s.free_blocks.clear();
  s.stats.cached_bytes = 0;
}

}  // namespace

[[noreturn]] void fail(const char* op, const char* what, cudaError_t e) {
  throw_error(op, std::string(what) + " failed: " + cudaGetErrorString(e));
}

bool compiled() { return true; }

void count_wait() { waits.fetch_add(1, std::memory_order_relaxed); }

DeviceInfo info() {
  probe();
  DeviceInfo d = state().info;
  if (d.usable) cudaMemGetInfo(&d.free_bytes, &d.total_bytes);
  return d;
}

void require(const char* op) {
  probe();
  if (!state().info.usable) throw_error(op, "CUDA is not usable: " + state().info.reason);
}

cudaStream_t stream() { return state().stream; }

size_t smem_per_block() { return state().smem_per_block; }
int sm_count() { return state().info.multiprocessors; }
int blocks_per_sm_by_smem(size_t smem) {
  const State& s = state();
  return int(s.smem_per_sm / (smem + s.smem_reserved));
}

void* alloc(size_t bytes, const char* op) {
  require(op);
  State& s = state();
  size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lk(s.mu);
  // Reuse a cached block of exactly this size class: a steady loop asks for the same sizes.
  auto it = s.free_blocks.find(size);
  if (it != s.free_blocks.end()) {
    void* p = it->second;
    s.stats.cached_bytes -= int64_t(size);
    s.free_blocks.erase(it);
    return p;
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, size);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    count_wait();
    cudaStreamSynchronize(s.stream);
    free_cached_locked(s);
    e = cudaMalloc(&p, size);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    fail(op, ("cudaMalloc of " + std::to_string(size) + " bytes").c_str(), e);
  }
  s.stats.driver_allocs += 1;
  s.stats.reserved_bytes += int64_t(size);
  return p;
}

void release(void* p, size_t bytes) {
  if (!p) return;
  State& s = state();
  size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lk(s.mu);
  s.free_blocks.emplace(size, p);
  s.stats.cached_bytes += int64_t(size);
}

CacheStats cache_stats() {
  CacheStats c;
  {
    std::lock_guard<std::mutex> lk(state().mu);
    c = state().stats;
  }
  c.pinned_bytes = int64_t(staging_bytes());
  c.stream_waits = waits.load();
  return c;
}

void empty_cache() {
  State& s = state();
  if (!s.probed || !s.info.usable) return;
  count_wait();
  cudaStreamSynchronize(s.stream);
  release_staging();
  std::lock_guard<std::mutex> lk(s.mu);
  free_cached_locked(s);
}

void copy_to_host(void* dst, const void* src, size_t bytes, const char* op) {
  require(op);
  count_wait();
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream());
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream());
  if (e != cudaSuccess) fail(op, "device-to-host copy", e);
}

void copy_device(void* dst, const void* src, size_t bytes, const char* op) {
  require(op);
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream());
  if (e != cudaSuccess) fail(op, "device-to-device copy", e);
}

void synchronize(const char* op) {
  require(op);
  count_wait();
  cudaError_t e = cudaStreamSynchronize(stream());
  if (e != cudaSuccess) fail(op, "stream synchronize", e);
}

void check_launch(const char* op) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) fail(op, "kernel launch", e);
}

}  // namespace cuda
}  // namespace convmae
