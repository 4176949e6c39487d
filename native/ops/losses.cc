// maskedMseLoss(loss, pred, target, mask, rows, P, normPix),
// maskedMseLossBackward(dpred, dloss, pred, target, mask, rows, P, normPix),
// crossEntropy(loss, logits, targets, N, C) and
// crossEntropyBackward(dlogits, dloss, logits, targets, N, C): bindings and dispatch (contract in
// losses.h). Every buffer's element count is checked against the sizes.
#include "ops/losses.h"

#include <string>

#include "dispatch.h"
#include "napi_args.h"

namespace convmae {
namespace {

constexpr int64_t kMax = int64_t(1) << 40;

void check_product(const char* op, int64_t a, int64_t b) {
  if (a != 0 && b > kMax / a) throw_range(op, "sizes too large");
}

void expect_distinct(const Args& a, const Buffer& out, const Buffer& in, const char* on, const char* in_name) {
  if (&out == &in)
    throw_error(a.op(), std::string("`") + on + "` and `" + in_name + "` are the same buffer; the output needs its own");
}

// The checks shared by the masked MSE forward and backward; `out` is loss or dpred.
void check_mse(const Args& a, const Buffer& out, const char* out_name, const Buffer& pred, const Buffer& target,
               const Buffer& mask, int64_t rows, int64_t P, bool norm_pix) {
  check_product(a.op(), rows, P);
  if (norm_pix && P < 2) throw_range(a.op(), "`normPix` needs `P` >= 2 (the unbiased variance divides by P - 1)");
  a.expect_float(out, out_name);
  a.expect_same(pred, out, "pred", out_name);
  a.expect_same(target, out, "target", out_name);
  a.expect_same(mask, out, "mask", out_name);
  a.expect_numel(pred, rows * P, "pred");
  a.expect_numel(target, rows * P, "target");
  a.expect_numel(mask, rows, "mask");
  expect_distinct(a, out, pred, out_name, "pred");
  expect_distinct(a, out, target, out_name, "target");
  expect_distinct(a, out, mask, out_name, "mask");
}

void check_ce(const Args& a, const Buffer& out, const char* out_name, const Buffer& logits, const Buffer& targets,
              int64_t n, int64_t c) {
  check_product(a.op(), n, c);
  a.expect_float(out, out_name);
  a.expect_same(logits, out, "logits", out_name);
  a.expect_same(targets, out, "targets", out_name);
  a.expect_numel(logits, n * c, "logits");
  a.expect_numel(targets, n * c, "targets");
  expect_distinct(a, out, logits, out_name, "logits");
  expect_distinct(a, out, targets, out_name, "targets");
}

}  // namespace

Napi::Value js_masked_mse_loss(const Napi::CallbackInfo& info) {
  Args a(info, "maskedMseLoss");
  MaskedMseLossParams p{&a.buffer(0, "loss"), &a.buffer(1, "pred"), &a.buffer(2, "target"), &a.buffer(3, "mask"),
                        a.integer(4, "rows", 0, kMax), a.integer(5, "P", 1, kMax), a.flag(6, "normPix")};
  check_mse(a, *p.loss, "loss", *p.pred, *p.target, *p.mask, p.rows, p.p, p.norm_pix);
  a.expect_numel(*p.loss, 1, "loss");
  CM_DISPATCH("maskedMseLoss", p.loss->device, cpu_masked_mse_loss(p), cuda_masked_mse_loss(p));
  return info.Env().Undefined();
}

Napi::Value js_masked_mse_loss_backward(const Napi::CallbackInfo& info) {
  Args a(info, "maskedMseLossBackward");
  MaskedMseLossBackwardParams p{&a.buffer(0, "dpred"), &a.buffer(1, "dloss"), &a.buffer(2, "pred"),
                                &a.buffer(3, "target"), &a.buffer(4, "mask"), a.integer(5, "rows", 0, kMax),
                                a.integer(6, "P", 1, kMax), a.flag(7, "normPix")};
  check_mse(a, *p.dpred, "dpred", *p.pred, *p.target, *p.mask, p.rows, p.p, p.norm_pix);
  a.expect_same(*p.dloss, *p.dpred, "dloss", "dpred");
  a.expect_numel(*p.dloss, 1, "dloss");
  expect_distinct(a, *p.dpred, *p.dloss, "dpred", "dloss");
  CM_DISPATCH("maskedMseLossBackward", p.dpred->device, cpu_masked_mse_loss_backward(p),
              cuda_masked_mse_loss_backward(p));
  return info.Env().Undefined();
}

Napi::Value js_cross_entropy(const Napi::CallbackInfo& info) {
  Args a(info, "crossEntropy");
  CrossEntropyParams p{&a.buffer(0, "loss"), &a.buffer(1, "logits"), &a.buffer(2, "targets"),
                       a.integer(3, "N", 1, kMax), a.integer(4, "C", 1, kMax)};
  check_ce(a, *p.loss, "loss", *p.logits, *p.targets, p.n, p.c);
  a.expect_numel(*p.loss, 1, "loss");
  CM_DISPATCH("crossEntropy", p.loss->device, cpu_cross_entropy(p), cuda_cross_entropy(p));
  return info.Env().Undefined();
}

Napi::Value js_cross_entropy_backward(const Napi::CallbackInfo& info) {
  Args a(info, "crossEntropyBackward");
  CrossEntropyBackwardParams p{&a.buffer(0, "dlogits"), &a.buffer(1, "dloss"), &a.buffer(2, "logits"),
                               &a.buffer(3, "targets"), a.integer(4, "N", 1, kMax), a.integer(5, "C", 1, kMax)};
  check_ce(a, *p.dlogits, "dlogits", *p.logits, *p.targets, p.n, p.c);
  a.expect_same(*p.dloss, *p.dlogits, "dloss", "dlogits");
  a.expect_numel(*p.dloss, 1, "dloss");
  expect_distinct(a, *p.dlogits, *p.dloss, "dlogits", "dloss");
  CM_DISPATCH("crossEntropyBackward", p.dlogits->device, cpu_cross_entropy_backward(p),
              cuda_cross_entropy_backward(p));
  return info.Env().Undefined();
}

}  // namespace convmae
