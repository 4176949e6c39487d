// rowsToPatches, patchesToRows, imageToRows, patchify, rowsToMap, mapToRows: bindings and dispatch
// (contract in patches.h), and the layout check shared with dwconv.
#include "ops/patches.h"

#include <algorithm>
#include <vector>

#include "cuda_api.h"
#include "dispatch.h"
#include "napi_args.h"

namespace convmae {

const int32_t* host_indices(const char* op, const Buffer& b, std::vector<int32_t>& host) {
  if (b.device == Device::CPU) return b.as<int32_t>();
  if (b.shadow_valid) return b.shadow.data();
  host.resize(size_t(b.numel));
  if (b.numel > 0) cuda::copy_to_host(host.data(), b.data, size_t(b.numel) * sizeof(int32_t), op);
  return host.data();
}

void check_layout(const char* op, const Buffer& ref, const Buffer& cells, const Buffer* table, int64_t n, int64_t kept,
                  int64_t g) {
  const int64_t gg = g * g;
  if (kept > gg)
    throw_range(op, "`K` = " + std::to_string(kept) + " kept cells exceed the " + std::to_string(gg) + " of the grid");
  auto check_index = [&](const Buffer& b, const char* name, int64_t numel) {
    if (b.dtype != DType::I32) throw_type(op, std::string("`") + name + "` is " + dtype_name(b.dtype) + " but int32 was expected");
    if (b.device != ref.device)
      throw_error(op, std::string("`") + name + "` is on " + device_name(b.device) + " but the data is on " +
                          device_name(ref.device));
    if (b.numel != numel)
      throw_range(op, std::string("`") + name + "` has " + std::to_string(b.numel) + " elements but the given sizes need " +
                          std::to_string(numel));
  };
  check_index(cells, "cells", n * kept);
  if (table) check_index(*table, "table", n * gg);
  // Device buffers are copied to the host first, so a bad index is caught before any kernel reads it.
  std::vector<int32_t> cells_host, table_host;
  const int32_t* cv = host_indices(op, cells, cells_host);
  const int32_t* tv = table ? host_indices(op, *table, table_host) : nullptr;
  std::vector<int32_t> slot_of(static_cast<size_t>(gg));
  for (int64_t i = 0; i < n; ++i) {
    std::fill(slot_of.begin(), slot_of.end(), -1);
    for (int64_t s = 0; s < kept; ++s) {
      int32_t c = cv[i * kept + s];
      if (c < 0 || c >= gg)
        throw_range(op, "`cells`[" + std::to_string(i * kept + s) + "] = " + std::to_string(c) + " is outside [0, " +
                            std::to_string(gg) + ")");
      if (slot_of[size_t(c)] >= 0)
        throw_range(op, "`cells` holds cell " + std::to_string(c) + " twice in sample " + std::to_string(i));
      slot_of[size_t(c)] = int32_t(s);
    }
    if (!tv) continue;
    for (int64_t c = 0; c < gg; ++c) {
      int32_t v = tv[i * gg + c];
      if (v != slot_of[size_t(c)])
        throw_range(op, "`table`[" + std::to_string(i * gg + c) + "] = " + std::to_string(v) + " but `cells` puts cell " +
                            std::to_string(c) + " of sample " + std::to_string(i) + " in slot " +
                            std::to_string(slot_of[size_t(c)]) + " (-1: not kept)");
    }
  }
}

// rowsToPatches(out, x, blocks, t, k, C) and patchesToRows(dx, dout, blocks, t, k, C).
static PatchRowsParams patch_rows_args(const Args& a, bool to_patches) {
  PatchRowsParams p{};
  p.out = &a.buffer(0, to_patches ? "out" : "dx");
  p.in = &a.buffer(1, to_patches ? "x" : "dout");
  p.blocks = a.integer(2, "blocks");
  p.t = a.integer(3, "t", 1);
  p.k = a.integer(4, "k", 1);
  p.c = a.integer(5, "C");
  if (p.t % p.k != 0)
    throw_range(a.op(), "`t` = " + std::to_string(p.t) + " is not a multiple of `k` = " + std::to_string(p.k));
  a.expect_float(*p.out, to_patches ? "out" : "dx");
  a.expect_same(*p.in, *p.out, to_patches ? "x" : "dout", to_patches ? "out" : "dx");
  const int64_t numel = checked_numel(a.op(), {p.blocks, p.t, p.t, p.c});
  a.expect_numel(*p.out, numel, to_patches ? "out" : "dx");
  a.expect_numel(*p.in, numel, to_patches ? "x" : "dout");
  check_no_alias(a.op(), *p.out, *p.in, to_patches ? "out" : "dx", to_patches ? "x" : "dout");
  return p;
}

Napi::Value js_rows_to_patches(const Napi::CallbackInfo& info) {
  Args a(info, "rowsToPatches");
  PatchRowsParams p = patch_rows_args(a, true);
  CM_DISPATCH("rowsToPatches", p.out->device, cpu_rows_to_patches(p), cuda_rows_to_patches(p));
  return info.Env().Undefined();
}

Napi::Value js_patches_to_rows(const Napi::CallbackInfo& info) {
  Args a(info, "patchesToRows");
  PatchRowsParams p = patch_rows_args(a, false);
  CM_DISPATCH("patchesToRows", p.out->device, cpu_patches_to_rows(p), cuda_patches_to_rows(p));
  return info.Env().Undefined();
}

Napi::Value js_image_to_rows(const Napi::CallbackInfo& info) {
  Args a(info, "imageToRows");
  ImageRowsParams p{};
  p.out = &a.buffer(0, "out");
  p.img = &a.buffer(1, "img");
  p.cells = &a.buffer(2, "cells");
  p.n = a.integer(3, "N");
  p.kept = a.integer(4, "K");
  p.g = a.integer(5, "G", 1, kMaxGrid);
  p.t = a.integer(6, "t", 1);
  p.c = a.integer(7, "C");
  p.h = a.integer(8, "H", 1);
  p.w = a.integer(9, "W", 1);
  if (p.h != p.w || p.h % (p.g * p.t) != 0)
    throw_range("imageToRows", "the image is " + std::to_string(p.h) + "x" + std::to_string(p.w) +
                                   " but must be square with a side that is a multiple of G*t = " +
                                   std::to_string(p.g * p.t));
  const int64_t k = p.h / (p.g * p.t);
  a.expect_float(*p.out, "out");
  a.expect_same(*p.img, *p.out, "img", "out");
  a.expect_numel(*p.img, checked_numel(a.op(), {p.n, p.c, p.h, p.w}), "img");
  a.expect_numel(*p.out, checked_numel(a.op(), {p.n, p.kept, p.t, p.t, p.c, k, k}), "out");
  check_no_alias(a.op(), *p.out, *p.img, "out", "img");
  check_layout(a.op(), *p.out, *p.cells, nullptr, p.n, p.kept, p.g);
  CM_DISPATCH("imageToRows", p.out->device, cpu_image_to_rows(p), cuda_image_to_rows(p));
  return info.Env().Undefined();
}

Napi::Value js_patchify(const Napi::CallbackInfo& info) {
  Args a(info, "patchify");
  PatchifyParams p{};
  p.out = &a.buffer(0, "out");
  p.img = &a.buffer(1, "img");
  p.n = a.integer(2, "N");
  p.c = a.integer(3, "C");
  p.h = a.integer(4, "H");
  p.w = a.integer(5, "W");
  p.p = a.integer(6, "p", 1);
  if (p.h % p.p != 0 || p.w % p.p != 0)
    throw_range("patchify", "the image is " + std::to_string(p.h) + "x" + std::to_string(p.w) +
                                ", not a multiple of the patch size `p` = " + std::to_string(p.p));
  a.expect_float(*p.out, "out");
  a.expect_same(*p.img, *p.out, "img", "out");
  const int64_t numel = checked_numel(a.op(), {p.n, p.c, p.h, p.w});
  a.expect_numel(*p.img, numel, "img");
  a.expect_numel(*p.out, numel, "out");
  check_no_alias(a.op(), *p.out, *p.img, "out", "img");
  CM_DISPATCH("patchify", p.out->device, cpu_patchify(p), cuda_patchify(p));
  return info.Env().Undefined();
}

// rowsToMap(out, x, cells, N, K, G, t, C) and mapToRows(dx, dout, cells, N, K, G, t, C).
static RowsMapParams rows_map_args(const Args& a, bool to_map) {
  RowsMapParams p{};
  const char* out_name = to_map ? "out" : "dx";
  const char* in_name = to_map ? "x" : "dout";
  p.out = &a.buffer(0, out_name);
  p.in = &a.buffer(1, in_name);
  p.cells = &a.buffer(2, "cells");
  p.n = a.integer(3, "N");
  p.kept = a.integer(4, "K");
  p.g = a.integer(5, "G", 1, kMaxGrid);
  p.t = a.integer(6, "t", 1);
  p.c = a.integer(7, "C");
  a.expect_float(*p.out, out_name);
  a.expect_same(*p.in, *p.out, in_name, out_name);
  const int64_t rows = checked_numel(a.op(), {p.n, p.kept, p.t, p.t, p.c});
  const int64_t map = checked_numel(a.op(), {p.n, p.c, p.g, p.t, p.g, p.t});
  a.expect_numel(*p.out, to_map ? map : rows, out_name);
  a.expect_numel(*p.in, to_map ? rows : map, in_name);
  check_no_alias(a.op(), *p.out, *p.in, out_name, in_name);
  check_layout(a.op(), *p.out, *p.cells, nullptr, p.n, p.kept, p.g);
  return p;
}

Napi::Value js_rows_to_map(const Napi::CallbackInfo& info) {
  Args a(info, "rowsToMap");
  RowsMapParams p = rows_map_args(a, true);
  CM_DISPATCH("rowsToMap", p.out->device, cpu_rows_to_map(p), cuda_rows_to_map(p));
  return info.Env().Undefined();
}

Napi::Value js_map_to_rows(const Napi::CallbackInfo& info) {
  Args a(info, "mapToRows");
  RowsMapParams p = rows_map_args(a, false);
  CM_DISPATCH("mapToRows", p.out->device, cpu_map_to_rows(p), cuda_map_to_rows(p));
  return info.Env().Undefined();
}

}  // namespace convmae
