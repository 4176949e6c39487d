// The sm_80+ tensor-core gemm paths for bfloat16 (cuda/gemm_tc_tiles.cuh): cuda_gemm takes one when
// eligible. Both launch on the package stream (launch errors are checked by the caller).
#pragma once
#include "ops/gemm.h"

namespace convmae {
/** bf16 storage, 16-byte contiguous extents and strides, M within the grid's y limit. */
bool gemm_tensor_core_eligible(const GemmParams& p);
/** The wmma family: the main loop on the WMMA API (cuda/gemm_tc.cu). */
void cuda_gemm_wmma(const GemmParams& p);
/** The mma family: the main loop on ldmatrix and mma.sync (cuda/gemm_mma.cu). */
void cuda_gemm_mma(const GemmParams& p);
}  // namespace convmae
