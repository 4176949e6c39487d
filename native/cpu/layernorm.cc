// CPU reference for layernorm and its backward (contract in native/ops/layernorm.h). Rows are
// independent and run in parallel; statistics and the per-row sums of the backward are taken in
// double for both dtypes. dgamma/dbeta are reduced over rows in a fixed chunking that depends only
// on `rows` (partial sums per chunk, then the chunks in order), so results do not depend on the
// thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "float_dispatch.h"
#include "ops/layernorm.h"
#include "parallel.h"

namespace convmae {

void cpu_layernorm(const LayerNormParams& p) {
  cpu_float_dispatch(p.x->dtype, "layernorm", [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->as<T>();
    const T* gamma = p.gamma->as<T>();
    const T* beta = p.beta->as<T>();
    T* y = p.y->as<T>();
    T* mean = p.mean->as<T>();
    T* rstd = p.rstd->as<T>();
    const int64_t C = p.c;
    parallel_for(p.rows, std::max<int64_t>(1, 4096 / C), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const T* xr = x + r * C;
        double s = 0;
        for (int64_t c = 0; c < C; ++c) s += xr[c];
        const double m = s / double(C);
        double v = 0;
        for (int64_t c = 0; c < C; ++c) {
          const double d = double(xr[c]) - m;
          v += d * d;
        }
        const double rs = 1.0 / std::sqrt(v / double(C) + p.eps);
        T* yr = y + r * C;
        for (int64_t c = 0; c < C; ++c) yr[c] = T((double(xr[c]) - m) * rs) * gamma[c] + beta[c];
        mean[r] = T(m);
        rstd[r] = T(rs);
      }
    });
  });
}

void cpu_layernorm_backward(const LayerNormBackwardParams& p) {
  cpu_float_dispatch(p.x->dtype, "layernormBackward", [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.x->as<T>();
    const T* dy = p.dy->as<T>();
    const T* mean = p.mean->as<T>();
    const T* rstd = p.rstd->as<T>();
    const T* gamma = p.gamma->as<T>();
    T* dx = p.dx->as<T>();
    const int64_t R = p.rows, C = p.c;
    // At most 256 chunks, so the partial sums stay small (256 x 2C doubles).
    const int64_t chunk = std::max<int64_t>(64, (R + 255) / 256);
    const int64_t chunks = (R + chunk - 1) / chunk;
    std::vector<double> part(size_t(chunks * 2 * C), 0.0);  // per chunk: Σ dy·x̂ [C], then Σ dy [C]
    parallel_for(chunks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t ch = lo; ch < hi; ++ch) {
        double* pg = part.data() + ch * 2 * C;
        double* pb = pg + C;
        for (int64_t r = ch * chunk; r < std::min(R, (ch + 1) * chunk); ++r) {
          const T* xr = x + r * C;
          const T* dyr = dy + r * C;
          const double m = mean[r], rs = rstd[r];
          double sum_g = 0, sum_gx = 0;  // Σ_c g and Σ_c g·x̂ with g = dy·gamma
          for (int64_t c = 0; c < C; ++c) {
            const double xh = (double(xr[c]) - m) * rs;
            const double d = dyr[c];
            const double g = d * double(gamma[c]);
            sum_g += g;
            sum_gx += g * xh;
            pg[c] += d * xh;
            pb[c] += d;
          }
          const double mg = sum_g / double(C), mgx = sum_gx / double(C);
          T* dxr = dx + r * C;
          for (int64_t c = 0; c < C; ++c) {
            const double xh = (double(xr[c]) - m) * rs;
            const double v = rs * (double(dyr[c]) * double(gamma[c]) - mg - xh * mgx);
            dxr[c] = p.accumulate ? T(double(dxr[c]) + v) : T(v);
          }
        }
      }
    });
    T* dgamma = p.dgamma->as<T>();
    T* dbeta = p.dbeta->as<T>();
    parallel_for(C, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c) {
        double sg = 0, sb = 0;
        for (int64_t ch = 0; ch < chunks; ++ch) {
          sg += part[size_t(ch * 2 * C + c)];
          sb += part[size_t(ch * 2 * C + C + c)];
        }
        dgamma[c] = T(sg);
        dbeta[c] = T(sb);
      }
    });
  });
}

}  // namespace convmae
