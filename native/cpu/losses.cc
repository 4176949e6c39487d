// CPU reference for the losses (contract in native/ops/losses.h). Rows are independent: per-row
// terms are computed in parallel into a double vector, then summed in row order, so the result
// does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "float_dispatch.h"
#include "ops/losses.h"
#include "parallel.h"

namespace convmae {
namespace {

// t̂ = (t − mean)·inv for one target row: mean 0 and inv 1 without norm_pix.
template <typename T>
void target_stats(const T* t, int64_t P, bool norm_pix, double& mean, double& inv) {
  mean = 0;
  inv = 1;
  if (!norm_pix) return;
  for (int64_t k = 0; k < P; ++k) mean += double(t[k]);
  mean /= double(P);
  double ss = 0;
  for (int64_t k = 0; k < P; ++k) ss += (double(t[k]) - mean) * (double(t[k]) - mean);
  inv = 1.0 / std::sqrt(ss / double(P - 1) + 1e-6);
}

template <typename T>
double mask_sum(const T* mask, int64_t rows) {
  double s = 0;
  for (int64_t r = 0; r < rows; ++r) s += double(mask[r]);
  return s;
}

template <typename T>
void mse_forward(const MaskedMseLossParams& p) {
  const int64_t P = p.p;
  const T* pred = p.pred->as<T>();
  const T* target = p.target->as<T>();
  const T* mask = p.mask->as<T>();
  std::vector<double> e(size_t(p.rows));
  parallel_for(p.rows, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* x = pred + r * P;
      const T* t = target + r * P;
      double mean, inv;
      target_stats(t, P, p.norm_pix, mean, inv);
      double s = 0;
      for (int64_t k = 0; k < P; ++k) {
        const double d = double(x[k]) - (double(t[k]) - mean) * inv;
        s += d * d;
      }
      e[size_t(r)] = s / double(P);
    }
  });
  double num = 0;
  for (int64_t r = 0; r < p.rows; ++r) num += double(mask[r]) * e[size_t(r)];
  const double den = mask_sum(mask, p.rows);
  p.loss->as<T>()[0] = T(den == 0 ? 0.0 : num / den);
}

template <typename T>
void mse_backward(const MaskedMseLossBackwardParams& p) {
  const int64_t P = p.p;
  const T* pred = p.pred->as<T>();
  const T* target = p.target->as<T>();
  const T* mask = p.mask->as<T>();
  T* dpred = p.dpred->as<T>();
  const double den = mask_sum(mask, p.rows);
  const double g = den == 0 ? 0.0 : double(p.dloss->as<T>()[0]) * 2.0 / (den * double(P));
  parallel_for(p.rows, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* x = pred + r * P;
      const T* t = target + r * P;
      T* dx = dpred + r * P;
      const double w = g * double(mask[r]);
      if (w == 0) {
        std::fill(dx, dx + P, T(0));
        continue;
      }
      double mean, inv;
      target_stats(t, P, p.norm_pix, mean, inv);
      for (int64_t k = 0; k < P; ++k) dx[k] = T(w * (double(x[k]) - (double(t[k]) - mean) * inv));
    }
  });
}

// log Σ_c exp(z_c), with the row max subtracted.
template <typename T>
double log_sum_exp(const T* z, int64_t C) {
  double mx = double(z[0]);
  for (int64_t c = 1; c < C; ++c) mx = std::max(mx, double(z[c]));
  double s = 0;
  for (int64_t c = 0; c < C; ++c) s += std::exp(double(z[c]) - mx);
  return mx + std::log(s);
}

template <typename T>
void ce_forward(const CrossEntropyParams& p) {
  const int64_t C = p.c;
  const T* logits = p.logits->as<T>();
  const T* targets = p.targets->as<T>();
  std::vector<double> row(size_t(p.n));
  parallel_for(p.n, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      const T* z = logits + n * C;
      const T* t = targets + n * C;
      const double lse = log_sum_exp(z, C);
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s -= double(t[c]) * (double(z[c]) - lse);
      row[size_t(n)] = s;
    }
  });
  double total = 0;
  for (double v : row) total += v;
  p.loss->as<T>()[0] = T(total / double(p.n));
}

template <typename T>
void ce_backward(const CrossEntropyBackwardParams& p) {
  const int64_t C = p.c;
  const T* logits = p.logits->as<T>();
  const T* targets = p.targets->as<T>();
  T* dz = p.dlogits->as<T>();
  const double g = double(p.dloss->as<T>()[0]) / double(p.n);
  parallel_for(p.n, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) {
      const T* z = logits + n * C;
      const T* t = targets + n * C;
      const double lse = log_sum_exp(z, C);
      double tsum = 0;
      for (int64_t c = 0; c < C; ++c) tsum += double(t[c]);
      for (int64_t c = 0; c < C; ++c)
        dz[n * C + c] = T((std::exp(double(z[c]) - lse) * tsum - double(t[c])) * g);
    }
  });
}

}  // namespace

void cpu_masked_mse_loss(const MaskedMseLossParams& p) {
  cpu_float_dispatch(p.loss->dtype, "maskedMseLoss", [&](auto zero) { mse_forward<decltype(zero)>(p); });
}

void cpu_masked_mse_loss_backward(const MaskedMseLossBackwardParams& p) {
  cpu_float_dispatch(p.dpred->dtype, "maskedMseLossBackward", [&](auto zero) { mse_backward<decltype(zero)>(p); });
}

void cpu_cross_entropy(const CrossEntropyParams& p) {
  cpu_float_dispatch(p.loss->dtype, "crossEntropy", [&](auto zero) { ce_forward<decltype(zero)>(p); });
}

void cpu_cross_entropy_backward(const CrossEntropyBackwardParams& p) {
  cpu_float_dispatch(p.dlogits->dtype, "crossEntropyBackward", [&](auto zero) { ce_backward<decltype(zero)>(p); });
}

}  // namespace convmae
