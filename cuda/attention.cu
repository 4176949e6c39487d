// attention on CUDA (full contract in native/ops/attention.h): multi-head self-attention over
// qkv [N, L, 3D] (q, k, v, each head-major, D = H·Dh), no mask, and its backward.
//   forward:  out [N, L, D] = P·V per head (=), probs [N, H, L, L] = P = softmax(Q·Kᵀ·scale) (=)
//   backward: dqkv [N, L, 3D] (=, every element), from dout, qkv and the saved probs:
//             dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = scale·dS·K,
//             dK = scale·dSᵀ·Q.
// float32 or bfloat16 storage; fp32 arithmetic and sums. Any L >= 1 and Dh >= 1 (the models use
// Dh up to 128 in multiples of 8); outputs are distinct from the inputs (checked by the binding).
//
// Heads whose tokens fit in shared memory run the kernels of cuda/attention_smem.cu; the rest
// run these, correct and simple rather than tuned: one warp per (n, h, row), 4 warps per block, a
// grid-stride loop over the N·H·L rows, q/k/v read in place from global memory (L1/L2 cached).
//   forward, warp per query row i: lanes take keys j, j+32, ...; pass 1 keeps an online
//     max/sum of exp(s_ij − max) per lane and combines them over the warp; pass 2 recomputes each
//     s_ij, writes P_ij (fp32 P feeds the output, not the stored one) and accumulates P·V with P
//     broadcast by shuffles and the head dims split over lanes (128 dims per sweep; a head wider
//     than 128 takes several sweeps, recomputing P).
//   backward kernel 1, warp per query row i: rowdot_i = Σ_j P_ij·dP_ij (kept in a device
//     scratch [N·H·L]), then dQ_i = scale·Σ_j dS_ij·K_j.
//   backward kernel 2, warp per key row j: lanes take queries i; dK_j = scale·Σ_i dS_ij·Q_i and
//     dV_j = Σ_i P_ij·dO_i, recomputing dP_ij = dO_i·V_j. No atomics, so results are
//     deterministic.
#include <cuda_bf16.h>

#include <string>

#include "attention_smem.cuh"
#include "cuda_api.h"
#include "errors.h"
#include "ops/attention.h"
#include "runtime.cuh"
#include "storage.cuh"
#include "scratch.cuh"

namespace convmae {

namespace {
constexpr int kThreads = 128, kWarps = kThreads / 32;
constexpr int kPerLane = 4, kSweep = 32 * kPerLane;  // head dims per lane and per sweep
constexpr unsigned kFull = 0xffffffffu;


template <typename T>
__device__ inline float dot(const T* a, const T* b, int64_t n) {
  float s = 0.f;
  for (int64_t c = 0; c < n; ++c) s += ldf(a, c) * ldf(b, c);
  return s;
}

struct Dims {
  int64_t n, l, h, dh;
  float scale;
};

// Warp w of the grid-stride loop: row w of the N·H·L (n, h, row) triples, w = (n·H + h)·L + row.
#define CM_FOR_EACH_WARP_ROW(w, total)                                                          \
  for (int64_t w = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; w < (total); \
       w += int64_t(gridDim.x) * kWarps)

template <typename T>
__global__ void __launch_bounds__(kThreads) attention_kernel(T* out, T* probs, const T* qkv, Dims d) {
  const int lane = threadIdx.x % 32;
  const int64_t L = d.l, Dh = d.dh, D = d.h * Dh, W = 3 * D;
  CM_FOR_EACH_WARP_ROW(w, d.n * d.h * L) {
    const int64_t nh = w / L, i = w % L, n = nh / d.h, h = nh % d.h;
    const T* q = qkv + n * L * W + h * Dh;  // q of row 0 of this head
    const T* k = q + D;
    const T* v = q + 2 * D;
    const T* qi = q + i * W;
    // Pass 1: per lane, running max m and Σ exp(s − m) over its keys; then over the warp.
    float m = -INFINITY, z = 0.f;
    for (int64_t j = lane; j < L; j += 32) {
      const float s = dot(qi, k + j * W, Dh) * d.scale;
      if (s > m) {
        z = z * expf(m - s) + 1.f;
        m = s;
      } else {
        z += expf(s - m);
      }
    }
    const float mx = warp_max(m);
    const float zsum = warp_sum(m == -INFINITY ? 0.f : z * expf(m - mx));
    // Pass 2: P_ij, written once, and O_i = Σ_j P_ij·V_j over the dims in sweeps of 128.
    T* pr = probs + w * L;
    T* oi = out + (n * L + i) * D + h * Dh;
    for (int64_t c0 = 0; c0 < Dh; c0 += kSweep) {
      float o[kPerLane] = {};
      for (int64_t jb = 0; jb < L; jb += 32) {
        const int64_t j = jb + lane;
        float pj = 0.f;
        if (j < L) {
          pj = expf(dot(qi, k + j * W, Dh) * d.scale - mx) / zsum;
          if (c0 == 0) stf(pr, j, pj);
        }
        const int cnt = L - jb < 32 ? int(L - jb) : 32;
        for (int t = 0; t < cnt; ++t) {
          const float pt = __shfl_sync(kFull, pj, t);
          const T* vj = v + (jb + t) * W;
#pragma unroll
          for (int u = 0; u < kPerLane; ++u) {
            const int64_t c = c0 + lane + 32 * u;
            if (c < Dh) o[u] += pt * ldf(vj, c);
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kPerLane; ++u) {
        const int64_t c = c0 + lane + 32 * u;
        if (c < Dh) stf(oi, c, o[u]);
      }
    }
  }
}

// Per query row i: rowdot_i = Σ_j P_ij·(dO_i·V_j) into rowdot[w], and dQ_i.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    attention_dq_kernel(T* dqkv, float* rowdot, const T* dout, const T* qkv, const T* probs, Dims d) {
  const int lane = threadIdx.x % 32;
  const int64_t L = d.l, Dh = d.dh, D = d.h * Dh, W = 3 * D;
  CM_FOR_EACH_WARP_ROW(w, d.n * d.h * L) {
    const int64_t nh = w / L, i = w % L, n = nh / d.h, h = nh % d.h;
    const int64_t head = n * L * W + h * Dh;
    const T* k = qkv + head + D;
    const T* v = qkv + head + 2 * D;
    const T* doi = dout + (n * L + i) * D + h * Dh;
    const T* pi = probs + w * L;
    float rd = 0.f;
    for (int64_t j = lane; j < L; j += 32) rd += ldf(pi, j) * dot(doi, v + j * W, Dh);
    rd = warp_sum(rd);
    if (lane == 0) rowdot[w] = rd;
    T* dqi = dqkv + head + i * W;
    for (int64_t c0 = 0; c0 < Dh; c0 += kSweep) {
      float acc[kPerLane] = {};
      for (int64_t jb = 0; jb < L; jb += 32) {
        const int64_t j = jb + lane;
        float ds = 0.f;
        if (j < L) ds = ldf(pi, j) * (dot(doi, v + j * W, Dh) - rd) * d.scale;
        const int cnt = L - jb < 32 ? int(L - jb) : 32;
        for (int t = 0; t < cnt; ++t) {
          const float dst = __shfl_sync(kFull, ds, t);
          const T* kj = k + (jb + t) * W;
#pragma unroll
          for (int u = 0; u < kPerLane; ++u) {
            const int64_t c = c0 + lane + 32 * u;
            if (c < Dh) acc[u] += dst * ldf(kj, c);
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kPerLane; ++u) {
        const int64_t c = c0 + lane + 32 * u;
        if (c < Dh) stf(dqi, c, acc[u]);
      }
    }
  }
}

// Per key row j: dK_j = scale·Σ_i dS_ij·Q_i and dV_j = Σ_i P_ij·dO_i.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    attention_dkv_kernel(T* dqkv, const float* rowdot, const T* dout, const T* qkv, const T* probs, Dims d) {
  const int lane = threadIdx.x % 32;
  const int64_t L = d.l, Dh = d.dh, D = d.h * Dh, W = 3 * D;
  CM_FOR_EACH_WARP_ROW(w, d.n * d.h * L) {
    const int64_t nh = w / L, j = w % L, n = nh / d.h, h = nh % d.h;
    const int64_t head = n * L * W + h * Dh;
    const T* q = qkv + head;
    const T* vj = qkv + head + 2 * D + j * W;
    const T* dout_h = dout + n * L * D + h * Dh;  // dO of row 0 of this head, row stride D
    const T* pcol = probs + nh * L * L + j;       // P_ij at pcol[i·L]
    const float* rdh = rowdot + nh * L;
    T* dkj = dqkv + head + D + j * W;
    T* dvj = dkj + D;
    for (int64_t c0 = 0; c0 < Dh; c0 += kSweep) {
      float dk[kPerLane] = {}, dv[kPerLane] = {};
      for (int64_t ib = 0; ib < L; ib += 32) {
        const int64_t i = ib + lane;
        float pij = 0.f, ds = 0.f;
        if (i < L) {
          pij = ldf(pcol, i * L);
          ds = pij * (dot(dout_h + i * D, vj, Dh) - rdh[i]) * d.scale;
        }
        const int cnt = L - ib < 32 ? int(L - ib) : 32;
        for (int t = 0; t < cnt; ++t) {
          const float pt = __shfl_sync(kFull, pij, t), dst = __shfl_sync(kFull, ds, t);
          const T* qi = q + (ib + t) * W;
          const T* doi = dout_h + (ib + t) * D;
#pragma unroll
          for (int u = 0; u < kPerLane; ++u) {
            const int64_t c = c0 + lane + 32 * u;
            if (c < Dh) {
              dk[u] += dst * ldf(qi, c);
              dv[u] += pt * ldf(doi, c);
            }
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kPerLane; ++u) {
        const int64_t c = c0 + lane + 32 * u;
        if (c < Dh) {
          stf(dkj, c, dk[u]);
          stf(dvj, c, dv[u]);
        }
      }
    }
  }
}
#undef CM_FOR_EACH_WARP_ROW
}  // namespace

void cuda_attention(const AttentionParams& p) {
  const int64_t rows = p.n * p.heads * p.l;
  if (rows == 0 || p.head_dim == 0) return;
  if (attention_smem_fits(p.l, p.head_dim)) return cuda_attention_smem(p);
  const Dims d{p.n, p.l, p.heads, p.head_dim, float(p.scale)};
  cuda_float_dispatch(p.out->dtype, "attention", [&](auto zero) {
    using T = decltype(zero);
    attention_kernel<T><<<cuda::grid_for(rows, kWarps), kThreads, 0, cuda::stream()>>>(p.out->as<T>(), p.probs->as<T>(),
                                                                                        p.qkv->as<T>(), d);
  });
}

void cuda_attention_backward(const AttentionBackwardParams& p) {
  const int64_t rows = p.n * p.heads * p.l;
  if (rows == 0 || p.head_dim == 0) return;
  if (attention_smem_fits(p.l, p.head_dim)) return cuda_attention_backward_smem(p);
  const Dims d{p.n, p.l, p.heads, p.head_dim, float(p.scale)};
  Scratch rowdot(size_t(rows) * sizeof(float), "attentionBackward");
  cuda_float_dispatch(p.dqkv->dtype, "attentionBackward", [&](auto zero) {
    using T = decltype(zero);
    const unsigned g = cuda::grid_for(rows, kWarps);
    float* rd = rowdot.as<float>();
    attention_dq_kernel<T><<<g, kThreads, 0, cuda::stream()>>>(p.dqkv->as<T>(), rd, p.dout->as<T>(), p.qkv->as<T>(),
                                                               p.probs->as<T>(), d);
    attention_dkv_kernel<T><<<g, kThreads, 0, cuda::stream()>>>(p.dqkv->as<T>(), rd, p.dout->as<T>(), p.qkv->as<T>(),
                                                                p.probs->as<T>(), d);
  });
}

}  // namespace convmae
