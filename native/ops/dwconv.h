// Depthwise ksize×ksize convolution on visible-block rows (SPEC.md §2.3 and §4.5): stride 1,
// padding ksize/2, cross-correlation (no kernel flip), with bias; the model uses ksize = 5.
// Rows follow the layout of patches.h: x, y [N*K*t*t, C], row r = ((n*K + s)*t + dy)*t + dx at
// map position (y, x) = (gy*t + dy, gx*t + dx) with cell = cells[n*K + s]. A neighbour is read
// through `table` [N*G*G] (slot of a cell, or -1 when masked); one outside the S×S map (S = G*t)
// or in a masked cell contributes 0, which is exactly the dense conv on V ⊙ B (SPEC.md §4.2).
// weight is PyTorch's [C, 1, ksize, ksize]; r = ksize/2.
//
//   dwconvRows:               y[p, c] = bias[c] + Σ_{u,v} w[c, u, v] · x[p + (u−r, v−r), c]      (=)
//   dwconvRowsBackwardInput:  dx[q, c] = Σ_{u,v} w[c, u, v] · dy[q − (u−r, v−r), c]             (=)
//   dwconvRowsBackwardWeight: dw[c, u, v] = Σ_p dy[p, c] · x[p + (u−r, v−r), c],
//                             dbias[c] = Σ_p dy[p, c]                                          (=)
// (p, q range over visible positions; the terms of other positions are 0.) Sums accumulate in
// double on the CPU (float32/float64), in fp32 on CUDA (float32/bfloat16, cuda/dwconv.cu).
// Preconditions (checked by the bindings): ksize odd; cells/table int32, consistent
// (table[n*G*G + cells[n*K + s]] = s, all other entries -1); every buffer sized as above.
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {

// The visible layout and sizes shared by the three kernels.
struct DwconvGeometry {
  const Buffer* cells;  // int32 [N*K]
  const Buffer* table;  // int32 [N*G*G]
  int64_t n, kept, g, t, c, ksize;
};

struct DwconvParams {
  DwconvGeometry geo;
  Buffer* y;
  const Buffer* x;
  const Buffer* weight;
  const Buffer* bias;
};

struct DwconvBackwardInputParams {
  DwconvGeometry geo;
  Buffer* dx;
  const Buffer* dy;
  const Buffer* weight;
};

struct DwconvBackwardWeightParams {
  DwconvGeometry geo;
  Buffer* dweight;
  Buffer* dbias;
  const Buffer* dy;
  const Buffer* x;
};

void cpu_dwconv_rows(const DwconvParams& p);
void cpu_dwconv_rows_backward_input(const DwconvBackwardInputParams& p);
void cpu_dwconv_rows_backward_weight(const DwconvBackwardWeightParams& p);
void cuda_dwconv_rows(const DwconvParams& p);
void cuda_dwconv_rows_backward_input(const DwconvBackwardInputParams& p);
void cuda_dwconv_rows_backward_weight(const DwconvBackwardWeightParams& p);

}  // namespace convmae
