// The profile build's emuAccessProfile(action) export (registered in native/addon.cc):
// 'start' begins recording (emu/access_profile.h); 'stop' ends it and returns one object per code
// site of each launch: launch ("file.cu:line kernel"), { module, offset } (the shared object and
// the address's offset in it, for addr2line),
// space ('shared' | 'global'), store, requests, laneAccesses, bytes, transactions (wavefronts or
// sectors) and ideal.
#include <dlfcn.h>

#include <string>

#include "access_profile.h"
#include "errors.h"
#include "napi_args.h"

namespace convmae {

Napi::Value js_emu_access_profile(const Napi::CallbackInfo& info) {
  const char* op = "emuAccessProfile";
  if (info.Length() != 1 || !info[0].IsString()) throw_type(op, "expected (action: 'start' | 'stop')");
  const std::string action = info[0].As<Napi::String>().Utf8Value();
  Napi::Env env = info.Env();
  if (action == "start") {
    emu::access_profile_start();
    return env.Undefined();
  }
  if (action != "stop") throw_range(op, "expected `action` 'start' or 'stop' but got '" + action + "'");
  const std::vector<emu::AccessStat> stats = emu::access_profile_stop();
  Napi::Array out = Napi::Array::New(env, stats.size());
  for (size_t i = 0; i < stats.size(); ++i) {
    const emu::AccessStat& s = stats[i];
    Dl_info where{};
    // The site is the return address of the hook's call: one byte back lies inside the access's line.
    const uintptr_t pc = s.site - 1;
    const bool found = dladdr(reinterpret_cast<void*>(pc), &where) != 0 && where.dli_fname;
    Napi::Object o = Napi::Object::New(env);
    o.Set("launch", s.launch ? s.launch : "");
    o.Set("module", found ? where.dli_fname : "");
    o.Set("offset", double(found ? pc - reinterpret_cast<uintptr_t>(where.dli_fbase) : pc));
    o.Set("space", s.space == emu::AccessSpace::Shared ? "shared" : "global");
    o.Set("store", s.store);
    o.Set("requests", double(s.requests));
    o.Set("laneAccesses", double(s.lane_accesses));
    o.Set("bytes", double(s.bytes));
    o.Set("transactions", double(s.transactions));
    o.Set("ideal", double(s.ideal));
    out.Set(uint32_t(i), o);
  }
  return out;
}

}  // namespace convmae
