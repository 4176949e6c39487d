// Buffer allocation, the External wrapper with its type tag, and per-device memory counters.
// Buffers live in a table of slots that is never shrunk: an External holds a slot's index and
// generation, not a pointer, and a free bumps the slot's generation before it is reused, so a
// stale handle finds a dead buffer (never another tensor's, never freed memory). The Externals
// carry no finalizer (a weak handle per buffer was a fifth of the host's cost of a training step);
// the JS side frees what the garbage collector takes undisposed (lib/tensor/tensor.ts). Slots are
// made in chunks that never move, so a lookup takes no lock; taking and returning a slot (and the
// memory counters) are under one mutex, for tensors made on worker threads too.
#include "buffer.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#include "cuda_api.h"
#include "errors.h"

namespace convmae {
namespace {

const napi_type_tag kBufferTag = {0x636f6e766d616531ULL, 0x6275666665723031ULL};
MemoryCounters counters[2];

constexpr uint32_t kChunkBits = 12, kChunkSlots = 1u << kChunkBits, kMaxChunks = 1u << 16;  // 2^28 slots

struct Slots {
  std::mutex lock;  // guards everything below but the chunk pointers' reads
  std::atomic<Buffer*> chunks[kMaxChunks] = {};
  uint32_t made = 0;
  std::vector<uint32_t> unused;
};
Slots& slots() {
  static Slots s;
  return s;
}

Buffer* slot_at(uint32_t index) {
  Buffer* chunk = slots().chunks[index >> kChunkBits].load(std::memory_order_acquire);
  return chunk ? &chunk[index & (kChunkSlots - 1)] : nullptr;
}

// A free slot, made (a chunk at a time) when none is free; call with the lock held.
Buffer* take_slot(Slots& t, const char* op) {
  if (t.unused.empty()) {
    if (t.made == kMaxChunks * kChunkSlots) throw_range(op, "too many live tensors");
    if (t.made % kChunkSlots == 0) {
      Buffer* chunk = new (std::nothrow) Buffer[kChunkSlots];
      if (!chunk) throw_error(op, "out of host memory for the tensor table");
      for (uint32_t i = 0; i < kChunkSlots; ++i) chunk[i].slot = t.made + i;
      t.chunks[t.made >> kChunkBits].store(chunk, std::memory_order_release);
    }
    t.unused.push_back(t.made++);
  }
  Buffer* b = slot_at(t.unused.back());
  t.unused.pop_back();
  return b;
}

// What a stale handle finds: a buffer that is not alive.
Buffer& dead_buffer() {
  static Buffer b;
  return b;
}

void* encode(uint32_t index, uint32_t generation) {
  return reinterpret_cast<void*>((uintptr_t(generation) << 32) | uintptr_t(index));
}

// Returns a slot whose memory could not be allocated (its handle was never made).
void give_back(Slots& t, Buffer& b) {
  std::lock_guard<std::mutex> held(t.lock);
  t.unused.push_back(b.slot);
}

void count_alloc(Device d, size_t bytes) {
  auto& c = counters[int(d)];
  c.live += 1;
  c.bytes += int64_t(bytes);
  if (c.bytes > c.peak) c.peak = c.bytes;
}

void count_free(Device d, size_t bytes) {
  auto& c = counters[int(d)];
  c.live -= 1;
  c.bytes -= int64_t(bytes);
}

}  // namespace

Napi::Value buffer_new(Napi::Env env, Device device, DType dtype, int64_t numel, const char* op) {
  if (numel < 0) throw_range(op, "negative element count");
  const int64_t kMax = int64_t(1) << 40;
  if (numel > kMax / dtype_size(dtype)) throw_range(op, "tensor too large");
  Slots& t = slots();
  Buffer* b;
  {
    std::lock_guard<std::mutex> held(t.lock);
    b = take_slot(t, op);
  }
  b->device = device;
  b->dtype = dtype;
  b->numel = numel;
  b->bytes = size_t(numel) * size_t(dtype_size(dtype));
  size_t alloc_bytes = b->bytes == 0 ? 64 : (b->bytes + 63) / 64 * 64;
  try {
    if (device == Device::CPU) {
      b->data = std::aligned_alloc(64, alloc_bytes);
      if (!b->data) throw std::bad_alloc();
    } else {
      b->data = cuda::alloc(alloc_bytes, op);
    }
  } catch (const std::bad_alloc&) {
    give_back(t, *b);
    throw_error(op, "out of host memory allocating " + std::to_string(alloc_bytes) + " bytes");
  } catch (...) {
    give_back(t, *b);
    throw;
  }
  b->alive = true;
  {
    std::lock_guard<std::mutex> held(t.lock);
    count_alloc(device, b->bytes);
  }
  auto ext = Napi::External<void>::New(env, encode(b->slot, b->generation));
  ext.TypeTag(&kBufferTag);
  return ext;
}

Buffer* buffer_from(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  auto ext = v.As<Napi::External<void>>();
  if (!ext.CheckTypeTag(&kBufferTag)) return nullptr;
  const uintptr_t key = reinterpret_cast<uintptr_t>(ext.Data());
  const uint32_t index = uint32_t(key & 0xFFFFFFFFu), generation = uint32_t(key >> 32);
  Buffer* b = index < kMaxChunks * kChunkSlots ? slot_at(index) : nullptr;
  return b && b->generation == generation ? b : &dead_buffer();
}

void shadow_set(Buffer& b, const void* host) {
  if (b.device != Device::CUDA || b.dtype != DType::I32) return;
  const int32_t* v = static_cast<const int32_t*>(host);
  b.shadow.assign(v, v + b.numel);
  b.shadow_valid = true;
}

void shadow_drop(Buffer& b) {
  b.shadow_valid = false;
  b.shadow.clear();
  b.shadow.shrink_to_fit();
}

void buffer_free(Buffer* b) {
  if (!b->alive) return;
  b->alive = false;
  shadow_drop(*b);
  size_t alloc_bytes = b->bytes == 0 ? 64 : (b->bytes + 63) / 64 * 64;
  if (b->device == Device::CPU) {
    std::free(b->data);
  } else {
    cuda::release(b->data, alloc_bytes);
  }
  b->data = nullptr;
  Slots& t = slots();
  std::lock_guard<std::mutex> held(t.lock);
  count_free(b->device, b->bytes);
  ++b->generation;  // handles to it are stale from now on
  t.unused.push_back(b->slot);
}

MemoryCounters memory_counters(Device d) {
  std::lock_guard<std::mutex> held(slots().lock);
  return counters[int(d)];
}
void reset_peak(Device d) {
  std::lock_guard<std::mutex> held(slots().lock);
  counters[int(d)].peak = counters[int(d)].bytes;
}

}  // namespace convmae
