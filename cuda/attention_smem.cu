// attention on CUDA when one head's tokens fit in shared memory (contract in
// native/ops/attention.h; cuda/attention.cu picks these or its global-memory kernels). One block
// of 8 warps per (n, h); K, V (Q, dO in the backward's second kernel) of the head are staged once
// in shared memory as fp32, so each element is read from global memory once per block instead of
// once per query or key row. fp32 arithmetic, the same formulas as the CPU op:
//   forward, warp per query row i: s_ij = (q_i·k_j)·scale for lanes over j, the row max m,
//     z = Σ_j exp(s_ij − m), lse_i = m + log z, p_ij = exp(s_ij − m) / z, then o_i = Σ_j p_ij·v_j
//     with lanes over the head dims.
//   backward kernel 1, warp per query row i: D_i = dO_i·O_i (also kept in a scratch [N·H·L] for
//     kernel 2), P_ij = exp(s_ij − lse_i), dP_ij = dO_i·v_j, dS_ij = P_ij·(dP_ij − D_i)·scale in
//     a per-warp row buffer, then dQ_i = Σ_j dS_ij·k_j.
//   backward kernel 2, warp per key row j: lanes over queries i recompute P_ij and dS_ij from the
//     staged Q, dO, lse and D into per-warp column buffers, then dK_j = Σ_i dS_ij·q_i and
//     dV_j = Σ_i P_ij·dO_i with lanes over the head dims. No atomics: deterministic.
// Staged rows that lanes read at one dim across rows are padded to Dh + 1 floats (distinct banks).
// For the models' head dims 32 and 64 the forward and kernel 1 are instantiated with Dh known: a
// warp then takes two query rows at once with q (then dO) held in registers, so each value read
// from shared memory feeds two products. The sums run in the same order either way.
#include <cuda_bf16.h>

#include <algorithm>
#include <string>

#include "attention_smem.cuh"
#include "errors.h"
#include "runtime.cuh"
#include "scratch.cuh"
#include "storage.cuh"

namespace convmae {

namespace {
constexpr int kThreads = 256, kWarps = kThreads / 32;
constexpr size_t kMaxSmem = 200 * 1024;  // at most; less where the card allows less

size_t smem_cap() { return std::min(kMaxSmem, cuda::smem_per_block()); }

struct Dims {
  int l, h, dh;
  float scale;
};

// Per-warp buffers hold 2 rows (the register-blocked head dims 32 and 64 take 2 rows per warp).
size_t fwd_smem(int64_t L, int64_t Dh) { return size_t(L * (Dh + 1) + L * Dh + kWarps * 2 * (Dh + L)) * sizeof(float); }
size_t dq_smem(int64_t L, int64_t Dh) { return size_t(2 * L * (Dh + 1) + kWarps * 2 * (2 * Dh + L)) * sizeof(float); }
size_t dkv_smem(int64_t L, int64_t Dh) { return size_t(2 * L * (Dh + 1) + 2 * L + kWarps * 2 * (Dh + L)) * sizeof(float); }

// Stages rows [0, L) of one head's slot (q, k or v at column offset `col`) as fp32 with row pitch ld.
template <typename T>
__device__ inline void stage(float* dst, int ld, const T* head, int64_t col, int64_t row_stride, int L, int Dh) {
  for (int idx = threadIdx.x; idx < L * Dh; idx += kThreads) {
    const int j = idx / Dh, c = idx % Dh;
    dst[j * ld + c] = ldf(head, j * row_stride + col + c);
  }
}

// Rows rr < rows of a [R][Dh] per-warp buffer from rows i0 + rr of `src` (row stride `stride`);
// the rest zero.
template <typename T>
__device__ inline void stage_rows(float* dst, const T* src, int64_t stride, int i0, int rows, int R, int Dh) {
  for (int e = threadIdx.x % 32; e < R * Dh; e += 32) {
    const int rr = e / Dh, c = e % Dh;
    dst[e] = rr < rows ? ldf(src, (i0 + rr) * stride + c) : 0.f;
  }
}

// Rows per warp: 2 when the head dim is a compile-time constant (registers hold q / dO), else 1.
template <int DH>
__host__ __device__ constexpr int rows_per_warp() { return DH > 0 ? 2 : 1; }

// acc[rr] = Σ_c rows[rr][c]·y[c] for the R rows of a per-warp buffer; with DH known the rows sit
// in registers (reg, filled by load) and each y[c] read from shared memory feeds R products.
template <int DH, int R>
struct RowDots {
  float reg[DH > 0 ? R : 1][DH > 0 ? DH : 1];
  const float* rows;
  int dh;
  __device__ void load(const float* buf, int Dh) {
    rows = buf;
    dh = Dh;
    if constexpr (DH > 0) {
#pragma unroll
      for (int rr = 0; rr < R; ++rr)
#pragma unroll
        for (int c = 0; c < DH; ++c) reg[rr][c] = buf[rr * DH + c];
    }
  }
  __device__ void dots(const float* y, float (&acc)[R]) const {
#pragma unroll
    for (int rr = 0; rr < R; ++rr) acc[rr] = 0.f;
    if constexpr (DH > 0) {
#pragma unroll
      for (int c = 0; c < DH; ++c) {
        const float v = y[c];
#pragma unroll
        for (int rr = 0; rr < R; ++rr) acc[rr] += reg[rr][c] * v;
      }
    } else {
      for (int c = 0; c < dh; ++c) acc[0] += rows[c] * y[c];
    }
  }
};

// Rows rr < rows of dst (row rr at dst + rr·stride) = Σ_j w[rr][j]·m[j][·]: w a per-warp [R][L]
// buffer, m staged [L][ld]; lanes take the head dims, each value of m feeds R products.
template <int R, typename T>
__device__ inline void store_rows_times(T* dst, int64_t stride, int rows, const float* w, const float* m, int ld, int L,
                                        int Dh) {
  for (int c = threadIdx.x % 32; c < Dh; c += 32) {
    float acc[R] = {};
    for (int j = 0; j < L; ++j) {
      const float x = m[j * ld + c];
#pragma unroll
      for (int rr = 0; rr < R; ++rr) acc[rr] += w[rr * L + j] * x;
    }
#pragma unroll
    for (int rr = 0; rr < R; ++rr)
      if (rr < rows) stf(dst + rr * stride, c, acc[rr]);
  }
}

template <typename T, int DH>
__global__ void __launch_bounds__(kThreads) attn_fwd_smem(T* out, float* lse, const T* qkv, Dims d) {
  constexpr int R = rows_per_warp<DH>();
  extern __shared__ float sm[];
  const int L = d.l, Dh = DH > 0 ? DH : d.dh, ldk = Dh + 1;
  const int64_t D = int64_t(d.h) * Dh, W = 3 * D;
  const int64_t nh = blockIdx.x, n = nh / d.h, h = nh % d.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* ks = sm;
  float* vs = ks + L * ldk;
  float* qs = vs + L * Dh + warp * (R * Dh + R * L);  // [R][Dh], then ps [R][L]
  float* ps = qs + R * Dh;
  const T* head = qkv + n * L * W + h * Dh;
  stage(ks, ldk, head, D, W, L, Dh);
  stage(vs, Dh, head, 2 * D, W, L, Dh);
  __syncthreads();
  for (int i0 = warp * R; i0 < L; i0 += kWarps * R) {
    const int rows = L - i0 < R ? L - i0 : R;
    stage_rows(qs, head, W, i0, rows, R, Dh);
    __syncwarp();
    RowDots<DH, R> q;
    q.load(qs, Dh);
    float mx[R];
#pragma unroll
    for (int rr = 0; rr < R; ++rr) mx[rr] = -INFINITY;
    for (int j = lane; j < L; j += 32) {
      float s[R];
      q.dots(ks + j * ldk, s);
#pragma unroll
      for (int rr = 0; rr < R; ++rr) {
        s[rr] *= d.scale;
        ps[rr * L + j] = s[rr];
        mx[rr] = fmaxf(mx[rr], s[rr]);
      }
    }
#pragma unroll
    for (int rr = 0; rr < R; ++rr) {
      const float m = warp_max(mx[rr]);
      float z = 0.f;
      for (int j = lane; j < L; j += 32) {
        const float e = expf(ps[rr * L + j] - m);
        ps[rr * L + j] = e;
        z += e;
      }
      z = warp_sum(z);
      if (lane == 0 && rr < rows) lse[nh * L + i0 + rr] = m + logf(z);
      for (int j = lane; j < L; j += 32) ps[rr * L + j] /= z;
    }
    __syncwarp();
    store_rows_times<R>(out + (n * L + i0) * D + h * Dh, D, rows, ps, vs, Dh, L, Dh);
    __syncwarp();
  }
}

// Kernel 1 of the backward: D_i into dvec, and dQ_i.
template <typename T, int DH>
__global__ void __launch_bounds__(kThreads) attn_dq_smem(T* dqkv, float* dvec, const T* dout, const T* qkv,
                                                         const T* out, const float* lse, Dims d) {
  constexpr int R = rows_per_warp<DH>();
  extern __shared__ float sm[];
  const int L = d.l, Dh = DH > 0 ? DH : d.dh, ldk = Dh + 1;
  const int64_t D = int64_t(d.h) * Dh, W = 3 * D;
  const int64_t nh = blockIdx.x, n = nh / d.h, h = nh % d.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* ks = sm;
  float* vs = ks + L * ldk;
  float* qs = vs + L * ldk + warp * 2 * (2 * Dh + L);  // [R][Dh] q, [R][Dh] dO, then dsr [R][L]
  float* dos = qs + R * Dh;
  float* dsr = dos + R * Dh;
  const T* head = qkv + n * L * W + h * Dh;
  const T* dout_h = dout + n * L * D + h * Dh;
  const T* out_h = out + n * L * D + h * Dh;
  stage(ks, ldk, head, D, W, L, Dh);
  stage(vs, ldk, head, 2 * D, W, L, Dh);
  __syncthreads();
  for (int i0 = warp * R; i0 < L; i0 += kWarps * R) {
    const int rows = L - i0 < R ? L - i0 : R;
    stage_rows(qs, head, W, i0, rows, R, Dh);
    stage_rows(dos, dout_h, D, i0, rows, R, Dh);
    __syncwarp();
    float di[R], li[R];
#pragma unroll
    for (int rr = 0; rr < R; ++rr) {
      float s = 0.f;
      if (rr < rows)
        for (int c = lane; c < Dh; c += 32) s += dos[rr * Dh + c] * ldf(out_h, (i0 + rr) * D + c);
      di[rr] = warp_sum(s);
      li[rr] = rr < rows ? lse[nh * L + i0 + rr] : 0.f;
      if (lane == 0 && rr < rows) dvec[nh * L + i0 + rr] = di[rr];
    }
    {  // P_ij into dsr, q in registers
      RowDots<DH, R> q;
      q.load(qs, Dh);
      for (int j = lane; j < L; j += 32) {
        float s[R];
        q.dots(ks + j * ldk, s);
#pragma unroll
        for (int rr = 0; rr < R; ++rr) dsr[rr * L + j] = expf(s[rr] * d.scale - li[rr]);
      }
    }
    {  // dS_ij = P_ij·(dP_ij − D_i)·scale over it, dO in registers
      RowDots<DH, R> g;
      g.load(dos, Dh);
      for (int j = lane; j < L; j += 32) {
        float dp[R];
        g.dots(vs + j * ldk, dp);
#pragma unroll
        for (int rr = 0; rr < R; ++rr) dsr[rr * L + j] = rr < rows ? dsr[rr * L + j] * (dp[rr] - di[rr]) * d.scale : 0.f;
      }
    }
    __syncwarp();
    store_rows_times<R>(dqkv + (n * L + i0) * W + h * Dh, W, rows, dsr, ks, ldk, L, Dh);
    __syncwarp();
  }
}

// Kernel 2 of the backward: dK_j and dV_j.
template <typename T>
__global__ void __launch_bounds__(kThreads) attn_dkv_smem(T* dqkv, const float* dvec, const T* dout, const T* qkv,
                                                          const float* lse, Dims d) {
  extern __shared__ float sm[];
  const int L = d.l, Dh = d.dh, ld = Dh + 1;
  const int64_t D = int64_t(d.h) * Dh, W = 3 * D;
  const int64_t nh = blockIdx.x, n = nh / d.h, h = nh % d.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* qs = sm;
  float* dos = qs + L * ld;
  float* ls = dos + L * ld;                    // lse_i
  float* drow = ls + L;                        // D_i
  float* kj = drow + L + warp * 2 * (Dh + L);  // per warp: k_j, v_j, then P_·j and dS_·j
  float* vj = kj + Dh;
  float* pc = vj + Dh;
  float* sc = pc + L;
  const T* head = qkv + n * L * W + h * Dh;
  stage(qs, ld, head, 0, W, L, Dh);
  stage(dos, ld, dout + n * L * D + h * Dh, 0, D, L, Dh);
  for (int i = threadIdx.x; i < L; i += kThreads) {
    ls[i] = lse[nh * L + i];
    drow[i] = dvec[nh * L + i];
  }
  __syncthreads();
  for (int j = warp; j < L; j += kWarps) {
    for (int c = lane; c < Dh; c += 32) {
      kj[c] = ldf(head, int64_t(j) * W + D + c);
      vj[c] = ldf(head, int64_t(j) * W + 2 * D + c);
    }
    __syncwarp();
    for (int i = lane; i < L; i += 32) {
      float s = 0.f, dp = 0.f;
      for (int c = 0; c < Dh; ++c) {
        s += qs[i * ld + c] * kj[c];
        dp += dos[i * ld + c] * vj[c];
      }
      const float p = expf(s * d.scale - ls[i]);
      pc[i] = p;
      sc[i] = p * (dp - drow[i]) * d.scale;
    }
    __syncwarp();
    T* dkj = dqkv + (n * L + j) * W + D + h * Dh;
    T* dvj = dkj + D;
    for (int c = lane; c < Dh; c += 32) {
      float dk = 0.f, dv = 0.f;
      for (int i = 0; i < L; ++i) {
        dk += sc[i] * qs[i * ld + c];
        dv += pc[i] * dos[i * ld + c];
      }
      stf(dkj, c, dk);
      stf(dvj, c, dv);
    }
    __syncwarp();
  }
}

}  // namespace

bool attention_smem_fits(int64_t l, int64_t head_dim) {
  if (l > 4096 || head_dim > 4096) return false;
  const size_t cap = smem_cap();
  return fwd_smem(l, head_dim) <= cap && dq_smem(l, head_dim) <= cap && dkv_smem(l, head_dim) <= cap;
}

void cuda_attention_smem(const AttentionParams& p) {
  const Dims d{int(p.l), int(p.heads), int(p.head_dim), float(p.scale)};
  cuda_float_dispatch(p.out->dtype, "attention", [&](auto zero) {
    using T = decltype(zero);
    static bool ready = false;
    if (!ready) {
      cuda::allow_smem(attn_fwd_smem<T, 0>, smem_cap(), "attention");
      cuda::allow_smem(attn_fwd_smem<T, 32>, smem_cap(), "attention");
      cuda::allow_smem(attn_fwd_smem<T, 64>, smem_cap(), "attention");
      ready = true;
    }
    auto kernel = p.head_dim == 32 ? attn_fwd_smem<T, 32> : p.head_dim == 64 ? attn_fwd_smem<T, 64> : attn_fwd_smem<T, 0>;
    kernel<<<unsigned(p.n * p.heads), kThreads, fwd_smem(p.l, p.head_dim), cuda::stream()>>>(
        p.out->as<T>(), p.lse->as<float>(), p.qkv->as<T>(), d);
  });
}

void cuda_attention_backward_smem(const AttentionBackwardParams& p) {
  const Dims d{int(p.l), int(p.heads), int(p.head_dim), float(p.scale)};
  Scratch dvec(size_t(p.n * p.heads * p.l) * sizeof(float), "attentionBackward");
  cuda_float_dispatch(p.dqkv->dtype, "attentionBackward", [&](auto zero) {
    using T = decltype(zero);
    static bool ready = false;
    if (!ready) {
      cuda::allow_smem(attn_dq_smem<T, 0>, smem_cap(), "attentionBackward");
      cuda::allow_smem(attn_dq_smem<T, 32>, smem_cap(), "attentionBackward");
      cuda::allow_smem(attn_dq_smem<T, 64>, smem_cap(), "attentionBackward");
      cuda::allow_smem(attn_dkv_smem<T>, smem_cap(), "attentionBackward");
      ready = true;
    }
    const unsigned blocks = unsigned(p.n * p.heads);
    auto dq = p.head_dim == 32 ? attn_dq_smem<T, 32> : p.head_dim == 64 ? attn_dq_smem<T, 64> : attn_dq_smem<T, 0>;
    dq<<<blocks, kThreads, dq_smem(p.l, p.head_dim), cuda::stream()>>>(p.dqkv->as<T>(), dvec.as<float>(), p.dout->as<T>(),
                                                                        p.qkv->as<T>(), p.out->as<T>(), p.lse->as<float>(), d);
    attn_dkv_smem<T><<<blocks, kThreads, dkv_smem(p.l, p.head_dim), cuda::stream()>>>(
        p.dqkv->as<T>(), dvec.as<float>(), p.dout->as<T>(), p.qkv->as<T>(), p.lse->as<float>(), d);
  });
}

}  // namespace convmae
