// The tensor-core attention kernels (cuda/attention_mma.cu): cuda/attention.cu runs them for
// bfloat16 storage when kernel_choice("attention") is "mma" and attention_mma_fits says yes.
#pragma once
#include <cstdint>

#include "ops/attention.h"

namespace convmae {
/** Most tokens per head the mma kernels take: a head's Q, K, V (and dO) sit in shared memory. */
constexpr int64_t kAttentionMmaMaxL = 256;
/**
 * Whether the mma kernels take L tokens (1..kAttentionMmaMaxL) at this head dim (32, 64 or 80):
 * the forward's (or, with backward, the backward's) shared memory must fit the card's per-block
 * limit (on a 163 KB card the Dh 80 backward stops at L 224).
 */
bool attention_mma_fits(int64_t l, int64_t head_dim, bool backward);
void cuda_attention_mma(const AttentionParams& p);
void cuda_attention_backward_mma(const AttentionBackwardParams& p);
}  // namespace convmae
