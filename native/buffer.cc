// Buffer allocation, the External wrapper with its type tag, and per-device memory counters.
#include "buffer.h"

#include <cstdlib>
#include <new>

#include "cuda_api.h"
#include "errors.h"

namespace convmae {
namespace {

const napi_type_tag kBufferTag = {0x636f6e766d616531ULL, 0x6275666665723031ULL};
MemoryCounters counters[2];

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
  auto* b = new Buffer();
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
    delete b;
    throw_error(op, "out of host memory allocating " + std::to_string(alloc_bytes) + " bytes");
  } catch (...) {
    delete b;
    throw;
  }
  b->alive = true;
  count_alloc(device, b->bytes);
  auto ext = Napi::External<Buffer>::New(env, b, [](Napi::Env, Buffer* p) {
    buffer_free(p);
    delete p;
  });
  ext.TypeTag(&kBufferTag);
  return ext;
}

Buffer* buffer_from(const Napi::Value& v) {
  if (!v.IsExternal()) return nullptr;
  auto ext = v.As<Napi::External<Buffer>>();
  if (!ext.CheckTypeTag(&kBufferTag)) return nullptr;
  return ext.Data();
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
  count_free(b->device, b->bytes);
}

MemoryCounters memory_counters(Device d) { return counters[int(d)]; }
void reset_peak(Device d) { counters[int(d)].peak = counters[int(d)].bytes; }

}  // namespace convmae
