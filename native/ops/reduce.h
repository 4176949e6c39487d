// sum over one axis of a row-major [rows, cols] float tensor:
//   axis 0: out[c] = scale * Σ_r in[r, c]      (e.g. bias gradients)
//   axis 1: out[r] = scale * Σ_c in[r, c]      (rows = 1 gives the total)
// scale is 1 for a sum, 1/count for a mean. Accumulates in double on the CPU, fp32 on CUDA.
// With accumulate, out += instead of out =.
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {
struct ReduceParams {
  Buffer* out;
  const Buffer* in;
  int64_t rows, cols;
  int axis;
  double scale;
  bool accumulate;
};
void cpu_reduce_sum(const ReduceParams& p);
void cuda_reduce_sum(const ReduceParams& p);
}  // namespace convmae
