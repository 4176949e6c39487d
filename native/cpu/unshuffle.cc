// CPU reference for unshuffle_tokens (contract in native/ops/unshuffle.h): each output row is its
// source row (or the mask token) plus its position's row, added in the storage dtype.
#include "float_dispatch.h"
#include "ops/unshuffle.h"
#include "parallel.h"

namespace convmae {

void cpu_unshuffle_tokens(const UnshuffleParams& p) {
  cpu_float_dispatch(p.out->dtype, "unshuffleTokens", [&](auto zero) {
    using T = decltype(zero);
    const int32_t* src = p.src->as<int32_t>();
    const T* x = p.x->as<T>();
    const T* mask = p.mask->as<T>();
    const T* pos = p.pos->as<T>();
    T* out = p.out->as<T>();
    const int64_t C = p.c;
    parallel_for(p.n * p.t, 16, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o) {
        const T* s = src[o] >= 0 ? x + src[o] * C : mask;
        const T* q = pos + (o % p.t) * C;
        T* d = out + o * C;
        for (int64_t c = 0; c < C; ++c) d[c] = s[c] + q[c];
      }
    });
  });
}

}  // namespace convmae
