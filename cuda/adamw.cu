// adamw on CUDA (full contract in native/ops/adamw.h): one AdamW step in place over float32
// param, m and v, reading grad; torch.optim.AdamW semantics (decoupled weight decay), t = step:
//   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
//   p ← p − lr·(m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + eps)
// float32 storage only. As on the CPU the arithmetic runs in double and each stored value is
// rounded to float32 once (elementwise and memory-bound, so fp64 costs nothing that matters on
// the target GPUs). Bias corrections are formed on the host. Grid-stride loop; each element is
// read into registers before it is written.
#include <cmath>

#include "ops/adamw.h"
#include "runtime.cuh"

namespace convmae {

namespace {
struct AdamwScalars {
  double lr, beta1, beta2, eps, bc1, bc2, decay;
};

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, int64_t n, AdamwScalars s) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const double g = grad[i];
    const double mi = s.beta1 * double(m[i]) + (1.0 - s.beta1) * g;
    const double vi = s.beta2 * double(v[i]) + (1.0 - s.beta2) * g * g;
    const double pi = double(param[i]) * s.decay - s.lr * (mi / s.bc1) / (sqrt(vi / s.bc2) + s.eps);
    m[i] = float(mi);
    v[i] = float(vi);
    param[i] = float(pi);
  }
}
}  // namespace

void cuda_adamw(const AdamwParams& p) {
  const int64_t n = p.param->numel;
  if (n == 0) return;
  AdamwScalars s{p.lr, p.beta1, p.beta2, p.eps, 1.0 - std::pow(p.beta1, double(p.step)),
                 1.0 - std::pow(p.beta2, double(p.step)), 1.0 - p.lr * p.weight_decay};
  adamw_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(p.param->as<float>(), p.grad->as<float>(),
                                                                  p.m->as<float>(), p.v->as<float>(), n, s);
}

}  // namespace convmae
