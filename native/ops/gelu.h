// gelu: the exact (erf) GELU, elementwise, and its backward (SPEC.md 2.1; not the tanh form):
//   forward:  y[i]  = 0.5 · x[i] · (1 + erf(x[i] / √2))                                   (=)
//   backward: dx[i] = dy[i] · (0.5 · (1 + erf(x[i] / √2)) + x[i] · exp(-x[i]² / 2) / √(2π))  (=)
// All buffers have one float dtype, one device and one element count. Each output element depends
// only on the same element of the inputs, so y may alias x and dx may alias dy or x.
#pragma once
#include "buffer.h"

namespace convmae {
struct GeluParams {
  Buffer* y;
  const Buffer* x;
};
struct GeluBackwardParams {
  Buffer* dx;
  const Buffer* dy;
  const Buffer* x;
};
void cpu_gelu(const GeluParams& p);
void cpu_gelu_backward(const GeluBackwardParams& p);
void cuda_gelu(const GeluParams& p);
void cuda_gelu_backward(const GeluBackwardParams& p);
}  // namespace convmae
