// unshuffleTokens(out, x, mask, pos, src, N, T, R, C): binding and dispatch (contract in
// unshuffle.h). src values are scanned on the host (CUDA buffers through a copy) before any
// kernel reads them.
#include "ops/unshuffle.h"

#include <string>
#include <vector>

#include "dispatch.h"
#include "napi_args.h"
#include "ops/patches.h"

namespace convmae {

Napi::Value js_unshuffle_tokens(const Napi::CallbackInfo& info) {
  Args a(info, "unshuffleTokens");
  UnshuffleParams p{};
  p.out = &a.buffer(0, "out");
  p.x = &a.buffer(1, "x");
  p.mask = &a.buffer(2, "mask");
  p.pos = &a.buffer(3, "pos");
  p.src = &a.buffer(4, "src");
  p.n = a.integer(5, "N", 0, int64_t(1) << 40);
  p.t = a.integer(6, "T", 0, int64_t(1) << 40);
  p.r = a.integer(7, "R", 0, int64_t(1) << 40);
  p.c = a.integer(8, "C", 0, int64_t(1) << 40);
  a.expect_float(*p.out, "out");
  a.expect_same(*p.x, *p.out, "x", "out");
  a.expect_same(*p.mask, *p.out, "mask", "out");
  a.expect_same(*p.pos, *p.out, "pos", "out");
  a.expect_dtype(*p.src, DType::I32, "src");
  a.expect_device(*p.src, p.out->device, "src");
  const int64_t rows = checked_numel(a.op(), {p.n, p.t});
  a.expect_numel(*p.out, checked_numel(a.op(), {rows, p.c}), "out");
  a.expect_numel(*p.x, checked_numel(a.op(), {p.r, p.c}), "x");
  a.expect_numel(*p.mask, p.c, "mask");
  a.expect_numel(*p.pos, checked_numel(a.op(), {p.t, p.c}), "pos");
  a.expect_numel(*p.src, rows, "src");
  check_no_alias(a.op(), *p.out, *p.x, "out", "x");
  check_no_alias(a.op(), *p.out, *p.mask, "out", "mask");
  check_no_alias(a.op(), *p.out, *p.pos, "out", "pos");
  std::vector<int32_t> host;
  const int32_t* src = host_indices(a.op(), *p.src, host);
  for (int64_t i = 0; i < rows; ++i)
    if (src[i] < -1 || src[i] >= p.r)
      throw_range(a.op(), "`src`[" + std::to_string(i) + "] = " + std::to_string(src[i]) + " is outside [-1, " +
                              std::to_string(p.r) + ")");
  if (rows == 0 || p.c == 0) return info.Env().Undefined();
  CM_DISPATCH("unshuffleTokens", p.out->device, cpu_unshuffle_tokens(p), cuda_unshuffle_tokens(p));
  return info.Env().Undefined();
}

}  // namespace convmae
