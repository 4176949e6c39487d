// The sm_80+ tensor-core gemm paths for bfloat16 (cuda/gemm_tc_tiles.cuh): cuda_gemm takes one when
// eligible. Both launch on the package stream (launch errors are checked by the caller).
#pragma once
#include "ops/gemm.h"

namespace convmae {
/** bf16 storage, 16-byte contiguous extents and strides, M within the grid's y limit. */
bool gemm_tensor_core_eligible(const GemmParams& p);
/** The wmma family: the main loop on the WMMA API (cuda/gemm_tc.cu), at `tiling` (as cuda_gemm_mma). */
void cuda_gemm_wmma(const GemmParams& p, int tiling = -1);
/** The mma family: the main loop on ldmatrix and mma.sync (cuda/gemm_mma.cu), at `tiling`, one
 *  this build has (-1: the build's own choice, CONVMAE_GEMM_TILE in a sweep build, else 0). */
void cuda_gemm_mma(const GemmParams& p, int tiling = -1);
/** Whether this build has the mma/wmma tiling (0 always; 1-3 in a CONVMAE_GEMM_SWEEP build). */
bool cuda_gemm_tc_has_tiling(int tiling);
}  // namespace convmae
