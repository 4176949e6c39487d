// gemm(c, a, b, bias, m, n, k, transA, transB, alpha, beta, batch, strideA, strideB, strideC,
//      [residual, geluOut, geluGradOf]): binding and dispatch (contract in gemm.h). Every buffer
// is checked to hold the largest index the strides reach; geluOut may not share a buffer with
// any other argument.
#include "ops/gemm.h"

#include <utility>

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {

static void check_extent(const Args& a, const Buffer& b, int64_t batch, int64_t stride, int64_t size,
                         const char* name) {
  int64_t need = batch == 0 ? 0 : (batch - 1) * stride + size;
  if (b.numel < need)
    throw_range(a.op(), std::string("`") + name + "` has " + std::to_string(b.numel) +
                            " elements but the sizes and strides reach " + std::to_string(need));
}

Napi::Value js_gemm(const Napi::CallbackInfo& info) {
  Args a(info, "gemm");
  const int64_t kMax = int64_t(1) << 40;
  GemmParams p{};
  p.c = &a.buffer(0, "c");
  p.a = &a.buffer(1, "a");
  p.b = &a.buffer(2, "b");
  p.bias = a.optional_buffer(3, "bias");
  p.m = a.integer(4, "m", 0, kMax);
  p.n = a.integer(5, "n", 0, kMax);
  p.k = a.integer(6, "k", 0, kMax);
  p.trans_a = a.flag(7, "transA");
  p.trans_b = a.flag(8, "transB");
  p.alpha = a.number(9, "alpha");
  p.beta = a.number(10, "beta");
  p.batch = a.integer(11, "batch", 0, kMax);
  p.stride_a = a.integer(12, "strideA", 0, kMax);
  p.stride_b = a.integer(13, "strideB", 0, kMax);
  p.stride_c = a.integer(14, "strideC", 0, kMax);
  a.expect_float(*p.c, "c");
  a.expect_same(*p.a, *p.c, "a", "c");
  a.expect_same(*p.b, *p.c, "b", "c");
  if (p.m * p.k > kMax || p.k * p.n > kMax || p.m * p.n > kMax) throw_range("gemm", "sizes too large");
  check_extent(a, *p.a, p.batch, p.stride_a, p.m * p.k, "a");
  check_extent(a, *p.b, p.batch, p.stride_b, p.k * p.n, "b");
  check_extent(a, *p.c, p.batch, p.stride_c, p.m * p.n, "c");
  if (p.batch > 1 && p.stride_c < p.m * p.n) throw_range("gemm", "`strideC` makes output problems overlap");
  if (p.bias) {
    a.expect_same(*p.bias, *p.c, "bias", "c");
    a.expect_numel(*p.bias, p.n, "bias");
  }
  p.residual = a.optional_buffer(15, "residual");
  p.gelu_out = a.optional_buffer(16, "geluOut");
  p.gelu_grad_of = a.optional_buffer(17, "geluGradOf");
  const std::pair<const Buffer*, const char*> extras[3] = {
      {p.residual, "residual"}, {p.gelu_out, "geluOut"}, {p.gelu_grad_of, "geluGradOf"}};
  for (const auto& [b, name] : extras) {
    if (!b) continue;
    a.expect_same(*b, *p.c, name, "c");
    check_extent(a, *b, p.batch, p.stride_c, p.m * p.n, name);
  }
  if (p.gelu_out) {
    for (const Buffer* other : {static_cast<const Buffer*>(p.c), p.a, p.b, p.bias, p.residual, p.gelu_grad_of})
      if (other == p.gelu_out) throw_error("gemm", "`geluOut` shares a buffer with another argument");
  }
  if (p.batch == 0 || p.m == 0 || p.n == 0) return info.Env().Undefined();
  CM_DISPATCH("gemm", p.c->device, cpu_gemm(p), cuda_gemm(p));
  return info.Env().Undefined();
}

}  // namespace convmae
