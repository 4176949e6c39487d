// cast(out, in) and castMulti(outs[], ins[]): bindings and dispatch (contract in cast.h).
#include "ops/cast.h"

#include <set>
#include <string>

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {

Napi::Value js_cast(const Napi::CallbackInfo& info) {
  Args a(info, "cast");
  CastParams p{&a.buffer(0, "out"), &a.buffer(1, "input")};
  a.expect_device(*p.in, p.out->device, "input");
  a.expect_numel(*p.in, p.out->numel, "input");
  shadow_drop(*p.out);
  CM_DISPATCH("cast", p.out->device, cpu_cast(p), cuda_cast(p));
  return info.Env().Undefined();
}

Napi::Value js_cast_multi(const Napi::CallbackInfo& info) {
  Args a(info, "castMulti");
  const Napi::Array outs = a.array(0, "outs");
  const Napi::Array ins = a.array(1, "ins", outs.Length(), "outs");
  CastMultiParams p;
  std::set<const Buffer*> written;
  for (uint32_t j = 0; j < outs.Length(); ++j) {
    CastParams c{&a.array_buffer(outs, j, "outs"), &a.array_buffer(ins, j, "ins")};
    const std::string at = "[" + std::to_string(j) + "]";
    a.expect_device(*c.in, c.out->device, ("ins" + at).c_str());
    if (!p.pairs.empty()) a.expect_device(*c.out, p.pairs[0].out->device, ("outs" + at).c_str());
    a.expect_numel(*c.in, c.out->numel, ("ins" + at).c_str());
    if (!written.insert(c.out).second) throw_error(a.op(), "`outs" + at + "` is a buffer given twice");
    p.pairs.push_back(c);
  }
  for (const CastParams& c : p.pairs)
    if (written.count(c.in)) throw_error(a.op(), "an entry of `ins` is also an entry of `outs`; outputs need their own storage");
  if (p.pairs.empty()) return info.Env().Undefined();
  for (const CastParams& c : p.pairs) shadow_drop(*c.out);
  CM_DISPATCH("castMulti", p.pairs[0].out->device, cpu_cast_multi(p), cuda_cast_multi(p));
  return info.Env().Undefined();
}

}  // namespace convmae
