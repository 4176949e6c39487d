// gatherRows(out, x, idx, M, R, C) and scatterAddRows(dx, dy, idx, M, R, C): bindings and dispatch
// (contract in gather_rows.h). Index values are scanned on the host (CUDA buffers through a copy).
#include "ops/gather_rows.h"

#include <vector>

#include "dispatch.h"
#include "napi_args.h"
#include "ops/patches.h"

namespace convmae {

static GatherRowsParams gather_args(const Args& a, bool gather) {
  const char* out_name = gather ? "out" : "dx";
  const char* in_name = gather ? "x" : "dy";
  GatherRowsParams p{};
  p.out = &a.buffer(0, out_name);
  p.in = &a.buffer(1, in_name);
  p.idx = &a.buffer(2, "idx");
  p.m = a.integer(3, "M", 0, int64_t(1) << 40);
  p.r = a.integer(4, "R", 0, int64_t(1) << 40);
  p.c = a.integer(5, "C", 0, int64_t(1) << 40);
  a.expect_float(*p.out, out_name);
  a.expect_same(*p.in, *p.out, in_name, out_name);
  a.expect_dtype(*p.idx, DType::I32, "idx");
  a.expect_device(*p.idx, p.out->device, "idx");
  const int64_t small = checked_numel(a.op(), {p.m, p.c}), big = checked_numel(a.op(), {p.r, p.c});
  a.expect_numel(*p.out, gather ? small : big, out_name);
  a.expect_numel(*p.in, gather ? big : small, in_name);
  a.expect_numel(*p.idx, p.m, "idx");
  check_no_alias(a.op(), *p.out, *p.in, out_name, in_name);
  {
    // CUDA indices are scanned through a host copy, so a bad one raises before any kernel reads it.
    std::vector<int32_t> host;
    const int32_t* idx = host_indices(a.op(), *p.idx, host);
    for (int64_t i = 0; i < p.m; ++i)
      if (idx[i] < 0 || idx[i] >= p.r)
        throw_range(a.op(), "`idx`[" + std::to_string(i) + "] = " + std::to_string(idx[i]) + " is outside [0, " +
                                std::to_string(p.r) + ")");
  }
  return p;
}

Napi::Value js_gather_rows(const Napi::CallbackInfo& info) {
  Args a(info, "gatherRows");
  GatherRowsParams p = gather_args(a, true);
  CM_DISPATCH("gatherRows", p.out->device, cpu_gather_rows(p), cuda_gather_rows(p));
  return info.Env().Undefined();
}

Napi::Value js_scatter_add_rows(const Napi::CallbackInfo& info) {
  Args a(info, "scatterAddRows");
  GatherRowsParams p = gather_args(a, false);
  CM_DISPATCH("scatterAddRows", p.out->device, cpu_scatter_add_rows(p), cuda_scatter_add_rows(p));
  return info.Env().Undefined();
}

}  // namespace convmae
