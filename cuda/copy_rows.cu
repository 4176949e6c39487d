// copy_rows on CUDA (full contract in native/ops/copy_rows.h):
//   dst[(dst_row + r)·C + c] = src[(src_row + r)·C + c]   for r < rows, c < C            (=)
// Any dtype: the rows of each side are contiguous, so the block is one byte range, moved by an
// asynchronous device-to-device cudaMemcpyAsync on the package stream (ordered with the kernels
// around it). The binding has checked both ranges and that same-buffer ranges do not overlap.
#include "cuda_api.h"
#include "ops/copy_rows.h"

namespace convmae {

void cuda_copy_rows(const CopyRowsParams& p) {
  if (p.rows == 0 || p.c == 0) return;
  const int64_t es = dtype_size(p.dst->dtype);
  const size_t bytes = size_t(p.rows * p.c * es);
  char* dst = static_cast<char*>(p.dst->data) + p.dst_row * p.c * es;
  const char* src = static_cast<const char*>(p.src->data) + p.src_row * p.c * es;
  cuda::copy_device(dst, src, bytes, "copyRows");
}

}  // namespace convmae
