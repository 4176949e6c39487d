// CPU reference for reduce_sum (contract in native/ops/reduce.h).
#include <vector>

#include "float_dispatch.h"
#include "ops/reduce.h"
#include "parallel.h"

namespace convmae {

void cpu_reduce_sum(const ReduceParams& p) {
  cpu_float_dispatch(p.out->dtype, "sum", [&](auto zero) {
    using T = decltype(zero);
    const T* x = p.in->as<T>();
    T* o = p.out->as<T>();
    const int64_t R = p.rows, C = p.cols;
    if (p.axis == 1) {
      parallel_for(R, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) {
          double s = 0;
          const T* row = x + r * C;
          for (int64_t c = 0; c < C; ++c) s += row[c];
          T v = T(s * p.scale);
          o[r] = p.accumulate ? o[r] + v : v;
        }
      });
    } else {
      // Column sums: each task owns a range of columns and walks all rows.
      parallel_for(C, 64, [&](int64_t lo, int64_t hi) {
        std::vector<double> acc(size_t(hi - lo), 0.0);
        for (int64_t r = 0; r < R; ++r) {
          const T* row = x + r * C;
          for (int64_t c = lo; c < hi; ++c) acc[size_t(c - lo)] += row[c];
        }
        for (int64_t c = lo; c < hi; ++c) {
          T v = T(acc[size_t(c - lo)] * p.scale);
          o[c] = p.accumulate ? o[c] + v : v;
        }
      });
    }
  });
}

}  // namespace convmae
