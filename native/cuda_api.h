// The CUDA runtime surface the rest of native/ uses. Implemented in cuda/runtime.cu when the
// addon is built with CUDA, and by native/cuda_stub.cc otherwise (every call but compiled() and
// info() then throws "built without CUDA"). All failures throw convmae::OpError with the CUDA
// error string; nothing here exits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace convmae {
namespace cuda {

struct DeviceInfo {
  bool compiled = false;
  bool usable = false;
  std::string reason;  // why not usable
  std::string name;
  int device_count = 0;
  int cc_major = 0, cc_minor = 0;
  int multiprocessors = 0;
  size_t total_bytes = 0, free_bytes = 0;
  int runtime_version = 0, driver_version = 0;
};

struct CacheStats {
  int64_t driver_allocs = 0;  // cudaMalloc calls so far
  int64_t driver_frees = 0;
  int64_t reserved_bytes = 0;  // held from the driver (in use + cached)
  int64_t cached_bytes = 0;    // held but free for reuse
  int64_t pinned_bytes = 0;    // page-locked host memory held to stage uploads
  int64_t stream_waits = 0;    // times the host has waited for the GPU (synchronize, downloads, ...)
};

bool compiled();
DeviceInfo info();
// Throws unless a device is usable; selects it on first use.
void require(const char* op);
// Caching allocator: sizes are rounded up; freed blocks are kept for reuse. release() returns a
// block at once, even with work still queued on it: all work is on the package stream, so the
// block's next user is queued after that work (stream-ordered reuse; one stream only).
void* alloc(size_t bytes, const char* op);
void release(void* p, size_t bytes);
CacheStats cache_stats();
// Returns cached device blocks and the upload staging memory.
void empty_cache();
// Returns once `src` has been read: the copy itself is queued on the package stream.
void copy_to_device(void* dst, const void* src, size_t bytes, const char* op);
void copy_to_host(void* dst, const void* src, size_t bytes, const char* op);
void copy_device(void* dst, const void* src, size_t bytes, const char* op);
void synchronize(const char* op);
// Checks for an error left by the last launch and throws it named after op.
void check_launch(const char* op);
// Whether the Hopper wgmma GEMM (cuda/gemm_wgmma.cu) can run: an sm_90 device and sm_90a code in
// this addon, probed once on the device. False without CUDA or a usable device; where it is false,
// gemm's wgmma family runs the mma kernels.
bool wgmma_available();
// Device-side timing (cuda/timer.cu): timer_begin holds the stream for hold_us microseconds, then
// records a start event, so that what the host queues meanwhile runs back to back; timer_end
// records a stop event, waits for it and returns the milliseconds between the two.
void timer_begin(double hold_us, const char* op);
double timer_end(const char* op);

// The gemm family `auto` (cuda/gemm_auto.cu): per kind of problem timed so far, its description,
// the candidates' names and best times (ms; -1 for one that could not run) and the pick.
struct GemmAutoChoice {
  std::string problem;
  std::vector<std::string> candidates;
  std::vector<double> ms;
  std::string pick;
};
std::vector<GemmAutoChoice> gemm_auto_choices();
// Forgets every choice: the next call of each kind times the candidates again.
void gemm_auto_reset();

// Which kernels cuda_gemm ran its problems on since the last reset (cuda/gemm.cu): the tensor-core
// families, or the plain tiled kernel (float32 problems, and bfloat16 ones the tensor cores cannot
// take), as calls and output elements (batch x m x n).
struct GemmPathCounts {
  int64_t tensor_core_calls = 0, tensor_core_outputs = 0;
  int64_t plain_bf16_calls = 0, plain_bf16_outputs = 0;
  int64_t plain_f32_calls = 0, plain_f32_outputs = 0;
};
// The counts so far; with reset, they start again from zero.
GemmPathCounts gemm_path_counts(bool reset);

}  // namespace cuda
}  // namespace convmae
