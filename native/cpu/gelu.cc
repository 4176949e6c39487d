// CPU reference for gelu and its backward (contract in native/ops/gelu.h): the exact erf form of
// native/cpu/gelu_math.h, in the tensor's dtype.
#include "cpu/gelu_math.h"
#include "float_dispatch.h"
#include "ops/gelu.h"
#include "parallel.h"

namespace convmae {
namespace {
constexpr int64_t kGrain = 1 << 14;
}  // namespace

void cpu_gelu(const GeluParams& p) {
  cpu_float_dispatch(p.x->dtype, "gelu", [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->as<T>();
    T* y = p.y->as<T>();
    parallel_for(p.x->numel, kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        y[i] = gelu_value(x[i]);
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
        dx[i] = dy[i] * gelu_derivative(x[i]);
      }
    });
  });
}

}  // namespace convmae
