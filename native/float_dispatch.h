// Calls fn(T{}) with T = float or double for the CPU kernels' two dtypes; any other dtype throws.
#pragma once
#include "dtype.h"
#include "errors.h"

namespace convmae {

template <typename Fn>
void cpu_float_dispatch(DType d, const char* op, Fn&& fn) {
  switch (d) {
    case DType::F32: fn(float{}); return;
    case DType::F64: fn(double{}); return;
    default: throw_type(op, std::string("cpu kernels take float32 or float64, not ") + dtype_name(d));
  }
}

}  // namespace convmae
