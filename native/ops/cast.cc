// cast(out, in): binding and dispatch (contract in cast.h).
#include "ops/cast.h"

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

}  // namespace convmae
