// The shared-memory attention kernels (cuda/attention_smem.cu): cuda_attention takes them when a
// head's tokens fit in shared memory.
#pragma once
#include <cstdint>

#include "ops/attention.h"

namespace convmae {
/** Whether L tokens of head_dim dims fit the shared-memory kernels (all three of them). */
bool attention_smem_fits(int64_t l, int64_t head_dim);
void cuda_attention_smem(const AttentionParams& p);
void cuda_attention_backward_smem(const AttentionBackwardParams& p);
}  // namespace convmae
