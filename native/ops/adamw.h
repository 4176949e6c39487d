// adamw: one AdamW step (torch.optim.AdamW semantics, decoupled weight decay), in place over one
// float32 parameter and its state; for each element, with t = step >= 1:
//   p ← p − lr·wd·p
//   m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
//   p ← p − lr·(m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + eps)
// param, m, v are updated (read and written); grad is read. The arithmetic runs in double and
// each result is rounded to float32 once. Preconditions (checked by the binding): four distinct
// float32 buffers of one size on one device.
// adamw_multi: the same step over many parameters at once (each with its own lr and weight
// decay; beta1, beta2, eps and step shared), in as few launches as the CUDA parameter space
// allows. Every tensor's result equals what adamw gives it. Preconditions (checked by the
// binding): every buffer float32 on one device, each tensor's four of one size, no buffer twice.
#pragma once
#include <cstdint>
#include <vector>

#include "buffer.h"

namespace convmae {
struct AdamwParams {
  Buffer* param;
  const Buffer* grad;
  Buffer* m;
  Buffer* v;
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;
};
struct AdamwTensor {
  Buffer* param;
  const Buffer* grad;
  Buffer* m;
  Buffer* v;
  double lr, weight_decay;
};
struct AdamwMultiParams {
  std::vector<AdamwTensor> tensors;
  double beta1, beta2, eps;
  int64_t step;
};
void cpu_adamw(const AdamwParams& p);
void cuda_adamw(const AdamwParams& p);
void cpu_adamw_multi(const AdamwMultiParams& p);
void cuda_adamw_multi(const AdamwMultiParams& p);
}  // namespace convmae
