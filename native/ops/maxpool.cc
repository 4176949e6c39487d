// maxPool2x2(out, argmax, x, N, C, H, W) and maxPool2x2Backward(dx, dout, argmax, N, C, H, W):
// bindings and dispatch (contract in maxpool.h). The backward scans argmax on the host (CUDA
// buffers through a copy): each value must lie in its own window.
#include "ops/maxpool.h"

#include <limits>
#include <vector>

#include "dispatch.h"
#include "napi_args.h"
#include "ops/patches.h"

namespace convmae {

static void read_sizes(const Args& a, size_t first, MaxPoolParams& p) {
  p.n = a.integer(first, "N");
  p.c = a.integer(first + 1, "C");
  p.h = a.integer(first + 2, "H");
  p.w = a.integer(first + 3, "W");
  if (p.h % 2 != 0 || p.w % 2 != 0)
    throw_range(a.op(), "`H` = " + std::to_string(p.h) + " and `W` = " + std::to_string(p.w) + " must both be even");
  if (p.h * p.w > std::numeric_limits<int32_t>::max())
    throw_range(a.op(), "a plane of " + std::to_string(p.h) + "x" + std::to_string(p.w) + " is too large for int32 argmax");
}

Napi::Value js_max_pool2x2(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2x2");
  MaxPoolParams p{};
  p.out = &a.buffer(0, "out");
  p.argmax = &a.buffer(1, "argmax");
  p.in = &a.buffer(2, "x");
  read_sizes(a, 3, p);
  a.expect_float(*p.out, "out");
  a.expect_same(*p.in, *p.out, "x", "out");
  a.expect_dtype(*p.argmax, DType::I32, "argmax");
  a.expect_device(*p.argmax, p.out->device, "argmax");
  const int64_t full = checked_numel(a.op(), {p.n, p.c, p.h, p.w});
  a.expect_numel(*p.in, full, "x");
  a.expect_numel(*p.out, full / 4, "out");
  a.expect_numel(*p.argmax, full / 4, "argmax");
  check_no_alias(a.op(), *p.out, *p.in, "out", "x");
  shadow_drop(*p.argmax);
  CM_DISPATCH("maxPool2x2", p.out->device, cpu_max_pool2x2(p), cuda_max_pool2x2(p));
  return info.Env().Undefined();
}

Napi::Value js_max_pool2x2_backward(const Napi::CallbackInfo& info) {
  Args a(info, "maxPool2x2Backward");
  MaxPoolParams p{};
  p.out = &a.buffer(0, "dx");
  p.in = &a.buffer(1, "dout");
  p.index = &a.buffer(2, "argmax");
  read_sizes(a, 3, p);
  a.expect_float(*p.out, "dx");
  a.expect_same(*p.in, *p.out, "dout", "dx");
  a.expect_dtype(*p.index, DType::I32, "argmax");
  a.expect_device(*p.index, p.out->device, "argmax");
  const int64_t full = checked_numel(a.op(), {p.n, p.c, p.h, p.w});
  a.expect_numel(*p.out, full, "dx");
  a.expect_numel(*p.in, full / 4, "dout");
  a.expect_numel(*p.index, full / 4, "argmax");
  check_no_alias(a.op(), *p.out, *p.in, "dx", "dout");
  {
    // CUDA argmax is scanned through a host copy, so a bad value raises before any kernel reads it.
    std::vector<int32_t> host;
    const int32_t* am = host_indices(a.op(), *p.index, host);
    const int64_t ho = p.h / 2, wo = p.w / 2;
    for (int64_t i = 0; i < full / 4; ++i) {
      const int64_t y = (i / wo) % ho, x = i % wo, v = am[i];
      if (v < 0 || v / p.w / 2 != y || (v % p.w) / 2 != x || v >= p.h * p.w)
        throw_range(a.op(), "`argmax`[" + std::to_string(i) + "] = " + std::to_string(v) +
                                " is not in its 2x2 window (output row " + std::to_string(y) + ", column " +
                                std::to_string(x) + ")");
    }
  }
  CM_DISPATCH("maxPool2x2Backward", p.out->device, cpu_max_pool2x2_backward(p), cuda_max_pool2x2_backward(p));
  return info.Env().Undefined();
}

}  // namespace convmae
