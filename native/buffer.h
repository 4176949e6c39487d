// Device buffers: the storage behind every Tensor. A Buffer is owned by one JS External
// (type-tagged); dispose frees its memory at once, the GC finalizer is the last resort. Memory
// counters (live buffers, bytes, peak) are kept per device.
#pragma once
#include <cstdint>
#include <napi.h>

#include "dtype.h"

namespace convmae {

struct Buffer {
  Device device = Device::CPU;
  DType dtype = DType::F32;
  int64_t numel = 0;
  size_t bytes = 0;
  void* data = nullptr;
  bool alive = false;

  template <typename T> T* as() const { return static_cast<T*>(data); }
};

struct MemoryCounters {
  int64_t live = 0;
  int64_t bytes = 0;
  int64_t peak = 0;
};

// Allocates numel elements (uninitialised) and wraps them in a type-tagged External.
Napi::Value buffer_new(Napi::Env env, Device device, DType dtype, int64_t numel, const char* op);
// The Buffer behind a JS value, or nullptr when the value is not one of ours.
Buffer* buffer_from(const Napi::Value& v);
// Frees the memory now (idempotent); the External stays, marked dead.
void buffer_free(Buffer* b);
MemoryCounters memory_counters(Device d);
void reset_peak(Device d);

}  // namespace convmae
