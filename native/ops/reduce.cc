// sum(out, in, rows, cols, axis, scale, accumulate): binding and dispatch (contract in reduce.h).
#include "ops/reduce.h"

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {

Napi::Value js_reduce_sum(const Napi::CallbackInfo& info) {
  Args a(info, "sum");
  const int64_t kMax = int64_t(1) << 40;
  ReduceParams p{&a.buffer(0, "out"), &a.buffer(1, "input"), a.integer(2, "rows", 0, kMax),
                 a.integer(3, "cols", 0, kMax), int(a.integer(4, "axis", 0, 1)), a.number(5, "scale"),
                 a.flag(6, "accumulate")};
  a.expect_float(*p.out, "out");
  a.expect_same(*p.in, *p.out, "input", "out");
  if (p.rows * p.cols > kMax) throw_range("sum", "sizes too large");
  a.expect_numel(*p.in, p.rows * p.cols, "input");
  a.expect_numel(*p.out, p.axis == 0 ? p.cols : p.rows, "out");
  CM_DISPATCH("sum", p.out->device, cpu_reduce_sum(p), cuda_reduce_sum(p));
  return info.Env().Undefined();
}

}  // namespace convmae
