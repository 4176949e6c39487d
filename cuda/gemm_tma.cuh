// The Hopper gemm path with TMA loads (cuda/gemm_tma.cu): cuda_gemm takes it when the problem is
// eligible for the tensor cores, the kernel choice of gemm is tma and the GPU runs sm_90a code
// (cuda::wgmma_available, cuda_api.h).
#pragma once
#include "ops/gemm.h"

namespace convmae {
/** Launches the TMA kernel at `tiling`, one this build has (-1: the build's own choice,
 *  CONVMAE_TMA_TILE in a sweep build, else 0), or the wgmma kernel where a tensor map cannot
 *  describe an operand. */
void cuda_gemm_tma(const GemmParams& p, int tiling = -1);
/** Whether this build has the tma tiling (0 and the persistent 4-7 always; 1-3 in a
 *  CONVMAE_GEMM_SWEEP build). */
bool cuda_gemm_tma_has_tiling(int tiling);
}  // namespace convmae
