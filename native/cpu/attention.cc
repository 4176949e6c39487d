// CPU reference for attention and its backward (contract in native/ops/attention.h). One task
// per (sample, head), in double: the head's K and V are first copied transposed (kt[c][j],
// vt[c][j]), so that a row of scores S_i· = Q_i·Kᵀ (and dP_i· = dO_i·Vᵀ) is summed over c in order
// with the keys j side by side (the compiler's vector lanes, each its own sum); every sum is the
// same, in the same order, as one key at a time. The backward recomputes each row of P from the
// scores and the forward's lse.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "float_dispatch.h"
#include "ops/attention.h"
#include "parallel.h"

namespace convmae {
namespace {

// dst[c * L + j] = src[j * stride + c]: a head's L rows of Dh columns, transposed, in double.
template <typename T>
void transpose_head(double* dst, const T* src, int64_t L, int64_t Dh, int64_t stride) {
  for (int64_t j = 0; j < L; ++j)
    for (int64_t c = 0; c < Dh; ++c) dst[c * L + j] = double(src[j * stride + c]);
}

// s[j] = Σ_c x[c] · mt[c * L + j] for every j (x: Dh values of T).
template <typename T>
void row_times(double* s, const T* x, const double* mt, int64_t L, int64_t Dh) {
  std::fill(s, s + L, 0.0);
  for (int64_t c = 0; c < Dh; ++c) {
    const double xc = double(x[c]);
    const double* m = mt + c * L;
    for (int64_t j = 0; j < L; ++j) s[j] += xc * m[j];
  }
}

template <typename T>
void forward(const AttentionParams& p) {
  const int64_t L = p.l, H = p.heads, Dh = p.head_dim, D = H * Dh, stride = 3 * D;
  const T* qkv = p.qkv->as<T>();
  T* out = p.out->as<T>();
  float* lse = p.lse->as<float>();
  parallel_for(p.n * H, 1, [&](int64_t lo, int64_t hi) {
    const size_t head_size = static_cast<size_t>(L * Dh);
    std::vector<double> s(static_cast<size_t>(L)), o(static_cast<size_t>(Dh)), kt(head_size), v(head_size);
    for (int64_t nh = lo; nh < hi; ++nh) {
      const int64_t n = nh / H, h = nh % H;
      const T* q = qkv + n * L * stride + h * Dh;
      transpose_head(kt.data(), q + D, L, Dh, stride);
      for (int64_t j = 0; j < L; ++j)
        for (int64_t c = 0; c < Dh; ++c) v[size_t(j * Dh + c)] = double(q[2 * D + j * stride + c]);
      for (int64_t i = 0; i < L; ++i) {
        row_times(s.data(), q + i * stride, kt.data(), L, Dh);
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < L; ++j) mx = std::max(mx, s[size_t(j)] *= p.scale);
        double z = 0;
        for (int64_t j = 0; j < L; ++j) z += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
        lse[nh * L + i] = float(mx + std::log(z));
        std::fill(o.begin(), o.end(), 0.0);
        for (int64_t j = 0; j < L; ++j) {
          const double pij = s[size_t(j)] / z;
          const double* vj = v.data() + j * Dh;
          for (int64_t c = 0; c < Dh; ++c) o[size_t(c)] += pij * vj[c];
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
    const size_t head_size = static_cast<size_t>(L * Dh);
    std::vector<double> dk(head_size), dv(head_size), k(head_size), kt(head_size), vt(head_size);
    std::vector<double> pr(static_cast<size_t>(L)), dp(static_cast<size_t>(L));
    std::vector<double> dq(static_cast<size_t>(Dh)), qi(static_cast<size_t>(Dh)), doi(static_cast<size_t>(Dh));
    for (int64_t nh = lo; nh < hi; ++nh) {
      const int64_t n = nh / H, h = nh % H;
      const int64_t head = n * L * stride + h * Dh;  // q of row 0 of this head, in qkv and dqkv
      const T* q = qkv + head;
      transpose_head(kt.data(), q + D, L, Dh, stride);
      transpose_head(vt.data(), q + 2 * D, L, Dh, stride);
      for (int64_t j = 0; j < L; ++j)
        for (int64_t c = 0; c < Dh; ++c) k[size_t(j * Dh + c)] = double(q[D + j * stride + c]);
      std::fill(dk.begin(), dk.end(), 0.0);
      std::fill(dv.begin(), dv.end(), 0.0);
      for (int64_t i = 0; i < L; ++i) {
        const T* doi_t = dout + (n * L + i) * D + h * Dh;
        const T* oi = out + (n * L + i) * D + h * Dh;
        for (int64_t c = 0; c < Dh; ++c) {
          qi[size_t(c)] = double(q[i * stride + c]);
          doi[size_t(c)] = double(doi_t[c]);
        }
        // D_i = dO_i · O_i (= Σ_j P_ij·dP_ij, the softmax Jacobian's row term).
        double di = 0;
        for (int64_t c = 0; c < Dh; ++c) di += doi[size_t(c)] * double(oi[c]);
        // P[i, j] = exp(s_ij − lse_i) and dP[i, j] = dO_i · V_j.
        const double lse_i = double(lse[nh * L + i]);
        row_times(pr.data(), qi.data(), kt.data(), L, Dh);
        row_times(dp.data(), doi.data(), vt.data(), L, Dh);
        for (int64_t j = 0; j < L; ++j) pr[size_t(j)] = std::exp(pr[size_t(j)] * p.scale - lse_i);
        std::fill(dq.begin(), dq.end(), 0.0);
        for (int64_t j = 0; j < L; ++j) {
          const double pij = pr[size_t(j)];
          const double ds = pij * (dp[size_t(j)] - di) * p.scale;
          const double* kj = k.data() + j * Dh;
          double* dkj = dk.data() + j * Dh;
          double* dvj = dv.data() + j * Dh;
          for (int64_t c = 0; c < Dh; ++c) {
            dq[size_t(c)] += ds * kj[c];
            dkj[c] += ds * qi[size_t(c)];
            dvj[c] += pij * doi[size_t(c)];
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
