// CPU reference for adamw (contract in native/ops/adamw.h). Elements are independent; each one
// is read into locals before anything is written back.
#include <cmath>

#include "ops/adamw.h"
#include "parallel.h"

namespace convmae {

void cpu_adamw(const AdamwParams& p) {
  float* param = p.param->as<float>();
  const float* grad = p.grad->as<float>();
  float* m = p.m->as<float>();
  float* v = p.v->as<float>();
  const double bc1 = 1.0 - std::pow(p.beta1, double(p.step));
  const double bc2 = 1.0 - std::pow(p.beta2, double(p.step));
  const double decay = 1.0 - p.lr * p.weight_decay;
  parallel_for(p.param->numel, 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const double g = grad[i];
      const double mi = p.beta1 * double(m[i]) + (1.0 - p.beta1) * g;
      const double vi = p.beta2 * double(v[i]) + (1.0 - p.beta2) * g * g;
      const double pi = double(param[i]) * decay - p.lr * (mi / bc1) / (std::sqrt(vi / bc2) + p.eps);
      m[i] = float(mi);
      v[i] = float(vi);
      param[i] = float(pi);
    }
  });
}

void cpu_adamw_multi(const AdamwMultiParams& p) {
  for (const AdamwTensor& t : p.tensors)
    cpu_adamw(AdamwParams{t.param, t.grad, t.m, t.v, t.lr, p.beta1, p.beta2, p.eps, t.weight_decay, p.step});
}

}  // namespace convmae
