// CPU reference for fill (contract in native/ops/fill.h).
#include "ops/fill.h"

#include "parallel.h"

namespace convmae {

template <typename T>
static void fill_typed(T* out, int64_t n, T v) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = v;
  });
}

void cpu_fill(const FillParams& p) {
  Buffer& o = *p.out;
  switch (o.dtype) {
    case DType::F32: fill_typed(o.as<float>(), o.numel, float(p.value)); break;
    case DType::F64: fill_typed(o.as<double>(), o.numel, p.value); break;
    case DType::BF16: fill_typed(o.as<uint16_t>(), o.numel, float_to_bf16(float(p.value))); break;
    case DType::F16: fill_typed(o.as<uint16_t>(), o.numel, float_to_f16(float(p.value))); break;
    case DType::I32: fill_typed(o.as<int32_t>(), o.numel, int32_t(p.value)); break;
    case DType::I64: fill_typed(o.as<int64_t>(), o.numel, int64_t(p.value)); break;
  }
}

}  // namespace convmae
