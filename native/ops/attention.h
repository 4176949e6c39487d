// attention: multi-head self-attention over a token set (SPEC.md 2.4), no mask, in the
// flash-attention form: the L x L scores and probabilities never leave the kernel.
//   qkv  [N, L, 3D], the output of the qkv Linear; the last dim is [3 (q, k, v)] x [H] x [Dh]
//        (q first, head-major inside each of q, k, v), D = H*Dh.
//   forward:  S = (Q_h·K_hᵀ)·scale, P = softmax over keys (row max subtracted), O_h = P·V_h;
//             heads concatenated in head order.
//             out [N, L, D]  =  (written; the backward reads it back)
//             lse [N, H, L]  =  log Σ_j exp(S_ij), natural log, always float32 (whatever the
//                               storage dtype): with it the backward recomputes P.
//   backward: P_ij = exp(S_ij − lse_i) recomputed from qkv, D_i = Σ_c dO_ic·O_ic (the rowsum of
//             dout ⊙ out, which equals Σ_j P_ij·dP_ij), dV = Pᵀ·dO, dP = dO·Vᵀ,
//             dS = P ⊙ (dP − D_i), dQ = scale·dS·K, dK = scale·dSᵀ·Q, written into the matching
//             slots of
//             dqkv [N, L, 3D]   =  (every element written)
//             In float64 (CPU) the float32 lse costs the recomputed P a relative error of about
//             |lse|·2^-24, the same factor for a whole row.
// Preconditions (checked by the bindings): one float dtype and one device for qkv, out, dout and
// dqkv, lse float32 on that device, element counts as above, outputs distinct from inputs. Work is
// split over (n, h) pairs, each of which owns disjoint slices of the outputs.
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {
struct AttentionParams {
  Buffer* out;         // [N, L, D]
  Buffer* lse;         // [N, H, L] float32
  const Buffer* qkv;   // [N, L, 3D]
  int64_t n, l, heads, head_dim;
  double scale;        // usually head_dim^-0.5
};
struct AttentionBackwardParams {
  Buffer* dqkv;         // [N, L, 3D]
  const Buffer* dout;   // [N, L, D]
  const Buffer* qkv;    // [N, L, 3D]
  const Buffer* out;    // [N, L, D], from the forward
  const Buffer* lse;    // [N, H, L] float32, from the forward
  int64_t n, l, heads, head_dim;
  double scale;
};
void cpu_attention(const AttentionParams& p);
void cpu_attention_backward(const AttentionBackwardParams& p);
void cuda_attention(const AttentionParams& p);
void cuda_attention_backward(const AttentionBackwardParams& p);
}  // namespace convmae
