// adamw(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step) and
// adamwMulti(params[], grads[], ms[], vs[], lrs[], weightDecays[], beta1, beta2, eps, step):
// bindings and dispatch (contract in adamw.h). Hyperparameters are checked as
// torch.optim.AdamW checks them.
#include "ops/adamw.h"

#include <cmath>
#include <set>
#include <string>

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {
namespace {

double finite_at_least(const Args& a, size_t i, const char* name, double lo) {
  double v = a.number(i, name);
  if (!std::isfinite(v) || v < lo)
    throw_range(a.op(), std::string("`") + name + "` = " + std::to_string(v) + " must be finite and >= " +
                            std::to_string(lo));
  return v;
}

double beta(const Args& a, size_t i, const char* name) {
  double v = a.number(i, name);
  if (!(v >= 0 && v < 1)) throw_range(a.op(), std::string("`") + name + "` = " + std::to_string(v) + " is outside [0, 1)");
  return v;
}

double array_number(const Napi::Array& arr, uint32_t j, const char* name) {
  const Napi::Value v = arr.Get(j);
  const double x = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!std::isfinite(x) || x < 0)
    throw_range("adamwMulti", std::string("`") + name + "[" + std::to_string(j) + "]` must be a finite number >= 0");
  return x;
}

}  // namespace

Napi::Value js_adamw(const Napi::CallbackInfo& info) {
  Args a(info, "adamw");
  AdamwParams p{};
  p.param = &a.buffer(0, "param");
  p.grad = &a.buffer(1, "grad");
  p.m = &a.buffer(2, "m");
  p.v = &a.buffer(3, "v");
  p.lr = finite_at_least(a, 4, "lr", 0);
  p.beta1 = beta(a, 5, "beta1");
  p.beta2 = beta(a, 6, "beta2");
  p.eps = finite_at_least(a, 7, "eps", 0);
  p.weight_decay = finite_at_least(a, 8, "weightDecay", 0);
  p.step = a.integer(9, "step", 1, int64_t(1) << 52);
  a.expect_dtype(*p.param, DType::F32, "param");
  a.expect_same(*p.grad, *p.param, "grad", "param");
  a.expect_same(*p.m, *p.param, "m", "param");
  a.expect_same(*p.v, *p.param, "v", "param");
  a.expect_numel(*p.grad, p.param->numel, "grad");
  a.expect_numel(*p.m, p.param->numel, "m");
  a.expect_numel(*p.v, p.param->numel, "v");
  const Buffer* bufs[4] = {p.param, p.grad, p.m, p.v};
  const char* names[4] = {"param", "grad", "m", "v"};
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j < 4; ++j)
      if (bufs[i] == bufs[j])
        throw_error("adamw", std::string("`") + names[i] + "` and `" + names[j] + "` are the same buffer");
  CM_DISPATCH("adamw", p.param->device, cpu_adamw(p), cuda_adamw(p));
  return info.Env().Undefined();
}

Napi::Value js_adamw_multi(const Napi::CallbackInfo& info) {
  Args a(info, "adamwMulti");
  const Napi::Array params = a.array(0, "params");
  const int64_t n = params.Length();
  const Napi::Array grads = a.array(1, "grads", n, "params"), ms = a.array(2, "ms", n, "params"),
                    vs = a.array(3, "vs", n, "params"), lrs = a.array(4, "lrs", n, "params"),
                    wds = a.array(5, "weightDecays", n, "params");
  AdamwMultiParams p{};
  p.beta1 = beta(a, 6, "beta1");
  p.beta2 = beta(a, 7, "beta2");
  p.eps = finite_at_least(a, 8, "eps", 0);
  p.step = a.integer(9, "step", 1, int64_t(1) << 52);
  std::set<const Buffer*> seen;
  for (uint32_t j = 0; j < uint32_t(n); ++j) {
    AdamwTensor t{&a.array_buffer(params, j, "params"), &a.array_buffer(grads, j, "grads"), &a.array_buffer(ms, j, "ms"),
                  &a.array_buffer(vs, j, "vs"), array_number(lrs, j, "lrs"), array_number(wds, j, "weightDecays")};
    const std::string at = "[" + std::to_string(j) + "]";
    a.expect_dtype(*t.param, DType::F32, ("params" + at).c_str());
    if (!p.tensors.empty()) a.expect_same(*t.param, *p.tensors[0].param, ("params" + at).c_str(), "params[0]");
    const Buffer* bufs[4] = {t.param, t.grad, t.m, t.v};
    const char* names[4] = {"params", "grads", "ms", "vs"};
    for (int i = 0; i < 4; ++i) {
      const std::string name = names[i] + at;
      if (i > 0) {
        a.expect_same(*bufs[i], *t.param, name.c_str(), ("params" + at).c_str());
        a.expect_numel(*bufs[i], t.param->numel, name.c_str());
      }
      if (!seen.insert(bufs[i]).second) throw_error("adamwMulti", "`" + name + "` is a buffer given twice");
    }
    p.tensors.push_back(t);
  }
  if (p.tensors.empty()) return info.Env().Undefined();
  CM_DISPATCH("adamwMulti", p.tensors[0].param->device, cpu_adamw_multi(p), cuda_adamw_multi(p));
  return info.Env().Undefined();
}

}  // namespace convmae
