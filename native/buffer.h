// Device buffers: the storage behind every Tensor. A JS External (type-tagged) names a Buffer by
// its slot and generation (native/buffer.cc); dispose frees its memory at once, and the JS side's
// finalizer is the last resort. Memory counters (live buffers, bytes, peak) are kept per device.
#pragma once
#include <cstdint>
#include <napi.h>

#include <vector>

#include "dtype.h"

namespace convmae {

struct Buffer {
  Device device = Device::CPU;
  DType dtype = DType::F32;
  int64_t numel = 0;
  size_t bytes = 0;
  void* data = nullptr;
  bool alive = false;
  uint32_t slot = 0, generation = 0;  // where the slot table keeps it, and how many times it was freed
  // For int32 CUDA buffers: the values as last uploaded from the host, so index checks need no
  // device copy (a copy waits for the stream). Every op that may write an int32 CUDA buffer on the
  // device (fill, cast, copy, copyRows, maxPool2x2's argmax) drops it.
  std::vector<int32_t> shadow;
  bool shadow_valid = false;

  template <typename T> T* as() const { return static_cast<T*>(data); }
};

struct MemoryCounters {
  int64_t live = 0;
  int64_t bytes = 0;
  int64_t peak = 0;
};

// Allocates numel elements (uninitialised) and wraps them in a type-tagged External.
Napi::Value buffer_new(Napi::Env env, Device device, DType dtype, int64_t numel, const char* op);
// The Buffer behind a JS value (a dead one when the handle is stale), or nullptr when the value is
// not one of ours.
Buffer* buffer_from(const Napi::Value& v);
// Frees the memory now (idempotent); the External stays, its handle stale.
void buffer_free(Buffer* b);
// Keeps a host copy of an int32 CUDA buffer's values (b.bytes at host); a no-op for other buffers.
void shadow_set(Buffer& b, const void* host);
// Forgets the host copy (call before anything writes the buffer on the device).
void shadow_drop(Buffer& b);
MemoryCounters memory_counters(Device d);
void reset_peak(Device d);

}  // namespace convmae
