// adamw(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step): binding and dispatch
// (contract in adamw.h). Hyperparameters are checked as torch.optim.AdamW checks them.
#include "ops/adamw.h"

#include <cmath>
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

}  // namespace convmae
