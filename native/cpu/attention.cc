// CPU reference for attention and its backward (contract in native/ops/attention.h). One task
// per (sample, head): it reads that head's q, k, v columns in place (row stride 3D) and keeps
// one row of scores, or the dK/dV accumulators, in double. The backward recomputes each row of
// P from the scores and the forward's lse.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "float_dispatch.h"
#include "ops/attention.h"
#include "parallel.h"

namespace convmae {
namespace {

template <typename T>
void forward(const AttentionParams& p) {
  const int64_t L = p.l, H = p.heads, Dh = p.head_dim, D = H * Dh, stride = 3 * D;
  const T* qkv = p.qkv->as<T>();
  T* out = p.out->as<T>();
  float* lse = p.lse->as<float>();
  parallel_for(p.n * H, 1, [&](int64_t lo, int64_t hi) {
    std::vector<double> s(static_cast<size_t>(L)), o(static_cast<size_t>(Dh));
    for (int64_t nh = lo; nh < hi; ++nh) {
      const int64_t n = nh / H, h = nh % H;
      const T* q = qkv + n * L * stride + h * Dh;
      const T* k = q + D;
      const T* v = q + 2 * D;
      for (int64_t i = 0; i < L; ++i) {
        const T* qi = q + i * stride;
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < L; ++j) {
          const T* kj = k + j * stride;
          double d = 0;
          for (int64_t c = 0; c < Dh; ++c) d += double(qi[c]) * double(kj[c]);
          s[size_t(j)] = d * p.scale;
          mx = std::max(mx, s[size_t(j)]);
        }
        double z = 0;
        for (int64_t j = 0; j < L; ++j) z += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
        lse[nh * L + i] = float(mx + std::log(z));
        std::fill(o.begin(), o.end(), 0.0);
        for (int64_t j = 0; j < L; ++j) {
          const double pij = s[size_t(j)] / z;
          const T* vj = v + j * stride;
          for (int64_t c = 0; c < Dh; ++c) o[size_t(c)] += pij * double(vj[c]);
        }
        T* oi = out + (n * L + i) * D + h * Dh;
        for (int64_t c = 0; c < Dh; ++c) oi[c] = T(o[size_t(c)]);
      }
    }
  });
}

template <typename T>
void backward(const AttentionBackwardParams& p) {
  const int64_t L = p.l, H = p.heads, Dh = p.head_dim, D = H * Dh, stride = 3 * D;
  const T* qkv = p.qkv->as<T>();
  const T* dout = p.dout->as<T>();
  const T* out = p.out->as<T>();
  const float* lse = p.lse->as<float>();
  T* dqkv = p.dqkv->as<T>();
  parallel_for(p.n * H, 1, [&](int64_t lo, int64_t hi) {
    std::vector<double> dk(static_cast<size_t>(L * Dh)), dv(static_cast<size_t>(L * Dh));
    std::vector<double> pr(static_cast<size_t>(L)), dp(static_cast<size_t>(L)), dq(static_cast<size_t>(Dh));
    for (int64_t nh = lo; nh < hi; ++nh) {
      const int64_t n = nh / H, h = nh % H;
      const int64_t head = n * L * stride + h * Dh;  // q of row 0 of this head, in qkv and dqkv
      const T* q = qkv + head;
      const T* k = q + D;
      const T* v = q + 2 * D;
      std::fill(dk.begin(), dk.end(), 0.0);
      std::fill(dv.begin(), dv.end(), 0.0);
      for (int64_t i = 0; i < L; ++i) {
        const T* doi = dout + (n * L + i) * D + h * Dh;
        const T* oi = out + (n * L + i) * D + h * Dh;
        const T* qi = q + i * stride;
        // D_i = dO_i · O_i (= Σ_j P_ij·dP_ij, the softmax Jacobian's row term).
        double di = 0;
        for (int64_t c = 0; c < Dh; ++c) di += double(doi[c]) * double(oi[c]);
        // P[i, j] = exp(s_ij − lse_i) and dP[i, j] = dO_i · V_j.
        const double lse_i = double(lse[nh * L + i]);
        for (int64_t j = 0; j < L; ++j) {
          const T* kj = k + j * stride;
          const T* vj = v + j * stride;
          double s = 0, d = 0;
          for (int64_t c = 0; c < Dh; ++c) {
            s += double(qi[c]) * double(kj[c]);
            d += double(doi[c]) * double(vj[c]);
          }
          pr[size_t(j)] = std::exp(s * p.scale - lse_i);
          dp[size_t(j)] = d;
        }
        std::fill(dq.begin(), dq.end(), 0.0);
        for (int64_t j = 0; j < L; ++j) {
          const double pij = pr[size_t(j)];
          const double ds = pij * (dp[size_t(j)] - di) * p.scale;
          const T* kj = k + j * stride;
          double* dkj = dk.data() + j * Dh;
          double* dvj = dv.data() + j * Dh;
          for (int64_t c = 0; c < Dh; ++c) {
            dq[size_t(c)] += ds * double(kj[c]);
            dkj[c] += ds * double(qi[c]);
            dvj[c] += pij * double(doi[c]);
          }
        }
        T* dqi = dqkv + head + i * stride;
        for (int64_t c = 0; c < Dh; ++c) dqi[c] = T(dq[size_t(c)]);
      }
      for (int64_t j = 0; j < L; ++j) {
        T* dkj = dqkv + head + j * stride + D;
        T* dvj = dkj + D;
        for (int64_t c = 0; c < Dh; ++c) {
          dkj[c] = T(dk[size_t(j * Dh + c)]);
          dvj[c] = T(dv[size_t(j * Dh + c)]);
        }
      }
    }
  });
}

}  // namespace

void cpu_attention(const AttentionParams& p) {
  cpu_float_dispatch(p.out->dtype, "attention", [&](auto zero) { forward<decltype(zero)>(p); });
}

void cpu_attention_backward(const AttentionBackwardParams& p) {
  cpu_float_dispatch(p.dqkv->dtype, "attentionBackward", [&](auto zero) { backward<decltype(zero)>(p); });
}

}  // namespace convmae
