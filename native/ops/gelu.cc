// gelu(y, x) and geluBackward(dx, dy, x): bindings and dispatch (contract in gelu.h).
#include "ops/gelu.h"

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {

Napi::Value js_gelu(const Napi::CallbackInfo& info) {
  Args a(info, "gelu");
  GeluParams p{&a.buffer(0, "y"), &a.buffer(1, "x")};
  a.expect_float(*p.x, "x");
  a.expect_same(*p.y, *p.x, "y", "x");
  a.expect_numel(*p.y, p.x->numel, "y");
  if (p.x->numel == 0) return info.Env().Undefined();
  CM_DISPATCH("gelu", p.x->device, cpu_gelu(p), cuda_gelu(p));
  return info.Env().Undefined();
}

Napi::Value js_gelu_backward(const Napi::CallbackInfo& info) {
  Args a(info, "geluBackward");
  GeluBackwardParams p{&a.buffer(0, "dx"), &a.buffer(1, "dy"), &a.buffer(2, "x")};
  a.expect_float(*p.x, "x");
  a.expect_same(*p.dx, *p.x, "dx", "x");
  a.expect_same(*p.dy, *p.x, "dy", "x");
  a.expect_numel(*p.dx, p.x->numel, "dx");
  a.expect_numel(*p.dy, p.x->numel, "dy");
  if (p.x->numel == 0) return info.Env().Undefined();
  CM_DISPATCH("geluBackward", p.x->device, cpu_gelu_backward(p), cuda_gelu_backward(p));
  return info.Env().Undefined();
}

}  // namespace convmae
