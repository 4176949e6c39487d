// layernorm: LayerNorm over the last dim of a row-major [rows, C] tensor (SPEC.md 2.1), with its
// backward. Biased variance, eps inside the square root:
//   forward:  mean[r] = Σ_c x[r,c] / C,   var[r] = Σ_c (x[r,c] - mean[r])² / C,
//             rstd[r] = 1 / sqrt(var[r] + eps),
//             y[r,c] = (x[r,c] - mean[r]) · rstd[r] · gamma[c] + beta[c]                 (=)
//             The variance is taken from centred values (two passes), so rows with a large
//             mean keep their precision; fp32 inputs accumulate in double.
//   backward: with x̂ = (x - mean)·rstd and g = dy·gamma,
//             dx[r,c]   = rstd[r] · (g[r,c] - mean_c(g[r,:]) - x̂[r,c] · mean_c(g[r,:]·x̂[r,:]))  (=)
//             dgamma[c] = Σ_r dy[r,c] · x̂[r,c],   dbeta[c] = Σ_r dy[r,c]                       (=)
//             with accumulate, dx += that instead (the gradient already collected for x, e.g. from
//             a residual connection, is added in the same pass).
// Layouts: x, y, dy, dx [rows, C]; gamma, beta, dgamma, dbeta [C], all of one float dtype and
// device; mean, rstd [rows] (saved by the forward for the backward) are float64 for float64 x and
// float32 otherwise, so that bfloat16 rows keep exact statistics (a bfloat16 mean would shift x̂ by
// up to 2^-9·|mean|/std in the backward). Outputs must be buffers distinct from every other
// argument. C ≥ 1; rows may be 0.
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {
struct LayerNormParams {
  Buffer* y;
  Buffer* mean;
  Buffer* rstd;
  const Buffer* x;
  const Buffer* gamma;
  const Buffer* beta;
  int64_t rows, c;
  double eps;
};
struct LayerNormBackwardParams {
  Buffer* dx;
  Buffer* dgamma;
  Buffer* dbeta;
  const Buffer* dy;
  const Buffer* x;
  const Buffer* mean;
  const Buffer* rstd;
  const Buffer* gamma;
  int64_t rows, c;
  bool accumulate;  // dx += instead of dx =
};
void cpu_layernorm(const LayerNormParams& p);
void cpu_layernorm_backward(const LayerNormBackwardParams& p);
void cuda_layernorm(const LayerNormParams& p);
void cuda_layernorm_backward(const LayerNormBackwardParams& p);
}  // namespace convmae
