// CPU reference for cast and cast_multi (contract in native/ops/cast.h). Values pass through
// double; cast_multi casts its pairs one after another.
#include "ops/cast.h"

#include "parallel.h"

namespace convmae {
namespace {

double load(const void* p, DType d, int64_t i) {
  switch (d) {
    case DType::F32: return static_cast<const float*>(p)[i];
    case DType::F64: return static_cast<const double*>(p)[i];
    case DType::BF16: return bf16_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::F16: return f16_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::I32: return static_cast<const int32_t*>(p)[i];
    case DType::I64: return double(static_cast<const int64_t*>(p)[i]);
  }
  return 0;
}

void store(void* p, DType d, int64_t i, double v) {
  switch (d) {
    case DType::F32: static_cast<float*>(p)[i] = float(v); break;
    case DType::F64: static_cast<double*>(p)[i] = v; break;
    case DType::BF16: static_cast<uint16_t*>(p)[i] = float_to_bf16(float(v)); break;
    case DType::F16: static_cast<uint16_t*>(p)[i] = float_to_f16(float(v)); break;
    case DType::I32: static_cast<int32_t*>(p)[i] = int32_t(v); break;
    case DType::I64: static_cast<int64_t*>(p)[i] = int64_t(v); break;
  }
}

}  // namespace

void cpu_cast(const CastParams& p) {
  const Buffer& in = *p.in;
  Buffer& out = *p.out;
  if (in.dtype == DType::I64 && out.dtype == DType::I64) {
    std::copy(in.as<int64_t>(), in.as<int64_t>() + in.numel, out.as<int64_t>());
    return;
  }
  parallel_for(in.numel, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) store(out.data, out.dtype, i, load(in.data, in.dtype, i));
  });
}

void cpu_cast_multi(const CastMultiParams& p) {
  for (const CastParams& c : p.pairs) cpu_cast(c);
}

}  // namespace convmae
