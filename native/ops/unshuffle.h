// unshuffle_tokens: the MAE decoder's input in one pass (SPEC.md's unshuffle: the kept tokens
// back at their positions, the mask token everywhere else, plus the position embedding). For
// every output row o = b·T + l of out [N·T, C]:
//   out[o, :] = (src[o] >= 0 ? x[src[o], :] : mask[:]) + pos[l, :]            (=)
// x [R, C] (the decoder-embedded kept tokens), mask [C], pos [T, C], all of one float dtype and
// device; src int32 [N·T] with values in [-1, R) (checked on the host), on that device; out is
// distinct from the inputs. The backward needs no kernel of its own: the kept rows' gradient is a
// row gather, the mask token's and the position table's are column sums.
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {
struct UnshuffleParams {
  Buffer* out;
  const Buffer* x;
  const Buffer* mask;
  const Buffer* pos;
  const Buffer* src;
  int64_t n, t, r, c;
};
void cpu_unshuffle_tokens(const UnshuffleParams& p);
void cuda_unshuffle_tokens(const UnshuffleParams& p);
}  // namespace convmae
