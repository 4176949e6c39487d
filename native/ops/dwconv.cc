// dwconvRows, dwconvRowsBackwardInput, dwconvRowsBackwardWeight: bindings and dispatch (contract
// in dwconv.h). The layout (cells, table) is checked by check_layout from patches.h, which scans
// CUDA layouts through a host copy.
#include "ops/dwconv.h"

#include "dispatch.h"
#include "napi_args.h"
#include "ops/patches.h"

namespace convmae {

// Reads N, K, G, t, C, ksize from argument `first` on and checks the layout against them; `ref`
// (named ref_name) is the output the other buffers are compared with.
static DwconvGeometry geometry_args(const Args& a, size_t first, const Buffer& cells, const Buffer& table,
                                    const Buffer& ref, const char* ref_name) {
  DwconvGeometry g{&cells, &table, 0, 0, 0, 0, 0, 0};
  g.n = a.integer(first, "N");
  g.kept = a.integer(first + 1, "K");
  g.g = a.integer(first + 2, "G", 1, kMaxGrid);
  g.t = a.integer(first + 3, "t", 1);
  g.c = a.integer(first + 4, "C");
  g.ksize = a.integer(first + 5, "ksize", 1, 255);
  if (g.ksize % 2 == 0) throw_range(a.op(), "`ksize` = " + std::to_string(g.ksize) + " must be odd");
  a.expect_float(ref, ref_name);
  check_layout(a.op(), ref, cells, &table, g.n, g.kept, g.g);
  return g;
}

static void expect_rows(const Args& a, const DwconvGeometry& g, const Buffer& b, const Buffer& ref, const char* name,
                        const char* ref_name) {
  a.expect_same(b, ref, name, ref_name);
  a.expect_numel(b, checked_numel(a.op(), {g.n, g.kept, g.t, g.t, g.c}), name);
}

static void expect_weight(const Args& a, const DwconvGeometry& g, const Buffer& w, const Buffer& ref, const char* name,
                          const char* ref_name) {
  a.expect_same(w, ref, name, ref_name);
  a.expect_numel(w, checked_numel(a.op(), {g.c, g.ksize, g.ksize}), name);
}

static void expect_channels(const Args& a, const DwconvGeometry& g, const Buffer& b, const Buffer& ref,
                            const char* name, const char* ref_name) {
  a.expect_same(b, ref, name, ref_name);
  a.expect_numel(b, g.c, name);
}

// dwconvRows(out, x, cells, table, weight, bias, N, K, G, t, C, ksize)
Napi::Value js_dwconv_rows(const Napi::CallbackInfo& info) {
  Args a(info, "dwconvRows");
  DwconvParams p{};
  p.y = &a.buffer(0, "out");
  p.x = &a.buffer(1, "x");
  const Buffer& cells = a.buffer(2, "cells");
  const Buffer& table = a.buffer(3, "table");
  p.weight = &a.buffer(4, "weight");
  p.bias = &a.buffer(5, "bias");
  p.geo = geometry_args(a, 6, cells, table, *p.y, "out");
  expect_rows(a, p.geo, *p.y, *p.y, "out", "out");
  expect_rows(a, p.geo, *p.x, *p.y, "x", "out");
  expect_weight(a, p.geo, *p.weight, *p.y, "weight", "out");
  expect_channels(a, p.geo, *p.bias, *p.y, "bias", "out");
  check_no_alias(a.op(), *p.y, *p.x, "out", "x");
  CM_DISPATCH("dwconvRows", p.y->device, cpu_dwconv_rows(p), cuda_dwconv_rows(p));
  return info.Env().Undefined();
}

// dwconvRowsBackwardInput(dx, dy, cells, table, weight, N, K, G, t, C, ksize)
Napi::Value js_dwconv_rows_backward_input(const Napi::CallbackInfo& info) {
  Args a(info, "dwconvRowsBackwardInput");
  DwconvBackwardInputParams p{};
  p.dx = &a.buffer(0, "dx");
  p.dy = &a.buffer(1, "dy");
  const Buffer& cells = a.buffer(2, "cells");
  const Buffer& table = a.buffer(3, "table");
  p.weight = &a.buffer(4, "weight");
  p.geo = geometry_args(a, 5, cells, table, *p.dx, "dx");
  expect_rows(a, p.geo, *p.dx, *p.dx, "dx", "dx");
  expect_rows(a, p.geo, *p.dy, *p.dx, "dy", "dx");
  expect_weight(a, p.geo, *p.weight, *p.dx, "weight", "dx");
  check_no_alias(a.op(), *p.dx, *p.dy, "dx", "dy");
  CM_DISPATCH("dwconvRowsBackwardInput", p.dx->device, cpu_dwconv_rows_backward_input(p),
              cuda_dwconv_rows_backward_input(p));
  return info.Env().Undefined();
}

// dwconvRowsBackwardWeight(dweight, dbias, dy, x, cells, table, N, K, G, t, C, ksize)
Napi::Value js_dwconv_rows_backward_weight(const Napi::CallbackInfo& info) {
  Args a(info, "dwconvRowsBackwardWeight");
  DwconvBackwardWeightParams p{};
  p.dweight = &a.buffer(0, "dweight");
  p.dbias = &a.buffer(1, "dbias");
  p.dy = &a.buffer(2, "dy");
  p.x = &a.buffer(3, "x");
  const Buffer& cells = a.buffer(4, "cells");
  const Buffer& table = a.buffer(5, "table");
  p.geo = geometry_args(a, 6, cells, table, *p.dweight, "dweight");
  expect_weight(a, p.geo, *p.dweight, *p.dweight, "dweight", "dweight");
  expect_channels(a, p.geo, *p.dbias, *p.dweight, "dbias", "dweight");
  expect_rows(a, p.geo, *p.dy, *p.dweight, "dy", "dweight");
  expect_rows(a, p.geo, *p.x, *p.dweight, "x", "dweight");
  check_no_alias(a.op(), *p.dweight, *p.dbias, "dweight", "dbias");
  CM_DISPATCH("dwconvRowsBackwardWeight", p.dweight->device, cpu_dwconv_rows_backward_weight(p),
              cuda_dwconv_rows_backward_weight(p));
  return info.Env().Undefined();
}

}  // namespace convmae
