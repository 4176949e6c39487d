// CPU reference for the 2×2 max pool and its gradient (contract in native/ops/maxpool.h). One
// task per (n, c) plane range; the windows of a plane are disjoint, so the backward writes each
// dx element at most once.
#include <algorithm>
#include <cmath>

#include "float_dispatch.h"
#include "ops/maxpool.h"
#include "parallel.h"

namespace convmae {

void cpu_max_pool2x2(const MaxPoolParams& p) {
  cpu_float_dispatch(p.out->dtype, "maxPool2x2", [&](auto zero) {
    using T = decltype(zero);
    const int64_t H = p.h, W = p.w, ho = H / 2, wo = W / 2;
    const T* x = p.in->as<T>();
    T* out = p.out->as<T>();
    int32_t* am = p.argmax->as<int32_t>();
    parallel_for(p.n * p.c, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t plane = lo; plane < hi; ++plane) {
        const T* xp = x + plane * H * W;
        for (int64_t i = 0; i < ho; ++i)
          for (int64_t j = 0; j < wo; ++j) {
            int64_t best = (2 * i) * W + 2 * j;
            for (int64_t k = 1; k < 4; ++k) {
              const int64_t at = (2 * i + k / 2) * W + 2 * j + k % 2;
              if (!std::isnan(xp[best]) && (xp[at] > xp[best] || std::isnan(xp[at]))) best = at;
            }
            const int64_t o = (plane * ho + i) * wo + j;
            out[o] = xp[best];
            am[o] = int32_t(best);
          }
      }
    });
  });
}

void cpu_max_pool2x2_backward(const MaxPoolParams& p) {
  cpu_float_dispatch(p.out->dtype, "maxPool2x2Backward", [&](auto zero) {
    using T = decltype(zero);
    const int64_t HW = p.h * p.w, q = HW / 4;
    const T* dout = p.in->as<T>();
    const int32_t* am = p.index->as<int32_t>();
    T* dx = p.out->as<T>();
    parallel_for(p.n * p.c, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t plane = lo; plane < hi; ++plane) {
        T* dp = dx + plane * HW;
        std::fill(dp, dp + HW, T(0));
        for (int64_t o = plane * q; o < (plane + 1) * q; ++o) dp[am[o]] = dout[o];
      }
    });
  });
}

}  // namespace convmae
