// adamw: one AdamW step (torch.optim.AdamW semantics, decoupled weight decay), in place over one
// float32 parameter and its state; for each element, with t = step >= 1:
//   p ← p − lr·wd·p
//   m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
//   p ← p − lr·(m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + eps)
// param, m, v are updated (read and written); grad is read. The arithmetic runs in double and
// each result is rounded to float32 once. Preconditions (checked by the binding): four distinct
// float32 buffers of one size on one device.
#pragma once
#include <cstdint>

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
void cpu_adamw(const AdamwParams& p);
void cuda_adamw(const AdamwParams& p);
}  // namespace convmae
