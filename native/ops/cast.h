// cast: out[i] = convert(in[i]) between any two dtypes, same element count and device.
// Float -> int truncates toward zero; float -> 16-bit floats rounds to nearest even.
// cast_multi: the same for many (out, in) pairs at once, all on one device, each out distinct
// from every other buffer given (the mixed-precision policy casts every parameter this way, in a
// few launches instead of one per tensor).
#pragma once
#include <vector>

#include "buffer.h"

namespace convmae {
struct CastParams {
  Buffer* out;
  const Buffer* in;
};
struct CastMultiParams {
  std::vector<CastParams> pairs;
};
void cpu_cast(const CastParams& p);
void cuda_cast(const CastParams& p);
void cpu_cast_multi(const CastMultiParams& p);
void cuda_cast_multi(const CastMultiParams& p);
}  // namespace convmae
