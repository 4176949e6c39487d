// fill: out[i] = value for every element, any dtype (floats rounded to the dtype, ints truncated).
#pragma once
#include "buffer.h"

namespace convmae {
struct FillParams {
  Buffer* out;
  double value;
};
void cpu_fill(const FillParams& p);
void cuda_fill(const FillParams& p);
}  // namespace convmae
