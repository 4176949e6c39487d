// The native surface of convmae: one line per export. lib/binding.ts declares each one.
#include "napi_args.h"

namespace convmae {
// core.cc
Napi::Value js_alloc(const Napi::CallbackInfo&);
Napi::Value js_free(const Napi::CallbackInfo&);
Napi::Value js_is_alive(const Napi::CallbackInfo&);
Napi::Value js_upload(const Napi::CallbackInfo&);
Napi::Value js_download(const Napi::CallbackInfo&);
Napi::Value js_copy(const Napi::CallbackInfo&);
Napi::Value js_memory(const Napi::CallbackInfo&);
Napi::Value js_reset_peak(const Napi::CallbackInfo&);
Napi::Value js_backends(const Napi::CallbackInfo&);
Napi::Value js_synchronize(const Napi::CallbackInfo&);
Napi::Value js_empty_cache(const Napi::CallbackInfo&);
// ops/*.cc
Napi::Value js_fill(const Napi::CallbackInfo&);
Napi::Value js_cast(const Napi::CallbackInfo&);
Napi::Value js_binary(const Napi::CallbackInfo&);
Napi::Value js_scale(const Napi::CallbackInfo&);
Napi::Value js_gemm(const Napi::CallbackInfo&);
Napi::Value js_reduce_sum(const Napi::CallbackInfo&);
}  // namespace convmae

using namespace convmae;

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  CM_EXPORT(exports, "alloc", js_alloc);
  CM_EXPORT(exports, "free", js_free);
  CM_EXPORT(exports, "isAlive", js_is_alive);
  CM_EXPORT(exports, "upload", js_upload);
  CM_EXPORT(exports, "download", js_download);
  CM_EXPORT(exports, "copy", js_copy);
  CM_EXPORT(exports, "memory", js_memory);
  CM_EXPORT(exports, "resetPeak", js_reset_peak);
  CM_EXPORT(exports, "backends", js_backends);
  CM_EXPORT(exports, "synchronize", js_synchronize);
  CM_EXPORT(exports, "emptyCache", js_empty_cache);
  CM_EXPORT(exports, "fill", js_fill);
  CM_EXPORT(exports, "cast", js_cast);
  CM_EXPORT(exports, "binary", js_binary);
  CM_EXPORT(exports, "scale", js_scale);
  CM_EXPORT(exports, "gemm", js_gemm);
  CM_EXPORT(exports, "sum", js_reduce_sum);
  return exports;
}

NODE_API_MODULE(convmae, Init)
