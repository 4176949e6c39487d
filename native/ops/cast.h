// cast: out[i] = convert(in[i]) between any two dtypes, same element count and device.
// Float -> int truncates toward zero; float -> 16-bit floats rounds to nearest even.
#pragma once
#include "buffer.h"

namespace convmae {
struct CastParams {
  Buffer* out;
  const Buffer* in;
};
void cpu_cast(const CastParams& p);
void cuda_cast(const CastParams& p);
}  // namespace convmae
