// unshuffle_tokens on CUDA (contract in native/ops/unshuffle.h): out[o] = (src[o] >= 0 ?
// x[src[o]] : mask) + pos[o % T], row by row, float32 or bfloat16, the sum in fp32 and rounded
// once as the CPU rounds it. src values were checked on the host. Grid-stride over 8-element row
// pieces where C is a multiple of 8 and the rows are 16-byte aligned, else over elements.
#include <cuda_bf16.h>

#include "ops/unshuffle.h"
#include "runtime.cuh"
#include "scratch.cuh"
#include "storage.cuh"

namespace convmae {
namespace {

template <typename T>
__global__ void unshuffle8_kernel(T* out, const T* x, const T* mask, const T* pos, const int32_t* src, int64_t T_,
                                  int64_t C, int64_t pieces) {
  const int64_t per_row = C / 8;
  for (int64_t i = first_index(); i < pieces; i += grid_stride()) {
    const int64_t o = i / per_row, c = (i - o * per_row) * 8;
    const int32_t s = src[o];
    float a[8], b[8];
    load8((s >= 0 ? x + int64_t(s) * C : mask) + c, a);
    load8(pos + (o % T_) * C + c, b);
#pragma unroll
    for (int e = 0; e < 8; ++e) a[e] += b[e];
    store8(out + o * C + c, a);
  }
}

template <typename T>
__global__ void unshuffle_kernel(T* out, const T* x, const T* mask, const T* pos, const int32_t* src, int64_t T_, int64_t C,
                                 int64_t total) {
  for (int64_t i = first_index(); i < total; i += grid_stride()) {
    const int64_t o = i / C, c = i - o * C;
    const int32_t s = src[o];
    stf(out, i, ldf(s >= 0 ? x + int64_t(s) * C : mask, c) + ldf(pos, (o % T_) * C + c));
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void cuda_unshuffle_tokens(const UnshuffleParams& p) {
  cuda_float_dispatch(p.out->dtype, "unshuffleTokens", [&](auto zero) {
    using T = decltype(zero);
    const int64_t rows = p.n * p.t, C = p.c;
    T* out = p.out->as<T>();
    const T *x = p.x->as<T>(), *mask = p.mask->as<T>(), *pos = p.pos->as<T>();
    const int32_t* src = p.src->as<int32_t>();
    if (C % 8 == 0 && aligned16(out) && aligned16(x) && aligned16(mask) && aligned16(pos)) {
      const int64_t pieces = rows * (C / 8);
      unshuffle8_kernel<T><<<cuda::grid_for(pieces, 256), 256, 0, cuda::stream()>>>(out, x, mask, pos, src, p.t, C, pieces);
    } else {
      unshuffle_kernel<T><<<cuda::grid_for(rows * C, 256), 256, 0, cuda::stream()>>>(out, x, mask, pos, src, p.t, C, rows * C);
    }
  });
}

}  // namespace convmae
