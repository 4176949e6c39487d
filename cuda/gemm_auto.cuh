// The gemm family `auto` (cuda/gemm_auto.cu): cuda_gemm takes it for tensor-core problems when the
// kernel choice of gemm is auto. What it measured and picked: cuda::gemm_auto_choices (cuda_api.h).
#pragma once
#include "ops/gemm.h"

namespace convmae {
/** Runs p on the fastest candidate kernel for its kind of problem, timing the candidates on the
 *  kind's first call (candidates: CONVMAE_GEMM_AUTO, or the card's default list). */
void cuda_gemm_auto(const GemmParams& p);
}  // namespace convmae
