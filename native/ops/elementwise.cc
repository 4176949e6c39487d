// binary(kind, out, a, b), scale(out, in, alpha, beta) and sampleScale(out, x, s, base): bindings
// and dispatch (contract in elementwise.h).
#include "ops/elementwise.h"

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {

Napi::Value js_binary(const Napi::CallbackInfo& info) {
  Args a(info, "binary");
  BinaryParams p{nullptr, nullptr, nullptr, BinaryKind(int(a.integer(0, "kind", 0, 3)))};
  p.out = &a.buffer(1, "out");
  p.a = &a.buffer(2, "a");
  p.b = &a.buffer(3, "b");
  a.expect_float(*p.out, "out");
  a.expect_same(*p.a, *p.out, "a", "out");
  a.expect_same(*p.b, *p.out, "b", "out");
  a.expect_numel(*p.a, p.out->numel, "a");
  if (p.b->numel == 0 ? p.a->numel != 0 : p.a->numel % p.b->numel != 0)
    throw_range("binary", "`b` has " + std::to_string(p.b->numel) + " elements, which do not tile the " +
                              std::to_string(p.a->numel) + " of `a`");
  if (p.out->numel == 0) return info.Env().Undefined();
  CM_DISPATCH("binary", p.out->device, cpu_binary(p), cuda_binary(p));
  return info.Env().Undefined();
}

Napi::Value js_scale(const Napi::CallbackInfo& info) {
  Args a(info, "scale");
  ScaleParams p{&a.buffer(0, "out"), &a.buffer(1, "input"), a.number(2, "alpha"), a.number(3, "beta")};
  a.expect_float(*p.out, "out");
  a.expect_same(*p.in, *p.out, "input", "out");
  a.expect_numel(*p.in, p.out->numel, "input");
  CM_DISPATCH("scale", p.out->device, cpu_scale(p), cuda_scale(p));
  return info.Env().Undefined();
}

Napi::Value js_sample_scale(const Napi::CallbackInfo& info) {
  Args a(info, "sampleScale");
  SampleScaleParams p{&a.buffer(0, "out"), &a.buffer(1, "x"), &a.buffer(2, "s"), a.optional_buffer(3, "base")};
  a.expect_float(*p.out, "out");
  a.expect_same(*p.x, *p.out, "x", "out");
  a.expect_same(*p.s, *p.out, "s", "out");
  a.expect_numel(*p.x, p.out->numel, "x");
  if (p.base) {
    a.expect_same(*p.base, *p.out, "base", "out");
    a.expect_numel(*p.base, p.out->numel, "base");
  }
  if (p.s->numel == 0 || p.x->numel % p.s->numel != 0)
    throw_range("sampleScale", "`s` has " + std::to_string(p.s->numel) + " factors, which do not split the " +
                                   std::to_string(p.x->numel) + " elements of `x` into samples");
  CM_DISPATCH("sampleScale", p.out->device, cpu_sample_scale(p), cuda_sample_scale(p));
  return info.Env().Undefined();
}

}  // namespace convmae
