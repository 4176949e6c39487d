// The sm_80+ tensor-core gemm path for bfloat16 (cuda/gemm_tc.cu): cuda_gemm takes it when eligible.
#pragma once
#include "ops/gemm.h"

namespace convmae {
/** bf16 storage, 16-byte contiguous extents and strides, M within the grid's y limit. */
bool gemm_tensor_core_eligible(const GemmParams& p);
/**
 * Launches the tensor-core kernel on the package stream (launch errors are checked by the caller):
 * its main loop on ldmatrix and mma.sync when mma_sync, else on the WMMA API.
 */
void cuda_gemm_tensor_core(const GemmParams& p, bool mma_sync);
}  // namespace convmae
