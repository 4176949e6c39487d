// Row gather and its gradient, over row-major [rows, C] float tensors with int32 indices:
//   gatherRows(out, x, idx, M, R, C):      out[m, :] = x[idx[m], :]                  (=)
//   scatterAddRows(dx, dy, idx, M, R, C):  dx[idx[m], :] += dy[m, :] for every m      (+=)
// x and dx are [R, C], out and dy [M, C], idx [M]. Repeated indices are summed (the scatter
// splits the columns among tasks, each walking the indices in order, so the result does not
// depend on the thread count). On CUDA (cuda/gather_rows.cu, float32/bfloat16) the sums are fp32
// atomics, so their order, and the last bit of a float32 result, may vary from run to run; a
// bfloat16 dx is rounded once, after all of its sums. The caller zeroes dx for a plain gradient.
// Preconditions
// (checked by the bindings): every idx value in [0, R); sizes as above.
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {

struct GatherRowsParams {
  Buffer* out;      // gatherRows: out [M, C]; scatterAddRows: dx [R, C]
  const Buffer* in; // gatherRows: x [R, C]; scatterAddRows: dy [M, C]
  const Buffer* idx;
  int64_t m, r, c;
};

void cpu_gather_rows(const GatherRowsParams& p);
void cpu_scatter_add_rows(const GatherRowsParams& p);
void cuda_gather_rows(const GatherRowsParams& p);
void cuda_scatter_add_rows(const GatherRowsParams& p);

}  // namespace convmae
