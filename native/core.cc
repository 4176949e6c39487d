// Exports that manage buffers and report on backends: alloc, free, upload, download, copy,
// memory counters, backend info, synchronize, the device timer, emptyCache, and the CUDA
// kernel-family choices.
#include <cstring>
#include <thread>

#include "cuda_api.h"
#include "kernel_choice.h"
#include "napi_args.h"
#include "ops/gemm.h"
#include "parallel.h"

namespace convmae {

Napi::Error to_js_error(Napi::Env env, const OpError& e) {
  switch (e.kind) {
    case ErrorKind::Type: return Napi::TypeError::New(env, e.what());
    case ErrorKind::Range: return Napi::RangeError::New(env, e.what());
    default: return Napi::Error::New(env, e.what());
  }
}

namespace {

size_t typed_array_bytes(const Napi::Value& v, const char* op, const char* name, void** data) {
  if (!v.IsTypedArray()) throw_type(op, std::string("expected a TypedArray for `") + name + "`");
  auto ta = v.As<Napi::TypedArray>();
  auto ab = ta.ArrayBuffer();
  *data = static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset();
  return ta.ByteLength();
}

}  // namespace

Napi::Value js_alloc(const Napi::CallbackInfo& info) {
  Args a(info, "alloc");
  Device dev = a.device(0, "device");
  DType dt = a.dtype(1, "dtype");
  int64_t n = a.integer(2, "numel", 0, int64_t(1) << 40);
  return buffer_new(info.Env(), dev, dt, n, "alloc");
}

// A CUDA buffer goes back to the caching allocator at once, without waiting for the kernels
// queued on it: every kernel and copy runs on the one package stream, so whoever gets the block
// next is queued after them (as for Scratch in cuda/scratch.cuh and the finalizer's free).
Napi::Value js_free(const Napi::CallbackInfo& info) {
  Buffer* b = buffer_from(info[0]);
  if (!b) throw_type("dispose", "expected a tensor buffer");
  buffer_free(b);
  return info.Env().Undefined();
}

Napi::Value js_is_alive(const Napi::CallbackInfo& info) {
  Buffer* b = buffer_from(info[0]);
  return Napi::Boolean::New(info.Env(), b && b->alive);
}

// upload(dst, typedArray): host bytes -> buffer; byte lengths must match.
Napi::Value js_upload(const Napi::CallbackInfo& info) {
  Args a(info, "upload");
  Buffer& dst = a.buffer(0, "dst");
  void* src;
  size_t n = typed_array_bytes(info[1], "upload", "src", &src);
  if (n != dst.bytes) throw_range("upload", "host array has " + std::to_string(n) + " bytes but the tensor has " +
                                               std::to_string(dst.bytes));
  if (dst.device == Device::CPU) {
    std::memcpy(dst.data, src, n);
  } else {
    shadow_drop(dst);
    cuda::copy_to_device(dst.data, src, n, "upload");
    shadow_set(dst, src);
  }
  return info.Env().Undefined();
}

// download(src, typedArray): buffer -> host bytes; byte lengths must match.
Napi::Value js_download(const Napi::CallbackInfo& info) {
  Args a(info, "download");
  Buffer& src = a.buffer(0, "src");
  void* dst;
  size_t n = typed_array_bytes(info[1], "download", "dst", &dst);
  if (n != src.bytes) throw_range("download", "host array has " + std::to_string(n) + " bytes but the tensor has " +
                                                 std::to_string(src.bytes));
  if (src.device == Device::CPU) std::memcpy(dst, src.data, n);
  else cuda::copy_to_host(dst, src.data, n, "download");
  return info.Env().Undefined();
}

// copy(dst, src): same dtype and element count, any devices.
Napi::Value js_copy(const Napi::CallbackInfo& info) {
  Args a(info, "copy");
  Buffer& dst = a.buffer(0, "dst");
  Buffer& src = a.buffer(1, "src");
  if (dst.dtype != src.dtype) a.expect_dtype(src, dst.dtype, "src");
  a.expect_numel(src, dst.numel, "src");
  if (&dst != &src) shadow_drop(dst);
  if (dst.device == Device::CPU && src.device == Device::CPU) std::memcpy(dst.data, src.data, dst.bytes);
  else if (dst.device == Device::CUDA && src.device == Device::CPU) cuda::copy_to_device(dst.data, src.data, dst.bytes, "copy");
  else if (dst.device == Device::CPU) cuda::copy_to_host(dst.data, src.data, dst.bytes, "copy");
  else cuda::copy_device(dst.data, src.data, dst.bytes, "copy");
  if (dst.device == Device::CUDA && src.device == Device::CPU) shadow_set(dst, src.data);
  else if (dst.device == Device::CUDA && src.shadow_valid && &dst != &src) shadow_set(dst, src.shadow.data());
  return info.Env().Undefined();
}

Napi::Value js_memory(const Napi::CallbackInfo& info) {
  Args a(info, "memory");
  Device dev = a.device(0, "device");
  auto c = memory_counters(dev);
  auto o = Napi::Object::New(info.Env());
  o.Set("buffers", Napi::Number::New(info.Env(), double(c.live)));
  o.Set("bytes", Napi::Number::New(info.Env(), double(c.bytes)));
  o.Set("peakBytes", Napi::Number::New(info.Env(), double(c.peak)));
  if (dev == Device::CUDA) {
    auto s = cuda::cache_stats();
    o.Set("driverAllocs", Napi::Number::New(info.Env(), double(s.driver_allocs)));
    o.Set("driverFrees", Napi::Number::New(info.Env(), double(s.driver_frees)));
    o.Set("reservedBytes", Napi::Number::New(info.Env(), double(s.reserved_bytes)));
    o.Set("cachedBytes", Napi::Number::New(info.Env(), double(s.cached_bytes)));
    o.Set("pinnedBytes", Napi::Number::New(info.Env(), double(s.pinned_bytes)));
    o.Set("streamWaits", Napi::Number::New(info.Env(), double(s.stream_waits)));
  }
  return o;
}

Napi::Value js_reset_peak(const Napi::CallbackInfo& info) {
  Args a(info, "resetPeak");
  reset_peak(a.device(0, "device"));
  return info.Env().Undefined();
}

Napi::Value js_backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto cpu = Napi::Object::New(env);
  cpu.Set("compiled", true);
  cpu.Set("usable", true);
  cpu.Set("threads", num_threads());
  cpu.Set("hardwareConcurrency", double(std::thread::hardware_concurrency()));
  cpu.Set("gemm", cpu_gemm_build());
  auto d = cuda::info();
  auto gpu = Napi::Object::New(env);
  gpu.Set("compiled", d.compiled);
  gpu.Set("usable", d.usable);
  gpu.Set("reason", d.reason);
  gpu.Set("name", d.name);
  gpu.Set("deviceCount", d.device_count);
  gpu.Set("computeCapability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor));
  gpu.Set("multiprocessors", d.multiprocessors);
  gpu.Set("totalBytes", double(d.total_bytes));
  gpu.Set("freeBytes", double(d.free_bytes));
  gpu.Set("runtimeVersion", d.runtime_version);
  gpu.Set("driverVersion", d.driver_version);
  gpu.Set("wgmma", d.usable && cuda::wgmma_available());
#ifdef CONVMAE_GEMM_SWEEP
  gpu.Set("gemmSweep", true);
#else
  gpu.Set("gemmSweep", false);
#endif
  auto o = Napi::Object::New(env);
  o.Set("cpu", cpu);
  o.Set("cuda", gpu);
  return o;
}

Napi::Value js_synchronize(const Napi::CallbackInfo& info) {
  if (cuda::compiled() && cuda::info().usable) cuda::synchronize("synchronize");
  return info.Env().Undefined();
}

Napi::Value js_timer_begin(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw_type("timerBegin", "expected a number of microseconds for `holdMicros`");
  const double us = info[0].As<Napi::Number>().DoubleValue();
  if (!(us >= 0 && us <= 10e6)) throw_range("timerBegin", "expected `holdMicros` in [0, 1e7] but got " + std::to_string(us));
  cuda::timer_begin(us, "timerBegin");
  return info.Env().Undefined();
}

Napi::Value js_timer_end(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), cuda::timer_end("timerEnd"));
}

Napi::Value js_gemm_auto_choices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::vector<cuda::GemmAutoChoice> choices = cuda::gemm_auto_choices();
  Napi::Array out = Napi::Array::New(env, choices.size());
  for (size_t i = 0; i < choices.size(); ++i) {
    const cuda::GemmAutoChoice& c = choices[i];
    Napi::Object o = Napi::Object::New(env);
    Napi::Array names = Napi::Array::New(env, c.candidates.size()), ms = Napi::Array::New(env, c.ms.size());
    for (size_t j = 0; j < c.candidates.size(); ++j) names.Set(uint32_t(j), c.candidates[j]);
    for (size_t j = 0; j < c.ms.size(); ++j) ms.Set(uint32_t(j), c.ms[j] < 0 ? env.Null() : Napi::Number::New(env, c.ms[j]));
    o.Set("problem", c.problem);
    o.Set("candidates", names);
    o.Set("ms", ms);
    o.Set("pick", c.pick);
    out.Set(uint32_t(i), o);
  }
  return out;
}

Napi::Value js_gemm_paths(const Napi::CallbackInfo& info) {
  if (info.Length() > 1 || (info.Length() == 1 && !info[0].IsBoolean())) throw_type("gemmPaths", "expected (reset: boolean)");
  const cuda::GemmPathCounts c = cuda::gemm_path_counts(info.Length() == 1 && info[0].As<Napi::Boolean>().Value());
  Napi::Env env = info.Env();
  const auto path = [&](int64_t calls, int64_t outputs) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("calls", double(calls));
    o.Set("outputs", double(outputs));
    return o;
  };
  Napi::Object out = Napi::Object::New(env);
  out.Set("tensorCore", path(c.tensor_core_calls, c.tensor_core_outputs));
  out.Set("plainBf16", path(c.plain_bf16_calls, c.plain_bf16_outputs));
  out.Set("plainFloat32", path(c.plain_f32_calls, c.plain_f32_outputs));
  return out;
}

Napi::Value js_gemm_auto_reset(const Napi::CallbackInfo& info) {
  cuda::gemm_auto_reset();
  return info.Env().Undefined();
}

Napi::Value js_empty_cache(const Napi::CallbackInfo& info) {
  cuda::empty_cache();
  return info.Env().Undefined();
}

Napi::Value js_set_kernel(const Napi::CallbackInfo& info) {
  if (!info[0].IsString() || !info[1].IsString()) throw_type("setKernel", "expected (op: string, name: string)");
  set_kernel_choice(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
  return info.Env().Undefined();
}

Napi::Value js_kernels(const Napi::CallbackInfo& info) {
  auto out = Napi::Object::New(info.Env());
  for (const std::string& op : kernel_ops()) out.Set(op, kernel_choice(op));
  return out;
}

}  // namespace convmae
