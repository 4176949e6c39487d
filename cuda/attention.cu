// attention on CUDA (full contract in native/ops/attention.h): multi-head self-attention over
// qkv [N, L, 3D] (q, k, v, each head-major, D = H·Dh), no mask, and its backward.
//   forward:  out [N, L, D] = P·V per head (=), lse [N, H, L] (float32) = log Σ_j exp(S_ij) (=),
//             P = softmax(S), S = Q·Kᵀ·scale.
//   backward: dqkv [N, L, 3D] (=, every element), from dout, qkv, out and lse: P recomputed as
//             exp(S − lse), D_i = dO_i·O_i, dV = Pᵀ·dO, dS = P ⊙ (dO·Vᵀ − D), dQ = scale·dS·K,
//             dK = scale·dSᵀ·Q.
// float32 or bfloat16 storage; fp32 arithmetic and sums. Any L >= 1 and Dh >= 1 (the models use
// Dh up to 128 in multiples of 8); outputs are distinct from the inputs (checked by the binding).
//
// Three kernel sets compute this; the first that takes a call runs it:
//   mma  (cuda/attention_mma.cu): tensor cores, bf16 storage, Dh 32/64/80, L up to 256, when
//        kernel_choice("attention") is "mma" (see native/kernel_choice.cc for the default);
//   smem (cuda/attention_smem.cu): fp32 simt kernels, one block per head, its tokens in shared
//        memory;
//   these global-memory kernels otherwise, correct and simple rather than tuned: one warp per
//   (n, h, row), 4 warps per block, a grid-stride loop over the N·H·L rows, q/k/v read in place
//   from global memory (L1/L2 cached). smem and global are the "simt" family.
//   forward, warp per query row i: lanes take keys j, j+32, ...; pass 1 keeps an online
//     max/sum of exp(s_ij − max) per lane and combines them over the warp (lse_i = max + log sum);
//     pass 2 recomputes each s_ij and accumulates P·V with P broadcast by shuffles and the head
//     dims split over lanes (128 dims per sweep; a head wider than 128 takes several sweeps,
//     recomputing P).
//   backward kernel 1, warp per query row i: D_i = dO_i·O_i (kept in a device scratch [N·H·L]),
//     then dQ_i = scale·Σ_j dS_ij·K_j with P_ij = exp(s_ij − lse_i) and dP_ij = dO_i·V_j
//     recomputed.
//   backward kernel 2, warp per key row j: lanes take queries i; dK_j = scale·Σ_i dS_ij·Q_i and
//     dV_j = Σ_i P_ij·dO_i, recomputing P_ij and dP_ij. No atomics, so results are
//     deterministic.
#include <cuda_bf16.h>

#include <string>

#include "attention_mma.cuh"
#include "attention_smem.cuh"
#include "cuda_api.h"
#include "errors.h"
#include "kernel_choice.h"
#include "ops/attention.h"
#include "runtime.cuh"
#include "scratch.cuh"
#include "storage.cuh"

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

// dst[c] = Σ_j w(j)·rows[j·W + c] over the L rows, for the head dims c of this lane in every
// sweep of 128 (dims split over lanes): lane j % 32 computes w(j), shuffles broadcast it, and a
// head wider than 128 dims recomputes the weights per sweep.
template <typename T, typename F>
__device__ inline void weighted_rows(T* dst, const T* rows, int64_t W, int64_t L, int64_t Dh, F w) {
  const int lane = threadIdx.x % 32;
  for (int64_t c0 = 0; c0 < Dh; c0 += kSweep) {
    float acc[kPerLane] = {};
    for (int64_t jb = 0; jb < L; jb += 32) {
      const int64_t j = jb + lane;
      const float wj = j < L ? w(j) : 0.f;
      const int cnt = L - jb < 32 ? int(L - jb) : 32;
      for (int t = 0; t < cnt; ++t) {
        const float wt = __shfl_sync(kFull, wj, t);
        const T* rj = rows + (jb + t) * W;
#pragma unroll
        for (int u = 0; u < kPerLane; ++u) {
          const int64_t c = c0 + lane + 32 * u;
          if (c < Dh) acc[u] += wt * ldf(rj, c);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kPerLane; ++u) {
      const int64_t c = c0 + lane + 32 * u;
      if (c < Dh) stf(dst, c, acc[u]);
    }
  }
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
__global__ void __launch_bounds__(kThreads) attention_kernel(T* out, float* lse, const T* qkv, Dims d) {
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
    if (lane == 0) lse[w] = mx + logf(zsum);
    // Pass 2: O_i = Σ_j P_ij·V_j over the dims in sweeps of 128.
    weighted_rows(out + (n * L + i) * D + h * Dh, v, W, L, Dh,
                  [&](int64_t j) { return expf(dot(qi, k + j * W, Dh) * d.scale - mx) / zsum; });
  }
}

// Per query row i: D_i = dO_i·O_i into drow[w], and dQ_i.
template <typename T>
__global__ void __launch_bounds__(kThreads) attention_dq_kernel(T* dqkv, float* drow, const T* dout, const T* qkv,
                                                                const T* out, const float* lse, Dims d) {
  const int lane = threadIdx.x % 32;
  const int64_t L = d.l, Dh = d.dh, D = d.h * Dh, W = 3 * D;
  CM_FOR_EACH_WARP_ROW(w, d.n * d.h * L) {
    const int64_t nh = w / L, i = w % L, n = nh / d.h, h = nh % d.h;
    const int64_t head = n * L * W + h * Dh;
    const T* qi = qkv + head + i * W;
    const T* k = qkv + head + D;
    const T* v = qkv + head + 2 * D;
    const T* doi = dout + (n * L + i) * D + h * Dh;
    const T* oi = out + (n * L + i) * D + h * Dh;
    float di = 0.f;
    for (int64_t c = lane; c < Dh; c += 32) di += ldf(doi, c) * ldf(oi, c);
    di = warp_sum(di);
    if (lane == 0) drow[w] = di;
    const float li = lse[w];
    weighted_rows(dqkv + head + i * W, k, W, L, Dh, [&](int64_t j) {
      return expf(dot(qi, k + j * W, Dh) * d.scale - li) * (dot(doi, v + j * W, Dh) - di) * d.scale;
    });
  }
}

// Per key row j: dK_j = scale·Σ_i dS_ij·Q_i and dV_j = Σ_i P_ij·dO_i.
template <typename T>
__global__ void __launch_bounds__(kThreads) attention_dkv_kernel(T* dqkv, const float* drow, const T* dout, const T* qkv,
                                                                 const float* lse, Dims d) {
  const int lane = threadIdx.x % 32;
  const int64_t L = d.l, Dh = d.dh, D = d.h * Dh, W = 3 * D;
  CM_FOR_EACH_WARP_ROW(w, d.n * d.h * L) {
    const int64_t nh = w / L, j = w % L, n = nh / d.h, h = nh % d.h;
    const int64_t head = n * L * W + h * Dh;
    const T* q = qkv + head;
    const T* kj = qkv + head + D + j * W;
    const T* vj = kj + D;
    const T* dout_h = dout + n * L * D + h * Dh;  // dO of row 0 of this head, row stride D
    const float* lh = lse + nh * L;
    const float* dr = drow + nh * L;
    T* dkj = dqkv + head + D + j * W;
    T* dvj = dkj + D;
    for (int64_t c0 = 0; c0 < Dh; c0 += kSweep) {
      float dk[kPerLane] = {}, dv[kPerLane] = {};
      for (int64_t ib = 0; ib < L; ib += 32) {
        const int64_t i = ib + lane;
        float pij = 0.f, ds = 0.f;
        if (i < L) {
          const T* qi = q + i * W;
          const T* doi = dout_h + i * D;
          float s = 0.f, dp = 0.f;
          for (int64_t c = 0; c < Dh; ++c) {
            s += ldf(qi, c) * ldf(kj, c);
            dp += ldf(doi, c) * ldf(vj, c);
          }
          pij = expf(s * d.scale - lh[i]);
          ds = pij * (dp - dr[i]) * d.scale;
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

enum class Path { Mma, Smem, Global };

// The kernel set of a call (see the top of this file). mma and smem run one block per (n, h).
Path choose(DType dtype, int64_t nh, int64_t l, int64_t head_dim, bool backward) {
  if (nh > INT32_MAX) return Path::Global;
  if (kernel_choice("attention") == "mma" && dtype == DType::BF16 && attention_mma_fits(l, head_dim, backward))
    return Path::Mma;
  return attention_smem_fits(l, head_dim) ? Path::Smem : Path::Global;
}
}  // namespace

void cuda_attention(const AttentionParams& p) {
  const int64_t rows = p.n * p.heads * p.l;
  if (rows == 0) return;
  switch (choose(p.out->dtype, p.n * p.heads, p.l, p.head_dim, false)) {
    case Path::Mma: return cuda_attention_mma(p);
    case Path::Smem: return cuda_attention_smem(p);
    case Path::Global: break;
  }
  const Dims d{p.n, p.l, p.heads, p.head_dim, float(p.scale)};
  cuda_float_dispatch(p.out->dtype, "attention", [&](auto zero) {
    using T = decltype(zero);
    attention_kernel<T><<<cuda::grid_for(rows, kWarps), kThreads, 0, cuda::stream()>>>(p.out->as<T>(), p.lse->as<float>(),
                                                                                        p.qkv->as<T>(), d);
  });
}

void cuda_attention_backward(const AttentionBackwardParams& p) {
  const int64_t rows = p.n * p.heads * p.l;
  if (rows == 0) return;
  switch (choose(p.dqkv->dtype, p.n * p.heads, p.l, p.head_dim, true)) {
    case Path::Mma: return cuda_attention_backward_mma(p);
    case Path::Smem: return cuda_attention_backward_smem(p);
    case Path::Global: break;
  }
  const Dims d{p.n, p.l, p.heads, p.head_dim, float(p.scale)};
  Scratch drow(size_t(rows) * sizeof(float), "attentionBackward");
  cuda_float_dispatch(p.dqkv->dtype, "attentionBackward", [&](auto zero) {
    using T = decltype(zero);
    const unsigned g = cuda::grid_for(rows, kWarps);
    float* dr = drow.as<float>();
    attention_dq_kernel<T><<<g, kThreads, 0, cuda::stream()>>>(p.dqkv->as<T>(), dr, p.dout->as<T>(), p.qkv->as<T>(),
                                                               p.out->as<T>(), p.lse->as<float>(), d);
    attention_dkv_kernel<T><<<g, kThreads, 0, cuda::stream()>>>(p.dqkv->as<T>(), dr, p.dout->as<T>(), p.qkv->as<T>(),
                                                                p.lse->as<float>(), d);
  });
}

}  // namespace convmae
