// CPU reference for copy_rows (contract in native/ops/copy_rows.h). The rows of each side are
// contiguous, so the block is one byte range; large copies are split across threads.
#include <cstring>

#include "ops/copy_rows.h"
#include "parallel.h"

namespace convmae {

void cpu_copy_rows(const CopyRowsParams& p) {
  const int64_t es = dtype_size(p.dst->dtype);
  const int64_t bytes = p.rows * p.c * es;
  char* dst = static_cast<char*>(p.dst->data) + p.dst_row * p.c * es;
  const char* src = static_cast<const char*>(p.src->data) + p.src_row * p.c * es;
  const int64_t block = int64_t(1) << 20;
  parallel_for((bytes + block - 1) / block, 1, [&](int64_t lo, int64_t hi) {
    const int64_t b0 = lo * block, b1 = std::min(bytes, hi * block);
    std::memcpy(dst + b0, src + b0, size_t(b1 - b0));
  });
}

}  // namespace convmae
