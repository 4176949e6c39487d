// attention: multi-head self-attention over a token set (SPEC.md 2.4), no mask.
//   qkv  [N, L, 3D], the output of the qkv Linear; the last dim is [3 (q, k, v)] x [H] x [Dh]
//        (q first, head-major inside each of q, k, v), D = H*Dh.
//   forward:  S = (Q_h·K_hᵀ)·scale, P = softmax over keys (row max subtracted, accumulated in
//             double), O_h = P·V_h; heads concatenated in head order.
//             out   [N, L, D]     =  (written, never read)
//             probs [N, H, L, L]  =  P, saved for the backward
//   backward: dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = scale·dS·K,
//             dK = scale·dSᵀ·Q, written into the matching slots of
//             dqkv  [N, L, 3D]    =  (every element written)
// Preconditions (checked by the bindings): one float dtype and one device for every buffer,
// element counts as above, outputs distinct from inputs. Work is split over (n, h) pairs, each
// of which owns disjoint slices of the outputs.
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {
struct AttentionParams {
  Buffer* out;         // [N, L, D]
  Buffer* probs;       // [N, H, L, L]
  const Buffer* qkv;   // [N, L, 3D]
  int64_t n, l, heads, head_dim;
  double scale;        // usually head_dim^-0.5
};
struct AttentionBackwardParams {
  Buffer* dqkv;         // [N, L, 3D]
  const Buffer* dout;   // [N, L, D]
  const Buffer* qkv;    // [N, L, 3D]
  const Buffer* probs;  // [N, H, L, L], from the forward
  int64_t n, l, heads, head_dim;
  double scale;
};
void cpu_attention(const AttentionParams& p);
void cpu_attention_backward(const AttentionBackwardParams& p);
void cuda_attention(const AttentionParams& p);
void cuda_attention_backward(const AttentionBackwardParams& p);
}  // namespace convmae
