// Elementwise arithmetic on float tensors of one dtype and device.
//   binary: out[i] = a[i] (op) b[i % b.numel]   op in {add, sub, mul, div}; b may be broadcast
//           over leading dims (a.numel % b.numel == 0). out may alias a (in-place accumulate).
//   scale:  out[i] = alpha * in[i] + beta.      out may alias in.
//   sampleScale: out[i] = base[i] + s[i / per] * x[i], per = x.numel / s.numel: one factor per
//           sample of x [samples, ...] (stochastic depth, and its residual add when base is given;
//           without base the sum is s·x). out may alias x or base.
#pragma once
#include "buffer.h"

namespace convmae {
enum class BinaryKind : int { Add = 0, Sub = 1, Mul = 2, Div = 3 };
struct BinaryParams {
  Buffer* out;
  const Buffer* a;
  const Buffer* b;
  BinaryKind kind;
};
struct ScaleParams {
  Buffer* out;
  const Buffer* in;
  double alpha, beta;
};
struct SampleScaleParams {
  Buffer* out;
  const Buffer* x;
  const Buffer* s;
  const Buffer* base;  // may be null
};
void cpu_binary(const BinaryParams& p);
void cuda_binary(const BinaryParams& p);
void cpu_scale(const ScaleParams& p);
void cuda_scale(const ScaleParams& p);
void cpu_sample_scale(const SampleScaleParams& p);
void cuda_sample_scale(const SampleScaleParams& p);
}  // namespace convmae
