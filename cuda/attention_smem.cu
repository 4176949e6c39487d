// attention on CUDA when one head's tokens fit in shared memory (contract in
// native/ops/attention.h; cuda/attention.cu falls back to its global-memory kernels otherwise).
// One block of 8 warps per (n, h); K, V (and Q, dO in the backward) of the head are staged once
// in shared memory as fp32, so each element is read from global memory once per block instead of
// once per query row. fp32 arithmetic, the same formulas as the CPU op:
//   forward, warp per query row i: s_ij = (q_i·k_j)·scale for lanes over j, the row max, p_ij =
//     exp(s_ij − max) / Σ_j exp(s_ij − max) (written to probs), then o_i = Σ_j p_ij·v_j with lanes
//     over the head dims.
//   backward kernel 1, warp per query row i: dP_ij = dO_i·v_j, rowdot_i = Σ_j P_ij·dP_ij,
//     dS_ij = P_ij·(dP_ij − rowdot_i)·scale into an fp32 scratch [N·H·L·L], and dQ_i = Σ_j dS_ij·k_j.
//   backward kernel 2, per 16 key columns at a time (P and dS columns staged in shared memory),
//     warp per key row j: dK_j = Σ_i dS_ij·q_i and dV_j = Σ_i P_ij·dO_i. No atomics: deterministic.
// K rows are padded to Dh + 1 floats, so lanes reading different keys at one dim hit distinct banks.
// For the models' head dims 32 and 64 the kernels are instantiated with Dh known: a warp then takes
// two query rows (or two key rows) at once with q / dO held in registers, so each value read from
// shared memory feeds two products. The sums run in the same order either way.
#include <cuda_bf16.h>

#include <string>

#include "attention_smem.cuh"
#include "errors.h"
#include "runtime.cuh"
#include "scratch.cuh"
#include "storage.cuh"

namespace convmae {

namespace {
constexpr int kThreads = 256, kWarps = kThreads / 32, kCols = 16;
constexpr size_t kMaxSmem = 200 * 1024;

struct Dims {
  int l, h, dh;
  float scale;
};

// Per-warp buffers hold 2 rows (the register-blocked head dims 32 and 64 take 2 rows per warp).
size_t fwd_smem(int64_t L, int64_t Dh) { return size_t(L * (Dh + 1) + L * Dh + kWarps * 2 * (Dh + L)) * sizeof(float); }
size_t dq_smem(int64_t L, int64_t Dh) { return size_t(2 * L * (Dh + 1) + kWarps * 2 * (Dh + L)) * sizeof(float); }
size_t dkv_smem(int64_t L, int64_t Dh) { return size_t(2 * L * Dh + 2 * L * (kCols + 1)) * sizeof(float); }

// Stages rows [0, L) of one head's slot (q, k or v at column offset `col`) as fp32 with row pitch ld.
template <typename T>
__device__ inline void stage(float* dst, int ld, const T* head, int64_t col, int64_t row_stride, int L, int Dh) {
  for (int idx = threadIdx.x; idx < L * Dh; idx += kThreads) {
    const int j = idx / Dh, c = idx % Dh;
    dst[j * ld + c] = ldf(head, j * row_stride + col + c);
  }
}

// Rows per warp: 2 when the head dim is a compile-time constant (registers hold q / dO), else 1.
template <int DH>
__host__ __device__ constexpr int rows_per_warp() { return DH > 0 ? 2 : 1; }

template <typename T, int DH>
__global__ void __launch_bounds__(kThreads) attn_fwd_smem(T* out, T* probs, const T* qkv, Dims d) {
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
  T* prow = probs + nh * int64_t(L) * L;
  for (int i0 = warp * R; i0 < L; i0 += kWarps * R) {
    const int rows = L - i0 < R ? L - i0 : R;
    for (int e = lane; e < R * Dh; e += 32) {
      const int rr = e / Dh, c = e % Dh;
      qs[e] = rr < rows ? ldf(head, (i0 + rr) * W + c) : 0.f;
    }
    __syncwarp();
    float mx[R];
#pragma unroll
    for (int rr = 0; rr < R; ++rr) mx[rr] = -INFINITY;
    float qr[DH > 0 ? R : 1][DH > 0 ? DH : 1];  // q rows in registers (known head dim only)
    if constexpr (DH > 0) {
#pragma unroll
      for (int rr = 0; rr < R; ++rr)
#pragma unroll
        for (int c = 0; c < DH; ++c) qr[rr][c] = qs[rr * DH + c];
    }
    for (int j = lane; j < L; j += 32) {
      const float* kj = ks + j * ldk;
      float s[R] = {};
      if constexpr (DH > 0) {
#pragma unroll
        for (int c = 0; c < DH; ++c) {
          const float k = kj[c];
#pragma unroll
          for (int rr = 0; rr < R; ++rr) s[rr] += qr[rr][c] * k;
        }
      } else {
        for (int c = 0; c < Dh; ++c) s[0] += qs[c] * kj[c];
      }
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
      for (int j = lane; j < L; j += 32) {
        const float p = ps[rr * L + j] / z;
        ps[rr * L + j] = p;
        if (rr < rows) stf(prow, int64_t(i0 + rr) * L + j, p);
      }
    }
    __syncwarp();
    for (int c = lane; c < Dh; c += 32) {
      float o[R] = {};
      for (int j = 0; j < L; ++j) {
        const float v = vs[j * Dh + c];
#pragma unroll
        for (int rr = 0; rr < R; ++rr) o[rr] += ps[rr * L + j] * v;
      }
#pragma unroll
      for (int rr = 0; rr < R; ++rr)
        if (rr < rows) stf(out + (n * L + i0 + rr) * D + h * Dh, c, o[rr]);
    }
    __syncwarp();
  }
}

template <typename T, int DH>
__global__ void __launch_bounds__(kThreads)
    attn_dq_smem(T* dqkv, float* ds_out, const T* dout, const T* qkv, const T* probs, Dims d) {
  constexpr int R = rows_per_warp<DH>();
  extern __shared__ float sm[];
  const int L = d.l, Dh = DH > 0 ? DH : d.dh, ldk = Dh + 1;
  const int64_t D = int64_t(d.h) * Dh, W = 3 * D;
  const int64_t nh = blockIdx.x, n = nh / d.h, h = nh % d.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* ks = sm;
  float* vs = ks + L * ldk;
  float* dos = vs + L * ldk + warp * (R * Dh + R * L);  // [R][Dh], then dsr [R][L]
  float* dsr = dos + R * Dh;
  const T* head = qkv + n * L * W + h * Dh;
  stage(ks, ldk, head, D, W, L, Dh);
  stage(vs, ldk, head, 2 * D, W, L, Dh);
  __syncthreads();
  const T* prow = probs + nh * int64_t(L) * L;
  float* dsrow = ds_out + nh * int64_t(L) * L;
  for (int i0 = warp * R; i0 < L; i0 += kWarps * R) {
    const int rows = L - i0 < R ? L - i0 : R;
    for (int e = lane; e < R * Dh; e += 32) {
      const int rr = e / Dh, c = e % Dh;
      dos[e] = rr < rows ? ldf(dout + (n * L + i0 + rr) * D + h * Dh, c) : 0.f;
    }
    __syncwarp();
    float rd[R] = {};
    float dr[DH > 0 ? R : 1][DH > 0 ? DH : 1];  // dO rows in registers (known head dim only)
    if constexpr (DH > 0) {
#pragma unroll
      for (int rr = 0; rr < R; ++rr)
#pragma unroll
        for (int c = 0; c < DH; ++c) dr[rr][c] = dos[rr * DH + c];
    }
    for (int j = lane; j < L; j += 32) {
      const float* vj = vs + j * ldk;
      float dp[R] = {};
      if constexpr (DH > 0) {
#pragma unroll
        for (int c = 0; c < DH; ++c) {
          const float v = vj[c];
#pragma unroll
          for (int rr = 0; rr < R; ++rr) dp[rr] += dr[rr][c] * v;
        }
      } else {
        for (int c = 0; c < Dh; ++c) dp[0] += dos[c] * vj[c];
      }
#pragma unroll
      for (int rr = 0; rr < R; ++rr) {
        dsr[rr * L + j] = dp[rr];
        if (rr < rows) rd[rr] += ldf(prow, int64_t(i0 + rr) * L + j) * dp[rr];
      }
    }
#pragma unroll
    for (int rr = 0; rr < R; ++rr) {
      const float r = warp_sum(rd[rr]);
      for (int j = lane; j < L; j += 32) {
        const float ds = rr < rows ? ldf(prow, int64_t(i0 + rr) * L + j) * (dsr[rr * L + j] - r) * d.scale : 0.f;
        dsr[rr * L + j] = ds;
        if (rr < rows) dsrow[int64_t(i0 + rr) * L + j] = ds;
      }
    }
    __syncwarp();
    for (int c = lane; c < Dh; c += 32) {
      float acc[R] = {};
      for (int j = 0; j < L; ++j) {
        const float k = ks[j * ldk + c];
#pragma unroll
        for (int rr = 0; rr < R; ++rr) acc[rr] += dsr[rr * L + j] * k;
      }
#pragma unroll
      for (int rr = 0; rr < R; ++rr)
        if (rr < rows) stf(dqkv + (n * L + i0 + rr) * W + h * Dh, c, acc[rr]);
    }
    __syncwarp();
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    attn_dkv_smem(T* dqkv, const float* ds_in, const T* dout, const T* qkv, const T* probs, Dims d) {
  extern __shared__ float sm[];
  const int L = d.l, Dh = d.dh;
  const int64_t D = int64_t(d.h) * Dh, W = 3 * D;
  const int64_t nh = blockIdx.x, n = nh / d.h, h = nh % d.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* qs = sm;
  float* dos = qs + L * Dh;
  float* pc = dos + L * Dh;            // [L][kCols + 1]: P columns j0 ..
  float* sc = pc + L * (kCols + 1);    // [L][kCols + 1]: dS columns j0 ..
  const T* head = qkv + n * L * W + h * Dh;
  stage(qs, Dh, head, 0, W, L, Dh);
  stage(dos, Dh, dout + n * L * D + h * Dh, 0, D, L, Dh);
  const T* pm = probs + nh * int64_t(L) * L;
  const float* sm_ds = ds_in + nh * int64_t(L) * L;
  for (int j0 = 0; j0 < L; j0 += kCols) {
    const int cols = L - j0 < kCols ? L - j0 : kCols;
    __syncthreads();  // the previous chunk's columns are no longer read (and Q, dO are staged)
    for (int idx = threadIdx.x; idx < L * kCols; idx += kThreads) {
      const int i = idx / kCols, jj = idx % kCols;
      if (jj < cols) {
        pc[i * (kCols + 1) + jj] = ldf(pm, int64_t(i) * L + j0 + jj);
        sc[i * (kCols + 1) + jj] = sm_ds[int64_t(i) * L + j0 + jj];
      }
    }
    __syncthreads();
    for (int jj = warp; jj < cols; jj += kWarps) {
      T* dkj = dqkv + (n * L + j0 + jj) * W + D + h * Dh;
      T* dvj = dkj + D;
      for (int c = lane; c < Dh; c += 32) {
        float dk = 0.f, dv = 0.f;
        for (int i = 0; i < L; ++i) {
          dk += sc[i * (kCols + 1) + jj] * qs[i * Dh + c];
          dv += pc[i * (kCols + 1) + jj] * dos[i * Dh + c];
        }
        stf(dkj, c, dk);
        stf(dvj, c, dv);
      }
    }
  }
}

// Raises the dynamic shared-memory limit of a kernel once (above the default 48 KB).
template <typename K>
void allow_smem(K kernel, const char* op) {
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kMaxSmem));
  if (e != cudaSuccess) throw_error(op, std::string("cannot reserve shared memory: ") + cudaGetErrorString(e));
}
}  // namespace

bool attention_smem_fits(int64_t l, int64_t head_dim) {
  return l <= 4096 && head_dim <= 4096 && fwd_smem(l, head_dim) <= kMaxSmem && dq_smem(l, head_dim) <= kMaxSmem &&
         dkv_smem(l, head_dim) <= kMaxSmem;
}

void cuda_attention_smem(const AttentionParams& p) {
  const Dims d{int(p.l), int(p.heads), int(p.head_dim), float(p.scale)};
  cuda_float_dispatch(p.out->dtype, "attention", [&](auto zero) {
    using T = decltype(zero);
    static bool ready = false;
    if (!ready) {
      allow_smem(attn_fwd_smem<T, 0>, "attention");
      allow_smem(attn_fwd_smem<T, 32>, "attention");
      allow_smem(attn_fwd_smem<T, 64>, "attention");
      ready = true;
    }
    auto kernel = p.head_dim == 32 ? attn_fwd_smem<T, 32> : p.head_dim == 64 ? attn_fwd_smem<T, 64> : attn_fwd_smem<T, 0>;
    kernel<<<unsigned(p.n * p.heads), kThreads, fwd_smem(p.l, p.head_dim), cuda::stream()>>>(
        p.out->as<T>(), p.probs->as<T>(), p.qkv->as<T>(), d);
  });
}

void cuda_attention_backward_smem(const AttentionBackwardParams& p) {
  const Dims d{int(p.l), int(p.heads), int(p.head_dim), float(p.scale)};
  Scratch ds(size_t(p.n * p.heads * p.l * p.l) * sizeof(float), "attentionBackward");
  cuda_float_dispatch(p.dqkv->dtype, "attentionBackward", [&](auto zero) {
    using T = decltype(zero);
    static bool ready = false;
    if (!ready) {
      allow_smem(attn_dq_smem<T, 0>, "attentionBackward");
      allow_smem(attn_dq_smem<T, 32>, "attentionBackward");
      allow_smem(attn_dq_smem<T, 64>, "attentionBackward");
      allow_smem(attn_dkv_smem<T>, "attentionBackward");
      ready = true;
    }
    const unsigned blocks = unsigned(p.n * p.heads);
    auto dq = p.head_dim == 32 ? attn_dq_smem<T, 32> : p.head_dim == 64 ? attn_dq_smem<T, 64> : attn_dq_smem<T, 0>;
    dq<<<blocks, kThreads, dq_smem(p.l, p.head_dim), cuda::stream()>>>(
        p.dqkv->as<T>(), ds.as<float>(), p.dout->as<T>(), p.qkv->as<T>(), p.probs->as<T>(), d);
    attn_dkv_smem<T><<<blocks, kThreads, dkv_smem(p.l, p.head_dim), cuda::stream()>>>(
        p.dqkv->as<T>(), ds.as<float>(), p.dout->as<T>(), p.qkv->as<T>(), p.probs->as<T>(), d);
  });
}

}  // namespace convmae
