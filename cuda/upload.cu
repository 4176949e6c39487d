// Host-to-device uploads through pinned staging slots, so that an upload waits neither for the
// work already queued on the package stream nor for its own DMA. The caller's bytes are copied
// into a page-locked slot before the call returns (the host array may move after), the slot is
// copied to the device on the package stream (ordered with the kernels before and after it), and
// an event marks when the slot may be written again. Slots are kept for reuse, sized in powers of
// two from 64 KiB up to half of kStagingCap, and up to kStagingCap bytes in all. A larger upload,
// or one for which no pinned memory can be had, takes the pageable path: copy, then synchronize.
// release_staging() frees the slots; its caller (empty_cache) has synchronized the stream.
#include <cuda_runtime.h>

#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_api.h"
#include "errors.h"
#include "runtime.cuh"

namespace convmae {
namespace cuda {
namespace {

constexpr size_t kSmallestSlot = size_t(64) << 10;
constexpr size_t kStagingCap = size_t(512) << 20;

struct Slot {
  void* host = nullptr;
  size_t bytes = 0;
  cudaEvent_t done = nullptr;  // recorded after the slot's last copy was queued
};

struct Staging {
  std::vector<Slot> slots;
  size_t held = 0;
  std::mutex mu;
};

Staging& staging() {
  static Staging* s = new Staging();  // never destroyed: the driver may be gone at exit
  return *s;
}

size_t slot_size(size_t bytes) {
  size_t s = kSmallestSlot;
  while (s < bytes) s <<= 1;
  return s;
}

bool idle(const Slot& slot) {
  const cudaError_t e = cudaEventQuery(slot.done);
  if (e == cudaErrorNotReady) {
    cudaGetLastError();
    return false;
  }
  return true;  // ready, or an error that the copy's own check will report
}

void free_slot(Staging& s, size_t i) {
  cudaEventDestroy(s.slots[i].done);
  cudaFreeHost(s.slots[i].host);
  s.held -= s.slots[i].bytes;
  s.slots.erase(s.slots.begin() + ptrdiff_t(i));
}

// A slot of at least `bytes` that no queued copy still reads, or null where none can be had.
Slot* take_slot(Staging& s, size_t bytes) {
  Slot* best = nullptr;
  for (Slot& slot : s.slots) {
    if (slot.bytes >= bytes && (!best || slot.bytes < best->bytes) && idle(slot)) best = &slot;
  }
  if (best) return best;
  const size_t size = slot_size(bytes);
  if (size > kStagingCap / 2) return nullptr;  // two of the largest slots fit: one fills while one copies
  // Make room: idle slots too small for this upload go first.
  for (size_t i = s.slots.size(); i-- > 0 && s.held + size > kStagingCap;) {
    if (s.slots[i].bytes < bytes && idle(s.slots[i])) {
      count_wait();  // cudaFreeHost waits for the device
      free_slot(s, i);
    }
  }
  if (s.held + size > kStagingCap) {
    // Wait for the smallest busy slot that fits instead of holding more pinned memory.
    for (Slot& slot : s.slots) {
      if (slot.bytes >= bytes && (!best || slot.bytes < best->bytes)) best = &slot;
    }
    if (best) count_wait();
    if (best && cudaEventSynchronize(best->done) == cudaSuccess) return best;
    cudaGetLastError();
    return nullptr;
  }
  Slot slot;
  if (cudaHostAlloc(&slot.host, size, cudaHostAllocDefault) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  if (cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming) != cudaSuccess) {
    cudaGetLastError();
    cudaFreeHost(slot.host);
    return nullptr;
  }
  slot.bytes = size;
  try {
    s.slots.push_back(slot);
  } catch (...) {
    cudaEventDestroy(slot.done);
    cudaFreeHost(slot.host);
    throw;
  }
  s.held += size;
  return &s.slots.back();
}

[[noreturn]] void fail(const char* op, cudaError_t e) {
  throw_error(op, std::string("host-to-device copy failed: ") + cudaGetErrorString(e));
}

}  // namespace

void copy_to_device(void* dst, const void* src, size_t bytes, const char* op) {
  require(op);
  if (bytes == 0) return;
  Staging& s = staging();
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (Slot* slot = take_slot(s, bytes)) {
      std::memcpy(slot->host, src, bytes);
      cudaError_t e = cudaMemcpyAsync(dst, slot->host, bytes, cudaMemcpyHostToDevice, stream());
      if (e == cudaSuccess && (e = cudaEventRecord(slot->done, stream())) != cudaSuccess) {
        count_wait();
        cudaStreamSynchronize(stream());  // the copy was queued, but the event will not tell when it is done
      }
      if (e != cudaSuccess) fail(op, e);
      return;
    }
  }
  count_wait();
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream());
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream());  // the host array may move after return
  if (e != cudaSuccess) fail(op, e);
}

size_t staging_bytes() {
  Staging& s = staging();
  std::lock_guard<std::mutex> lk(s.mu);
  return s.held;
}

void release_staging() {
  Staging& s = staging();
  std::lock_guard<std::mutex> lk(s.mu);
  while (!s.slots.empty()) free_slot(s, s.slots.size() - 1);
}

}  // namespace cuda
}  // namespace convmae
