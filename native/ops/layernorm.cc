// layernorm(y, mean, rstd, x, gamma, beta, rows, C, eps) and
// layernormBackward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, rows, C, accumulate = false):
// bindings and dispatch (contract in layernorm.h). Every buffer is checked against the sizes, one
// dtype and device (the statistics: float32, or float64 for float64 x), and outputs against
// aliasing any other argument.
#include "ops/layernorm.h"

#include <cmath>
#include <initializer_list>
#include <utility>

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {
namespace {

const int64_t kMax = int64_t(1) << 40;

using Named = std::pair<const Buffer*, const char*>;

// Throws when one of the first n_outputs arguments is the same buffer as any other argument (the
// kernels read their inputs after writing parts of the outputs).
void expect_distinct(const Args& a, std::initializer_list<Named> args, size_t n_outputs) {
  const Named* v = args.begin();
  for (size_t i = 0; i < n_outputs; ++i)
    for (size_t j = 0; j < args.size(); ++j)
      if (i != j && v[i].first == v[j].first)
        throw_error(a.op(), std::string("`") + v[i].second + "` and `" + v[j].second +
                                "` are the same buffer; outputs need their own storage");
}

void check_sizes(const Args& a, int64_t rows, int64_t c) {
  if (rows > kMax / c) throw_range(a.op(), "`rows` x `C` is too large");
}

// mean and rstd: on x's device, float64 for float64 x, else float32.
void expect_stats(const Args& a, const Buffer& stat, const Buffer& x, const char* name) {
  a.expect_device(stat, x.device, name);
  a.expect_dtype(stat, x.dtype == DType::F64 ? DType::F64 : DType::F32, name);
}

}  // namespace

Napi::Value js_layernorm(const Napi::CallbackInfo& info) {
  Args a(info, "layernorm");
  LayerNormParams p{};
  p.y = &a.buffer(0, "y");
  p.mean = &a.buffer(1, "mean");
  p.rstd = &a.buffer(2, "rstd");
  p.x = &a.buffer(3, "x");
  p.gamma = &a.buffer(4, "gamma");
  p.beta = &a.buffer(5, "beta");
  p.rows = a.integer(6, "rows", 0, kMax);
  p.c = a.integer(7, "C", 1, kMax);
  p.eps = a.number(8, "eps");
  if (!std::isfinite(p.eps) || p.eps < 0) throw_range(a.op(), "`eps` must be a finite number >= 0");
  a.expect_float(*p.x, "x");
  a.expect_same(*p.y, *p.x, "y", "x");
  expect_stats(a, *p.mean, *p.x, "mean");
  expect_stats(a, *p.rstd, *p.x, "rstd");
  a.expect_same(*p.gamma, *p.x, "gamma", "x");
  a.expect_same(*p.beta, *p.x, "beta", "x");
  check_sizes(a, p.rows, p.c);
  a.expect_numel(*p.x, p.rows * p.c, "x");
  a.expect_numel(*p.y, p.rows * p.c, "y");
  a.expect_numel(*p.mean, p.rows, "mean");
  a.expect_numel(*p.rstd, p.rows, "rstd");
  a.expect_numel(*p.gamma, p.c, "gamma");
  a.expect_numel(*p.beta, p.c, "beta");
  expect_distinct(a, {{p.y, "y"}, {p.mean, "mean"}, {p.rstd, "rstd"}, {p.x, "x"}, {p.gamma, "gamma"}, {p.beta, "beta"}},
                  3);
  if (p.rows == 0) return info.Env().Undefined();
  CM_DISPATCH("layernorm", p.x->device, cpu_layernorm(p), cuda_layernorm(p));
  return info.Env().Undefined();
}

Napi::Value js_layernorm_backward(const Napi::CallbackInfo& info) {
  Args a(info, "layernormBackward");
  LayerNormBackwardParams p{};
  p.dx = &a.buffer(0, "dx");
  p.dgamma = &a.buffer(1, "dgamma");
  p.dbeta = &a.buffer(2, "dbeta");
  p.dy = &a.buffer(3, "dy");
  p.x = &a.buffer(4, "x");
  p.mean = &a.buffer(5, "mean");
  p.rstd = &a.buffer(6, "rstd");
  p.gamma = &a.buffer(7, "gamma");
  p.rows = a.integer(8, "rows", 0, kMax);
  p.c = a.integer(9, "C", 1, kMax);
  p.accumulate = a.optional_flag(10, "accumulate", false);
  a.expect_float(*p.x, "x");
  a.expect_same(*p.dx, *p.x, "dx", "x");
  a.expect_same(*p.dgamma, *p.x, "dgamma", "x");
  a.expect_same(*p.dbeta, *p.x, "dbeta", "x");
  a.expect_same(*p.dy, *p.x, "dy", "x");
  expect_stats(a, *p.mean, *p.x, "mean");
  expect_stats(a, *p.rstd, *p.x, "rstd");
  a.expect_same(*p.gamma, *p.x, "gamma", "x");
  check_sizes(a, p.rows, p.c);
  a.expect_numel(*p.dx, p.rows * p.c, "dx");
  a.expect_numel(*p.dy, p.rows * p.c, "dy");
  a.expect_numel(*p.x, p.rows * p.c, "x");
  a.expect_numel(*p.mean, p.rows, "mean");
  a.expect_numel(*p.rstd, p.rows, "rstd");
  a.expect_numel(*p.gamma, p.c, "gamma");
  a.expect_numel(*p.dgamma, p.c, "dgamma");
  a.expect_numel(*p.dbeta, p.c, "dbeta");
  expect_distinct(a,
                  {{p.dx, "dx"}, {p.dgamma, "dgamma"}, {p.dbeta, "dbeta"}, {p.dy, "dy"}, {p.x, "x"}, {p.mean, "mean"},
                   {p.rstd, "rstd"}, {p.gamma, "gamma"}},
                  3);
  CM_DISPATCH("layernormBackward", p.x->device, cpu_layernorm_backward(p), cuda_layernorm_backward(p));
  return info.Env().Undefined();
}

}  // namespace convmae
