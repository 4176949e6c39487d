// The emulated build's emuSelfTest(name) export (registered in native/addon.cc): runs one of the
// rule-breaking kernels of emu/selftest.cu and returns what the emulator reported.
#include <string>

#include "errors.h"
#include "napi_args.h"

namespace convmae {
std::string emu_selftest(const std::string& name);

Napi::Value js_emu_selftest(const Napi::CallbackInfo& info) {
  if (info.Length() != 1 || !info[0].IsString()) throw_type("emuSelfTest", "expected (name: string)");
  return Napi::String::New(info.Env(), emu_selftest(info[0].As<Napi::String>().Utf8Value()));
}
}  // namespace convmae
