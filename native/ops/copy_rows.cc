// copyRows(dst, dstRowOffset, src, srcRowOffset, rows, C): binding and dispatch (contract in
// copy_rows.h). Both row ranges are checked to lie inside their buffers.
#include "ops/copy_rows.h"

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {

static void check_range(const Args& a, const Buffer& b, int64_t row, int64_t rows, int64_t c, const char* name,
                        const char* offset_name) {
  const int64_t kMax = int64_t(1) << 40;
  if (c > 0 && row + rows > kMax / c) throw_range(a.op(), "sizes too large");
  if ((row + rows) * c > b.numel)
    throw_range(a.op(), std::string("rows [") + std::to_string(row) + ", " + std::to_string(row + rows) + ") of width " +
                            std::to_string(c) + " reach past the " + std::to_string(b.numel) + " elements of `" + name +
                            "` (check `" + offset_name + "` and `rows`)");
}

Napi::Value js_copy_rows(const Napi::CallbackInfo& info) {
  Args a(info, "copyRows");
  const int64_t kMax = int64_t(1) << 40;
  CopyRowsParams p{};
  p.dst = &a.buffer(0, "dst");
  p.dst_row = a.integer(1, "dstRowOffset", 0, kMax);
  p.src = &a.buffer(2, "src");
  p.src_row = a.integer(3, "srcRowOffset", 0, kMax);
  p.rows = a.integer(4, "rows", 0, kMax);
  p.c = a.integer(5, "C", 0, kMax);
  a.expect_same(*p.src, *p.dst, "src", "dst");
  check_range(a, *p.dst, p.dst_row, p.rows, p.c, "dst", "dstRowOffset");
  check_range(a, *p.src, p.src_row, p.rows, p.c, "src", "srcRowOffset");
  if (p.rows == 0 || p.c == 0) return info.Env().Undefined();
  if (p.dst == p.src && p.dst_row < p.src_row + p.rows && p.src_row < p.dst_row + p.rows)
    throw_range(a.op(), "`dst` and `src` are the same buffer and the row ranges overlap");
  shadow_drop(*p.dst);
  CM_DISPATCH("copyRows", p.dst->device, cpu_copy_rows(p), cuda_copy_rows(p));
  return info.Env().Undefined();
}

}  // namespace convmae
