// The CUDA runtime calls the package makes (cuda/runtime.cu, cuda/upload.cu, the launchers),
// defined for the emulated build: one device, "convmae CUDA emulator (CPU)", with an H100's compute
// capability 9.0 (the wgmma GEMM runs on emu/wgmma.cc), 132 multiprocessors, 227 KB of opt-in
// shared memory a block and 228 KB an SM, so launch shapes match the real card's;
// CONVMAE_EMU_SM=80 makes it report an A100 instead (8.0, 163 KB a block, 164 KB an SM: the wgmma
// family then falls back to mma), and CONVMAE_EMU_SMS=N makes it
// report N multiprocessors (1..1024; a small card, whose few tiles per wave reach the GEMMs' split
// plans at shapes the emulator runs in seconds). Device and pinned memory are host memory; copies
// and kernels complete before the call returns, so streams and events are always idle (an event
// holds the time it was recorded, so elapsed times are the host's time for the work). Device
// allocations start as 0xff bytes. A launch the emulator rejects surfaces, as on a GPU, from the
// next cudaGetLastError.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

#include "emu.h"

struct CUstream_st {
  int unused;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point recorded;  // launches run at once: recording is the time
};

namespace {
constexpr size_t kTotalBytes = size_t(24) << 30;
size_t g_in_use = 0;
std::string g_last_message;
std::map<uintptr_t, size_t> g_device_blocks;  // live cudaMalloc blocks: start -> bytes

// 256-byte aligned like cudaMalloc, and of the exact size asked (AddressSanitizer builds see overruns).
void* host_block(size_t bytes) {
  void* p = nullptr;
  return posix_memalign(&p, 256, bytes ? bytes : 1) == 0 ? p : nullptr;
}
}  // namespace

namespace emu {
bool is_device_memory(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = g_device_blocks.upper_bound(a);
  if (it == g_device_blocks.begin()) return false;
  --it;
  return a < it->first + it->second;
}
}  // namespace emu

extern "C" {

cudaError_t cudaGetLastError() {
  const std::string e = emu::take_error();
  if (e.empty()) return cudaSuccess;
  g_last_message = "emulated launch failed: " + e;
  return cudaErrorLaunchFailure;
}

const char* cudaGetErrorString(cudaError_t error) {
  if (error == cudaErrorLaunchFailure && !g_last_message.empty()) return g_last_message.c_str();
  if (error == cudaSuccess) return "no error";
  if (error == cudaErrorMemoryAllocation) return "out of memory";
  if (error == cudaErrorNotReady) return "device not ready";
  return "emulated runtime error";
}

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return cudaErrorInvalidDevice;
  std::memset(prop, 0, sizeof *prop);
  std::strncpy(prop->name, "convmae CUDA emulator (CPU)", sizeof prop->name - 1);
  const char* sm = std::getenv("CONVMAE_EMU_SM");
  const bool ampere = sm && std::string(sm) == "80";
  prop->major = ampere ? 8 : 9;
  prop->minor = 0;
  const char* sms = std::getenv("CONVMAE_EMU_SMS");
  const int count = sms ? std::atoi(sms) : 0;
  prop->multiProcessorCount = count >= 1 && count <= 1024 ? count : 132;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->sharedMemPerBlockOptin = (ampere ? 163 : 227) * 1024;  // an A100's or an H100's
  prop->sharedMemPerMultiprocessor = (ampere ? 164 : 228) * 1024;
  prop->reservedSharedMemPerBlock = 1024;
  prop->totalGlobalMem = kTotalBytes;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : cudaErrorInvalidDevice; }

cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  *total = kTotalBytes;
  *free_bytes = g_in_use < kTotalBytes ? kTotalBytes - g_in_use : 0;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  *p = host_block(bytes);
  if (!*p) return cudaErrorMemoryAllocation;
  std::memset(*p, 0xff, bytes);
  g_in_use += bytes;
  g_device_blocks[reinterpret_cast<uintptr_t>(*p)] = bytes;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  auto it = g_device_blocks.find(reinterpret_cast<uintptr_t>(p));
  if (it != g_device_blocks.end()) {
    g_in_use -= it->second;
    g_device_blocks.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned int) {
  *p = host_block(bytes);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t) {
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned int) {
  static CUstream_st the_stream{0};
  *s = &the_stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned int) {
  *e = new CUevent_st{};
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
  e->recorded = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  *ms = std::chrono::duration<float, std::milli>(end->recorded - start->recorded).count();
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value > 227 * 1024) return cudaErrorInvalidValue;
    emu::set_max_dynamic_smem(func, value);
  }
  return cudaSuccess;
}

// Registers are not modelled: the count is what threads and shared memory allow, as a card
// whose kernels all fit its register file (a real card may hold fewer).
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int* blocks, const void*, int block_size, size_t smem, unsigned) {
  if (block_size < 1 || block_size > 1024) return cudaErrorInvalidValue;
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  const int warps = (block_size + 31) / 32;
  const int by_threads = 64 / warps;  // 2048 threads an SM
  const int by_smem = int(prop.sharedMemPerMultiprocessor / (smem + prop.reservedSharedMemPerBlock));
  *blocks = std::min({by_threads, by_smem, 32});
  return cudaSuccess;
}
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, const void* func, int block_size, size_t smem) {
  return cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(blocks, func, block_size, smem, 0);
}

// Clusters as whole groups of blocks over the SMs (a real card places them within its GPCs, and
// may hold fewer).
cudaError_t cudaOccupancyMaxActiveClusters(int* clusters, const void* func, const cudaLaunchConfig_t* config) {
  unsigned cluster = 1;
  for (unsigned i = 0; i < config->numAttrs; ++i)
    if (config->attrs[i].id == cudaLaunchAttributeClusterDimension) cluster = config->attrs[i].val.clusterDim.x;
  int per_sm = 0;
  const int threads = int(config->blockDim.x * config->blockDim.y * config->blockDim.z);
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, func, threads, config->dynamicSmemBytes) != cudaSuccess || cluster == 0)
    return cudaErrorInvalidValue;
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  *clusters = prop.multiProcessorCount * per_sm / int(cluster);
  return cudaSuccess;
}

}  // extern "C"
