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

size_t fwd_smem(int64_t L, int64_t Dh) { return size_t(L * (Dh + 1) + L * Dh + kWarps * (Dh + L)) * sizeof(float); }
size_t dq_smem(int64_t L, int64_t Dh) { return size_t(2 * L * (Dh + 1) + kWarps * (Dh + L)) * sizeof(float); }
size_t dkv_smem(int64_t L, int64_t Dh) { return size_t(2 * L * Dh + 2 * L * (kCols + 1)) * sizeof(float); }

// Stages rows [0, L) of one head's slot (q, k or v at column offset `col`) as fp32 with row pitch ld.
template <typename T>
__device__ inline void stage(float* dst, int ld, const T* head, int64_t col, int64_t row_stride, int L, int Dh) {
  for (int idx = threadIdx.x; idx < L * Dh; idx += kThreads) {
    const int j = idx / Dh, c = idx % Dh;
    dst[j * ld + c] = ldf(head, j * row_stride + col + c);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) attn_fwd_smem(T* out, T* probs, const T* qkv, Dims d) {
  extern __shared__ float sm[];
  const int L = d.l, Dh = d.dh, ldk = Dh + 1;
  const int64_t D = int64_t(d.h) * Dh, W = 3 * D;
  const int64_t nh = blockIdx.x, n = nh / d.h, h = nh % d.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* ks = sm;
  float* vs = ks + L * ldk;
  float* qs = vs + L * Dh + warp * (Dh + L);
  float* ps = qs + Dh;
  const T* head = qkv + n * L * W + h * Dh;
  stage(ks, ldk, head, D, W, L, Dh);
  stage(vs, Dh, head, 2 * D, W, L, Dh);
  __syncthreads();
  T* prow = probs + nh * int64_t(L) * L;
  for (int i = warp; i < L; i += kWarps) {
    for (int c = lane; c < Dh; c += 32) qs[c] = ldf(head, i * W + c);
    __syncwarp();
    float mx = -INFINITY;
    for (int j = lane; j < L; j += 32) {
      const float* kj = ks + j * ldk;
      float s = 0.f;
      for (int c = 0; c < Dh; ++c) s += qs[c] * kj[c];
      s *= d.scale;
      ps[j] = s;
      mx = fmaxf(mx, s);
    }
    mx = warp_max(mx);
    float z = 0.f;
    for (int j = lane; j < L; j += 32) {
      const float e = expf(ps[j] - mx);
      ps[j] = e;
      z += e;
    }
    z = warp_sum(z);
    for (int j = lane; j < L; j += 32) {
      const float p = ps[j] / z;
      ps[j] = p;
      stf(prow, int64_t(i) * L + j, p);
    }
    __syncwarp();
    T* oi = out + (n * L + i) * D + h * Dh;
    for (int c = lane; c < Dh; c += 32) {
      float o = 0.f;
      for (int j = 0; j < L; ++j) o += ps[j] * vs[j * Dh + c];
      stf(oi, c, o);
    }
    __syncwarp();
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    attn_dq_smem(T* dqkv, float* ds_out, const T* dout, const T* qkv, const T* probs, Dims d) {
  extern __shared__ float sm[];
  const int L = d.l, Dh = d.dh, ldk = Dh + 1;
  const int64_t D = int64_t(d.h) * Dh, W = 3 * D;
  const int64_t nh = blockIdx.x, n = nh / d.h, h = nh % d.h;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* ks = sm;
  float* vs = ks + L * ldk;
  float* dos = vs + L * ldk + warp * (Dh + L);
  float* dsr = dos + Dh;
  const T* head = qkv + n * L * W + h * Dh;
  stage(ks, ldk, head, D, W, L, Dh);
  stage(vs, ldk, head, 2 * D, W, L, Dh);
  __syncthreads();
  const T* prow = probs + nh * int64_t(L) * L;
  float* dsrow = ds_out + nh * int64_t(L) * L;
  for (int i = warp; i < L; i += kWarps) {
    const T* doi = dout + (n * L + i) * D + h * Dh;
    for (int c = lane; c < Dh; c += 32) dos[c] = ldf(doi, c);
    __syncwarp();
    float rd = 0.f;
    for (int j = lane; j < L; j += 32) {
      const float* vj = vs + j * ldk;
      float dp = 0.f;
      for (int c = 0; c < Dh; ++c) dp += dos[c] * vj[c];
      dsr[j] = dp;
      rd += ldf(prow, int64_t(i) * L + j) * dp;
    }
    rd = warp_sum(rd);
    for (int j = lane; j < L; j += 32) {
      const float ds = ldf(prow, int64_t(i) * L + j) * (dsr[j] - rd) * d.scale;
      dsr[j] = ds;
      dsrow[int64_t(i) * L + j] = ds;
    }
    __syncwarp();
    T* dqi = dqkv + (n * L + i) * W + h * Dh;
    for (int c = lane; c < Dh; c += 32) {
      float acc = 0.f;
      for (int j = 0; j < L; ++j) acc += dsr[j] * ks[j * ldk + c];
      stf(dqi, c, acc);
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
      allow_smem(attn_fwd_smem<T>, "attention");
      ready = true;
    }
    attn_fwd_smem<T><<<unsigned(p.n * p.heads), kThreads, fwd_smem(p.l, p.head_dim), cuda::stream()>>>(
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
      allow_smem(attn_dq_smem<T>, "attentionBackward");
      allow_smem(attn_dkv_smem<T>, "attentionBackward");
      ready = true;
    }
    const unsigned blocks = unsigned(p.n * p.heads);
    attn_dq_smem<T><<<blocks, kThreads, dq_smem(p.l, p.head_dim), cuda::stream()>>>(
        p.dqkv->as<T>(), ds.as<float>(), p.dout->as<T>(), p.qkv->as<T>(), p.probs->as<T>(), d);
    attn_dkv_smem<T><<<blocks, kThreads, dkv_smem(p.l, p.head_dim), cuda::stream()>>>(
        p.dqkv->as<T>(), ds.as<float>(), p.dout->as<T>(), p.qkv->as<T>(), p.probs->as<T>(), d);
  });
}

}  // namespace convmae
