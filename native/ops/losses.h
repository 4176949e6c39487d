// Losses, each reduced to one scalar, with their backward kernels.
//
// masked_mse_loss (SPEC.md 2.10): pred and target [rows, P], mask [rows] (1 = masked).
//   t̂[r] = target[r], or with norm_pix (target[r] − μ_r)/sqrt(σ²_r + 1e-6), μ_r the mean and σ²_r
//   the unbiased variance (divisor P − 1, so P >= 2) of that row;
//   e[r] = mean_k (pred[r,k] − t̂[r,k])²;  loss[0] = Σ_r mask[r]·e[r] / Σ_r mask[r]   (=)
//   (0 when Σ mask is 0). Backward: dpred[r,k] = dloss·mask[r]/Σmask·2/P·(pred − t̂)   (=),
//   no gradient for target or mask.
//
// cross_entropy: logits and soft targets t [N, C], N >= 1, C >= 1.
//   loss[0] = (1/N)·Σ_n Σ_c −t[n,c]·log_softmax(logits[n])[c]   (=), log-sum-exp with the row max
//   subtracted. Backward: dlogits[n,c] = (softmax[n,c]·Σ_c' t[n,c'] − t[n,c])·dloss/N   (=),
//   which is (softmax − t)·dloss/N for targets that sum to 1.
//
// Sums run in double for both float dtypes. Preconditions (checked by the bindings): one float
// dtype and one device for every buffer, element counts as above, loss/dloss one element,
// outputs distinct from inputs.
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {
struct MaskedMseLossParams {
  Buffer* loss;  // [1]
  const Buffer* pred;
  const Buffer* target;
  const Buffer* mask;
  int64_t rows, p;
  bool norm_pix;
};
struct MaskedMseLossBackwardParams {
  Buffer* dpred;        // [rows, P]
  const Buffer* dloss;  // [1]
  const Buffer* pred;
  const Buffer* target;
  const Buffer* mask;
  int64_t rows, p;
  bool norm_pix;
};
struct CrossEntropyParams {
  Buffer* loss;  // [1]
  const Buffer* logits;
  const Buffer* targets;
  int64_t n, c;
};
struct CrossEntropyBackwardParams {
  Buffer* dlogits;      // [N, C]
  const Buffer* dloss;  // [1]
  const Buffer* logits;
  const Buffer* targets;
  int64_t n, c;
};
void cpu_masked_mse_loss(const MaskedMseLossParams& p);
void cpu_masked_mse_loss_backward(const MaskedMseLossBackwardParams& p);
void cpu_cross_entropy(const CrossEntropyParams& p);
void cpu_cross_entropy_backward(const CrossEntropyBackwardParams& p);
void cuda_masked_mse_loss(const MaskedMseLossParams& p);
void cuda_masked_mse_loss_backward(const MaskedMseLossBackwardParams& p);
void cuda_cross_entropy(const CrossEntropyParams& p);
void cuda_cross_entropy_backward(const CrossEntropyBackwardParams& p);
}  // namespace convmae
