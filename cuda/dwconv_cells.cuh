// The cell-window depthwise-conv kernels (cuda/dwconv_cells.cu): kernel sizes 3 and 5 on maps cut
// into cells of t = 2 or 4 positions, an even channel count and 2-element-aligned buffers.
// The `cells` family of kernel_choice("dwconv"): cuda/dwconv.cu runs them where they apply when
// it is chosen, the kernels of cuda/dwconv_fast.cu (`taps`) otherwise.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "ops/dwconv.h"

namespace convmae {
/** Whether the cell kernels take this geometry and these buffers (those they access in pairs of
 * elements: the data, its output and the bias; weights and their gradients go element by element). */
bool dwconv_cells_supported(const DwconvGeometry& g, std::initializer_list<const Buffer*> buffers);
/** dst = conv(src) (sign +1: forward with bias; sign −1: the input gradient, bias null). */
void dwconv_cells_gather(const DwconvGeometry& g, Buffer* dst, const Buffer* src, const Buffer* w, const Buffer* bias,
                         int sign);
/** dweight and dbias (=). */
void dwconv_cells_weight(const DwconvBackwardWeightParams& p);
}  // namespace convmae
