// CPU reference for gelu and its backward (contract in native/ops/gelu.h): the exact erf form,
// computed in the tensor's dtype with std::erfc: Φ(x) = erfc(−x/√2)/2, the same
// function as PyTorch's (1 + erf(x/√2))/2 without its cancellation for negative x.
#include <cmath>

#include "float_dispatch.h"
#include "ops/gelu.h"
#include "parallel.h"

namespace convmae {
namespace {
constexpr double kSqrtHalf = 0.70710678118654752440;      // 1/√2
constexpr double kInvSqrt2Pi = 0.39894228040143267794;    // 1/√(2π)
constexpr int64_t kGrain = 1 << 14;
}  // namespace

void cpu_gelu(const GeluParams& p) {
  cpu_float_dispatch(p.x->dtype, "gelu", [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->as<T>();
    T* y = p.y->as<T>();
    parallel_for(p.x->numel, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T v = x[i];
        y[i] = T(0.5) * v * std::erfc(-v * T(kSqrtHalf));
      }
    });
  });
}

void cpu_gelu_backward(const GeluBackwardParams& p) {
  cpu_float_dispatch(p.x->dtype, "geluBackward", [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->as<T>();
    const T* dy = p.dy->as<T>();
    T* dx = p.dx->as<T>();
    parallel_for(p.x->numel, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T v = x[i];
        const T cdf = T(0.5) * std::erfc(-v * T(kSqrtHalf));   // Φ(x)
        const T pdf = std::exp(T(-0.5) * v * v) * T(kInvSqrt2Pi);    // φ(x)
        dx[i] = dy[i] * (cdf + v * pdf);
      }
    });
  });
}

}  // namespace convmae
