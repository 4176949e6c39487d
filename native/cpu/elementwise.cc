// CPU reference for binary, scale and sampleScale (contract in native/ops/elementwise.h).
#include "ops/elementwise.h"

#include "float_dispatch.h"
#include "parallel.h"

namespace convmae {

void cpu_binary(const BinaryParams& p) {
  cpu_float_dispatch(p.out->dtype, "binary", [&](auto zero) {
    using T = decltype(zero);
    const T* a = p.a->as<T>();
    const T* b = p.b->as<T>();
    T* o = p.out->as<T>();
    const int64_t n = p.a->numel, nb = p.b->numel;
    parallel_for(n, 1 << 15, [&](int64_t lo, int64_t hi) {
      int64_t j = lo % nb;
      for (int64_t i = lo; i < hi; ++i) {
        T x = a[i], y = b[j];
        switch (p.kind) {
          case BinaryKind::Add: o[i] = x + y; break;
          case BinaryKind::Sub: o[i] = x - y; break;
          case BinaryKind::Mul: o[i] = x * y; break;
          case BinaryKind::Div: o[i] = x / y; break;
        }
        if (++j == nb) j = 0;
      }
    });
  });
}

void cpu_scale(const ScaleParams& p) {
  cpu_float_dispatch(p.out->dtype, "scale", [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.in->as<T>();
    T* o = p.out->as<T>();
    const T alpha = T(p.alpha), beta = T(p.beta);
    parallel_for(p.in->numel, 1 << 15, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) o[i] = alpha * x[i] + beta;
    });
  });
}

void cpu_sample_scale(const SampleScaleParams& p) {
  cpu_float_dispatch(p.out->dtype, "sampleScale", [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->as<T>();
    const T* s = p.s->as<T>();
    const T* base = p.base ? p.base->as<T>() : nullptr;
    T* o = p.out->as<T>();
    const int64_t per = p.x->numel / p.s->numel;
    parallel_for(p.x->numel, 1 << 15, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) o[i] = (base ? base[i] : T(0)) + s[i / per] * x[i];
    });
  });
}

}  // namespace convmae
