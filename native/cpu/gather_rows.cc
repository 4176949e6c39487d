// CPU reference for the row gather and its scatter-add gradient (contract in
// native/ops/gather_rows.h).
#include <algorithm>

#include "float_dispatch.h"
#include "ops/gather_rows.h"
#include "parallel.h"

namespace convmae {

void cpu_gather_rows(const GatherRowsParams& p) {
  cpu_float_dispatch(p.out->dtype, "gatherRows", [&](auto zero) {
    using T = decltype(zero);
    const int32_t* idx = p.idx->as<int32_t>();
    const T* x = p.in->as<T>();
    T* out = p.out->as<T>();
    const int64_t C = p.c;
    parallel_for(p.m, 16, [&](int64_t lo, int64_t hi) {
      for (int64_t m = lo; m < hi; ++m) std::copy(x + idx[m] * C, x + (idx[m] + 1) * C, out + m * C);
    });
  });
}

void cpu_scatter_add_rows(const GatherRowsParams& p) {
  cpu_float_dispatch(p.out->dtype, "scatterAddRows", [&](auto zero) {
    using T = decltype(zero);
    const int32_t* idx = p.idx->as<int32_t>();
    const T* dy = p.in->as<T>();
    T* dx = p.out->as<T>();
    const int64_t C = p.c;
    // Tasks own column ranges, so two rows with the same index never race.
    parallel_for(C, 64, [&](int64_t c0, int64_t c1) {
      for (int64_t m = 0; m < p.m; ++m) {
        T* d = dx + idx[m] * C;
        const T* s = dy + m * C;
        for (int64_t c = c0; c < c1; ++c) d[c] += s[c];
      }
    });
  });
}

}  // namespace convmae
