// The Hopper gemm path for bfloat16 (cuda/gemm_wgmma.cu): cuda_gemm takes it when the problem is
// eligible for the tensor cores, the kernel choice of gemm is wgmma and the GPU runs sm_90a code
// (cuda::wgmma_available, cuda_api.h).
#pragma once
#include "ops/gemm.h"

namespace convmae {
/** Launches the wgmma kernel (same eligibility as gemm_tensor_core_eligible) at `tiling`, one this
 *  build has (-1: the build's own choice, CONVMAE_WGMMA_TILE in a sweep build, else 0). */
void cuda_gemm_wgmma(const GemmParams& p, int tiling = -1);
/** Whether this build has the wgmma tiling (0 always; 1-4 in a CONVMAE_GEMM_SWEEP build). */
bool cuda_gemm_wgmma_has_tiling(int tiling);
}  // namespace convmae
