// The fast depthwise-conv kernels for kernel sizes 3, 5 and 7 (cuda/dwconv_fast.cu); cuda/dwconv.cu
// runs its general kernels for any other size (and cuda/dwconv_cells.cu takes precedence where it applies).
#pragma once
#include <cstdint>

#include "ops/dwconv.h"

namespace convmae {
/** Whether the fast kernels take this kernel size. */
bool dwconv_fast_supported(int64_t ksize);
/** dst = conv(src) (sign +1: forward with bias; sign −1: the input gradient, bias null). */
void dwconv_fast_gather(const DwconvGeometry& g, Buffer* dst, const Buffer* src, const Buffer* w, const Buffer* bias,
                        int sign);
/** dweight and dbias (=). */
void dwconv_fast_weight(const DwconvBackwardWeightParams& p);
}  // namespace convmae
