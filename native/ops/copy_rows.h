// copy_rows: copies a block of whole rows between two row-major [*, C] tensors:
//   dst[(dst_row + r)·C + c] = src[(src_row + r)·C + c]   for r < rows, c < C            (=)
// Rows of dst outside the block are left as they are. Any dtype (the copy moves bytes); dst and
// src have one dtype and device. Both row ranges must lie inside their buffers; when dst and src
// are the same buffer the two ranges must not overlap. Used to concatenate tensors along their
// first dim and to split the gradient back.
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {
struct CopyRowsParams {
  Buffer* dst;
  int64_t dst_row;
  const Buffer* src;
  int64_t src_row;
  int64_t rows, c;
};
void cpu_copy_rows(const CopyRowsParams& p);
void cuda_copy_rows(const CopyRowsParams& p);
}  // namespace convmae
