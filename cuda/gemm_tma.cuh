// The Hopper gemm path with TMA loads (cuda/gemm_tma.cu): cuda_gemm takes it when the problem is
// eligible for the tensor cores, the kernel choice of gemm is tma and the GPU runs sm_90a code
// (cuda::wgmma_available, cuda_api.h).
#pragma once
#include "ops/gemm.h"

namespace convmae {
/** Launches the TMA kernel, or the wgmma kernel where a tensor map cannot describe an operand. */
void cuda_gemm_tma(const GemmParams& p);
}  // namespace convmae
