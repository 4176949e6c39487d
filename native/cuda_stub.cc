// CPU-only builds: the CUDA surface of cuda_api.h reports "built without CUDA".
#ifndef CONVMAE_CUDA
#include "cuda_api.h"
#include "errors.h"

namespace convmae {
namespace cuda {

namespace {
[[noreturn]] void not_built(const char* op) {
  throw_error(op, "this convmae addon was built without CUDA (nvcc was not found at install time); "
                  "reinstall with the CUDA toolkit on PATH to use device 'cuda'");
}
}  // namespace

bool compiled() { return false; }
DeviceInfo info() {
  DeviceInfo d;
  d.reason = "built without CUDA";
  return d;
}
void require(const char* op) { not_built(op); }
void* alloc(size_t, const char* op) { not_built(op); }
void release(void*, size_t) {}
CacheStats cache_stats() { return {}; }
void empty_cache() {}
void copy_to_device(void*, const void*, size_t, const char* op) { not_built(op); }
void copy_to_host(void*, const void*, size_t, const char* op) { not_built(op); }
void copy_device(void*, const void*, size_t, const char* op) { not_built(op); }
void synchronize(const char*) {}
void check_launch(const char* op) { not_built(op); }
bool wgmma_available() { return false; }
void timer_begin(double, const char* op) { not_built(op); }
double timer_end(const char* op) { not_built(op); }
std::vector<GemmAutoChoice> gemm_auto_choices() { return {}; }
void gemm_auto_reset() {}
GemmPathCounts gemm_path_counts(bool) { return {}; }

}  // namespace cuda
}  // namespace convmae
#endif
