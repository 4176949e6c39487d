// Losses on CUDA (full contract in native/ops/losses.h), each reduced to one scalar, with their
// backward kernels.
//   masked_mse_loss: pred, target [rows, P], mask [rows]; t̂ = target, or with norm_pix
//     (target − μ_r)/sqrt(σ²_r + 1e-6) (unbiased σ², P >= 2); e[r] = mean_k (pred − t̂)²;
//     loss[0] = Σ mask·e / Σ mask (=), 0 when Σ mask = 0.
//     backward: dpred = dloss·mask[r]/Σmask·2/P·(pred − t̂) (=); rows with weight 0 get 0.
//   cross_entropy: logits, soft targets t [N, C]; loss[0] = (1/N)·Σ_n Σ_c −t·log_softmax(z) (=).
//     backward: dlogits = (softmax·Σ_c t − t)·dloss/N (=).
// float32 or bfloat16 storage; per-row work in fp32, the sums over rows in double. Outputs are
// distinct from the inputs (checked by the binding); rows may be 0 for the masked MSE (the loss
// is then 0 and the backward writes nothing).
//
// Per-row work: one warp per row (8 per 256-thread block, grid-stride over rows); row statistics
// (norm-pix mean/variance, log-sum-exp) are warp reductions, the norm-pix variance taken from
// values centred on the row's first element, then on the mean, as the CPU's double passes are.
// The scalar: a first kernel writes one fp32 value per row into a device scratch, a second
// (one 256-thread block) sums it in a fixed order in double, so the loss is deterministic. The
// masked MSE backward first sums the mask the same way.
#include <cuda_bf16.h>

#include <string>

#include "cuda_api.h"
#include "errors.h"
#include "ops/losses.h"
#include "runtime.cuh"
#include "storage.cuh"
#include "scratch.cuh"

namespace convmae {

namespace {
constexpr int kThreads = 256, kWarps = kThreads / 32;

// Sums a and b over one block of kThreads threads in double; the totals are returned to thread 0.
__device__ inline void block_sum2(double& a, double& b) {
  __shared__ double sa[kThreads], sb[kThreads];
  sa[threadIdx.x] = a;
  sb[threadIdx.x] = b;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) {
      sa[threadIdx.x] += sa[threadIdx.x + w];
      sb[threadIdx.x] += sb[threadIdx.x + w];
    }
    __syncthreads();
  }
  a = sa[0];
  b = sb[0];
}

#define CM_FOR_EACH_WARP_ROW(r, rows) \
  for (int64_t r = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; r < (rows); r += int64_t(gridDim.x) * kWarps)

// t̂ = ((t − t0) − mu)·inv for one target row, whole warp: t0 = mu = 0, inv = 1 without norm_pix.
template <typename T>
__device__ inline void target_stats(const T* t, int64_t P, bool norm_pix, float& t0, float& mu, float& inv) {
  t0 = 0.f, mu = 0.f, inv = 1.f;
  if (!norm_pix) return;
  const int lane = threadIdx.x % 32;
  t0 = ldf(t, 0);
  float s = 0.f;
  for (int64_t k = lane; k < P; k += 32) s += ldf(t, k) - t0;
  mu = warp_sum(s) / float(P);
  float ss = 0.f;
  for (int64_t k = lane; k < P; k += 32) {
    const float d = (ldf(t, k) - t0) - mu;
    ss += d * d;
  }
  inv = 1.f / sqrtf(warp_sum(ss) / float(P - 1) + 1e-6f);
}

// em[r] = mask[r] · mean_k (pred[r,k] − t̂[r,k])².
template <typename T>
__global__ void __launch_bounds__(kThreads)
    mse_rows_kernel(float* em, const T* pred, const T* target, const T* mask, int64_t rows, int64_t P, bool norm_pix) {
  const int lane = threadIdx.x % 32;
  CM_FOR_EACH_WARP_ROW(r, rows) {
    const T* x = pred + r * P;
    const T* t = target + r * P;
    float t0, mu, inv;
    target_stats(t, P, norm_pix, t0, mu, inv);
    float s = 0.f;
    for (int64_t k = lane; k < P; k += 32) {
      const float d = ldf(x, k) - ((ldf(t, k) - t0) - mu) * inv;
      s += d * d;
    }
    s = warp_sum(s) / float(P);
    if (lane == 0) em[r] = ldf(mask, r) * s;
  }
}

// loss[0] = Σ em / Σ mask (0 when Σ mask = 0); one block.
template <typename T>
__global__ void __launch_bounds__(kThreads) mse_finish_kernel(T* loss, const float* em, const T* mask, int64_t rows) {
  double num = 0, den = 0;
  for (int64_t r = threadIdx.x; r < rows; r += kThreads) {
    num += double(em[r]);
    den += double(ldf(mask, r));
  }
  block_sum2(num, den);
  if (threadIdx.x == 0) stf(loss, 0, float(den == 0 ? 0.0 : num / den));
}

// den[0] = Σ mask; one block.
template <typename T>
__global__ void __launch_bounds__(kThreads) mask_sum_kernel(double* den, const T* mask, int64_t rows) {
  double s = 0, unused = 0;
  for (int64_t r = threadIdx.x; r < rows; r += kThreads) s += double(ldf(mask, r));
  block_sum2(s, unused);
  if (threadIdx.x == 0) den[0] = s;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    mse_backward_kernel(T* dpred, const T* dloss, const double* den, const T* pred, const T* target, const T* mask,
                        int64_t rows, int64_t P, bool norm_pix) {
  const int lane = threadIdx.x % 32;
  const double dn = den[0];
  const double g = dn == 0 ? 0.0 : double(ldf(dloss, 0)) * 2.0 / (dn * double(P));
  CM_FOR_EACH_WARP_ROW(r, rows) {
    const T* x = pred + r * P;
    const T* t = target + r * P;
    T* dx = dpred + r * P;
    const float w = float(g * double(ldf(mask, r)));
    if (w == 0.f) {  // uniform over the warp
      for (int64_t k = lane; k < P; k += 32) stf(dx, k, 0.f);
      continue;
    }
    float t0, mu, inv;
    target_stats(t, P, norm_pix, t0, mu, inv);
    for (int64_t k = lane; k < P; k += 32) stf(dx, k, w * (ldf(x, k) - ((ldf(t, k) - t0) - mu) * inv));
  }
}

// Row max and Σ_c exp(z − max) of one logits row, whole warp.
template <typename T>
__device__ inline void softmax_stats(const T* z, int64_t C, float& mx, float& s) {
  const int lane = threadIdx.x % 32;
  float m = -INFINITY;
  for (int64_t c = lane; c < C; c += 32) m = fmaxf(m, ldf(z, c));
  mx = warp_max(m);
  float e = 0.f;
  for (int64_t c = lane; c < C; c += 32) e += expf(ldf(z, c) - mx);
  s = warp_sum(e);
}

// row[n] = −Σ_c t·((z − max) − log Σ exp(z − max)), term by term so large logits cancel exactly.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    ce_rows_kernel(float* row, const T* logits, const T* targets, int64_t N, int64_t C) {
  const int lane = threadIdx.x % 32;
  CM_FOR_EACH_WARP_ROW(n, N) {
    const T* z = logits + n * C;
    const T* t = targets + n * C;
    float mx, s;
    softmax_stats(z, C, mx, s);
    const float ls = logf(s);
    float acc = 0.f;
    for (int64_t c = lane; c < C; c += 32) acc -= ldf(t, c) * ((ldf(z, c) - mx) - ls);
    acc = warp_sum(acc);
    if (lane == 0) row[n] = acc;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) ce_finish_kernel(T* loss, const float* row, int64_t N) {
  double s = 0, unused = 0;
  for (int64_t n = threadIdx.x; n < N; n += kThreads) s += double(row[n]);
  block_sum2(s, unused);
  if (threadIdx.x == 0) stf(loss, 0, float(s / double(N)));
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    ce_backward_kernel(T* dz, const T* dloss, const T* logits, const T* targets, int64_t N, int64_t C) {
  const int lane = threadIdx.x % 32;
  const float g = float(double(ldf(dloss, 0)) / double(N));
  CM_FOR_EACH_WARP_ROW(n, N) {
    const T* z = logits + n * C;
    const T* t = targets + n * C;
    float mx, s;
    softmax_stats(z, C, mx, s);
    float ts = 0.f;
    for (int64_t c = lane; c < C; c += 32) ts += ldf(t, c);
    ts = warp_sum(ts);
    for (int64_t c = lane; c < C; c += 32) stf(dz + n * C, c, (expf(ldf(z, c) - mx) / s * ts - ldf(t, c)) * g);
  }
}
#undef CM_FOR_EACH_WARP_ROW
}  // namespace

void cuda_masked_mse_loss(const MaskedMseLossParams& p) {
  Scratch em(size_t(p.rows) * sizeof(float), "maskedMseLoss");
  cuda_float_dispatch(p.loss->dtype, "maskedMseLoss", [&](auto zero) {
    using T = decltype(zero);
    float* e = em.as<float>();
    if (p.rows > 0)
      mse_rows_kernel<T><<<cuda::grid_for(p.rows, kWarps), kThreads, 0, cuda::stream()>>>(
          e, p.pred->as<T>(), p.target->as<T>(), p.mask->as<T>(), p.rows, p.p, p.norm_pix);
    mse_finish_kernel<T><<<1, kThreads, 0, cuda::stream()>>>(p.loss->as<T>(), e, p.mask->as<T>(), p.rows);
  });
}

void cuda_masked_mse_loss_backward(const MaskedMseLossBackwardParams& p) {
  if (p.rows == 0 || p.p == 0) return;
  Scratch den(sizeof(double), "maskedMseLossBackward");
  cuda_float_dispatch(p.dpred->dtype, "maskedMseLossBackward", [&](auto zero) {
    using T = decltype(zero);
    double* dn = den.as<double>();
    mask_sum_kernel<T><<<1, kThreads, 0, cuda::stream()>>>(dn, p.mask->as<T>(), p.rows);
    mse_backward_kernel<T><<<cuda::grid_for(p.rows, kWarps), kThreads, 0, cuda::stream()>>>(
        p.dpred->as<T>(), p.dloss->as<T>(), dn, p.pred->as<T>(), p.target->as<T>(), p.mask->as<T>(), p.rows, p.p,
        p.norm_pix);
  });
}

void cuda_cross_entropy(const CrossEntropyParams& p) {
  if (p.n == 0 || p.c == 0) return;  // excluded by the binding (N, C >= 1)
  Scratch row(size_t(p.n) * sizeof(float), "crossEntropy");
  cuda_float_dispatch(p.loss->dtype, "crossEntropy", [&](auto zero) {
    using T = decltype(zero);
    float* r = row.as<float>();
    ce_rows_kernel<T><<<cuda::grid_for(p.n, kWarps), kThreads, 0, cuda::stream()>>>(r, p.logits->as<T>(),
                                                                                    p.targets->as<T>(), p.n, p.c);
    ce_finish_kernel<T><<<1, kThreads, 0, cuda::stream()>>>(p.loss->as<T>(), r, p.n);
  });
}

void cuda_cross_entropy_backward(const CrossEntropyBackwardParams& p) {
  if (p.n == 0 || p.c == 0) return;
  cuda_float_dispatch(p.dlogits->dtype, "crossEntropyBackward", [&](auto zero) {
    using T = decltype(zero);
    ce_backward_kernel<T><<<cuda::grid_for(p.n, kWarps), kThreads, 0, cuda::stream()>>>(
        p.dlogits->as<T>(), p.dloss->as<T>(), p.logits->as<T>(), p.targets->as<T>(), p.n, p.c);
  });
}

}  // namespace convmae
