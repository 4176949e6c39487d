// 2×2 max pooling with stride 2 over [N, C, H, W] float maps (H, W even), and its gradient:
//   maxPool2x2(out, argmax, x, N, C, H, W):
//     out[n, c, i, j] = max of x[n, c, 2i..2i+1, 2j..2j+1]                            (=)
//     argmax[n, c, i, j] = int32 index y*W + x of that maximum inside the (n, c) plane; ties
//     take the first in raster order; a NaN wins (the first NaN, as in PyTorch).
//   maxPool2x2Backward(dx, dout, argmax, N, C, H, W):
//     dx[n, c, argmax[n, c, i, j]] = dout[n, c, i, j], 0 elsewhere                    (=)
// out, argmax and dout are [N, C, H/2, W/2], x and dx [N, C, H, W]. Preconditions (checked by
// the bindings): H and W even; every argmax value inside its own 2×2 window. CPU: float32/float64;
// CUDA (cuda/maxpool.cu): float32/bfloat16, the same results bit for bit.
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {

struct MaxPoolParams {
  Buffer* out;         // forward: out; backward: dx
  Buffer* argmax;      // forward only (written)
  const Buffer* in;    // forward: x; backward: dout
  const Buffer* index; // backward only: the argmax of the forward
  int64_t n, c, h, w;
};

void cpu_max_pool2x2(const MaxPoolParams& p);
void cpu_max_pool2x2_backward(const MaxPoolParams& p);
void cuda_max_pool2x2(const MaxPoolParams& p);
void cuda_max_pool2x2_backward(const MaxPoolParams& p);

}  // namespace convmae
