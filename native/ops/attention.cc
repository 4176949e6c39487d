// attention(out, lse, qkv, N, L, H, Dh, scale) and
// attentionBackward(dqkv, dout, qkv, out, lse, N, L, H, Dh, scale): bindings and dispatch
// (contract in attention.h). Every buffer's element count is checked against the sizes, whose
// products are bounded before they are formed; lse is float32 on the device of the others.
#include "ops/attention.h"

#include <cmath>
#include <string>

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {
namespace {

constexpr int64_t kMax = int64_t(1) << 40;

// a*b, or a RangeError when it exceeds kMax (a, b in [0, kMax]).
int64_t mul(const char* op, int64_t a, int64_t b) {
  if (a != 0 && b > kMax / a) throw_range(op, "sizes too large");
  return a * b;
}

struct Sizes {
  int64_t n, l, heads, head_dim;
  double scale;
};

// Reads N, L, H, Dh, scale from position i on, and bounds every product the kernels form.
Sizes read_sizes(const Args& a, size_t i) {
  Sizes s{a.integer(i, "N", 0, kMax), a.integer(i + 1, "L", 0, kMax), a.integer(i + 2, "H", 1, kMax),
          a.integer(i + 3, "Dh", 1, kMax), a.number(i + 4, "scale")};
  const char* op = a.op();
  if (!std::isfinite(s.scale)) throw_range(op, "`scale` must be finite");
  mul(op, mul(op, mul(op, mul(op, s.n, s.l), 3), s.heads), s.head_dim);  // qkv
  return s;
}

void expect_distinct(const Args& a, const Buffer& out, const Buffer& in, const char* on, const char* in_name) {
  if (&out == &in)
    throw_error(a.op(), std::string("`") + on + "` and `" + in_name + "` are the same buffer; the output needs its own");
}

// lse: float32 with N·H·L elements on `device`.
void expect_lse(const Args& a, const Buffer& lse, Device device, const Sizes& s) {
  a.expect_device(lse, device, "lse");
  a.expect_dtype(lse, DType::F32, "lse");
  a.expect_numel(lse, s.n * s.heads * s.l, "lse");
}

}  // namespace

Napi::Value js_attention(const Napi::CallbackInfo& info) {
  Args a(info, "attention");
  AttentionParams p{};
  p.out = &a.buffer(0, "out");
  p.lse = &a.buffer(1, "lse");
  p.qkv = &a.buffer(2, "qkv");
  Sizes s = read_sizes(a, 3);
  p.n = s.n, p.l = s.l, p.heads = s.heads, p.head_dim = s.head_dim, p.scale = s.scale;
  a.expect_float(*p.out, "out");
  a.expect_same(*p.qkv, *p.out, "qkv", "out");
  expect_lse(a, *p.lse, p.out->device, s);
  const int64_t d = p.heads * p.head_dim;
  a.expect_numel(*p.qkv, p.n * p.l * 3 * d, "qkv");
  a.expect_numel(*p.out, p.n * p.l * d, "out");
  expect_distinct(a, *p.out, *p.qkv, "out", "qkv");
  expect_distinct(a, *p.lse, *p.qkv, "lse", "qkv");
  expect_distinct(a, *p.out, *p.lse, "out", "lse");
  if (p.n == 0 || p.l == 0) return info.Env().Undefined();
  CM_DISPATCH("attention", p.out->device, cpu_attention(p), cuda_attention(p));
  return info.Env().Undefined();
}

Napi::Value js_attention_backward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionBackward");
  AttentionBackwardParams p{};
  p.dqkv = &a.buffer(0, "dqkv");
  p.dout = &a.buffer(1, "dout");
  p.qkv = &a.buffer(2, "qkv");
  p.out = &a.buffer(3, "out");
  p.lse = &a.buffer(4, "lse");
  Sizes s = read_sizes(a, 5);
  p.n = s.n, p.l = s.l, p.heads = s.heads, p.head_dim = s.head_dim, p.scale = s.scale;
  a.expect_float(*p.dqkv, "dqkv");
  a.expect_same(*p.dout, *p.dqkv, "dout", "dqkv");
  a.expect_same(*p.qkv, *p.dqkv, "qkv", "dqkv");
  a.expect_same(*p.out, *p.dqkv, "out", "dqkv");
  expect_lse(a, *p.lse, p.dqkv->device, s);
  const int64_t d = p.heads * p.head_dim;
  a.expect_numel(*p.dqkv, p.n * p.l * 3 * d, "dqkv");
  a.expect_numel(*p.dout, p.n * p.l * d, "dout");
  a.expect_numel(*p.qkv, p.n * p.l * 3 * d, "qkv");
  a.expect_numel(*p.out, p.n * p.l * d, "out");
  expect_distinct(a, *p.dqkv, *p.dout, "dqkv", "dout");
  expect_distinct(a, *p.dqkv, *p.qkv, "dqkv", "qkv");
  expect_distinct(a, *p.dqkv, *p.out, "dqkv", "out");
  expect_distinct(a, *p.dqkv, *p.lse, "dqkv", "lse");
  if (p.n == 0 || p.l == 0) return info.Env().Undefined();
  CM_DISPATCH("attentionBackward", p.dqkv->device, cpu_attention_backward(p), cuda_attention_backward(p));
  return info.Env().Undefined();
}

}  // namespace convmae
