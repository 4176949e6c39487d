// fill(out, value): binding and dispatch (contract in fill.h).
#include "ops/fill.h"

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {

Napi::Value js_fill(const Napi::CallbackInfo& info) {
  Args a(info, "fill");
  FillParams p{&a.buffer(0, "out"), a.number(1, "value")};
  shadow_drop(*p.out);
  CM_DISPATCH("fill", p.out->device, cpu_fill(p), cuda_fill(p));
  return info.Env().Undefined();
}

}  // namespace convmae
