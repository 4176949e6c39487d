// The Hopper gemm path for bfloat16 (cuda/gemm_wgmma.cu): cuda_gemm takes it when the problem is
// eligible for the tensor cores, the kernel choice of gemm is wgmma and the GPU runs sm_90a code
// (cuda::wgmma_available, cuda_api.h).
#pragma once
#include "ops/gemm.h"

namespace convmae {
/** Launches the wgmma kernel (same eligibility as gemm_tensor_core_eligible). */
void cuda_gemm_wgmma(const GemmParams& p);
}  // namespace convmae
