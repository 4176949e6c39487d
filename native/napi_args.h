// Argument reading for exports. Every export is registered through CM_EXPORT, which turns any
// C++ exception into a JS error (TypeError / RangeError / Error) so none reaches Node. Args reads
// positional arguments and names the op and the argument in every message.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <string>

#include "buffer.h"
#include "errors.h"

namespace convmae {

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* op) : info_(info), op_(op) {}
  const char* op() const { return op_; }
  Napi::Env env() const { return info_.Env(); }

  // A live Buffer argument.
  Buffer& buffer(size_t i, const char* name) const {
    Buffer* b = buffer_from(info_[i]);
    if (!b) throw_type(op_, std::string("expected a tensor buffer for `") + name + "`");
    if (!b->alive) throw_error(op_, std::string("`") + name + "` was disposed");
    return *b;
  }
  // A Buffer or null/undefined.
  Buffer* optional_buffer(size_t i, const char* name) const {
    if (info_[i].IsNull() || info_[i].IsUndefined()) return nullptr;
    return &buffer(i, name);
  }
  int64_t integer(size_t i, const char* name, int64_t lo = 0,
                  int64_t hi = std::numeric_limits<int32_t>::max()) const {
    if (!info_[i].IsNumber()) throw_type(op_, std::string("expected an integer for `") + name + "`");
    double v = info_[i].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(v) || std::floor(v) != v)
      throw_type(op_, std::string("expected an integer for `") + name + "`");
    if (v < double(lo) || v > double(hi))
      throw_range(op_, std::string("`") + name + "` = " + std::to_string(int64_t(v)) + " is outside [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return int64_t(v);
  }
  double number(size_t i, const char* name) const {
    if (!info_[i].IsNumber()) throw_type(op_, std::string("expected a number for `") + name + "`");
    return info_[i].As<Napi::Number>().DoubleValue();
  }
  bool flag(size_t i, const char* name) const {
    if (!info_[i].IsBoolean()) throw_type(op_, std::string("expected a boolean for `") + name + "`");
    return info_[i].As<Napi::Boolean>().Value();
  }
  // Argument i as an array; with n >= 0 it must have n entries (`counted` names what n counts).
  Napi::Array array(size_t i, const char* name, int64_t n = -1, const char* counted = "") const {
    if (!info_[i].IsArray()) throw_type(op_, std::string("expected an array for `") + name + "`");
    Napi::Array arr = info_[i].As<Napi::Array>();
    if (n >= 0 && int64_t(arr.Length()) != n)
      throw_range(op_, std::string("`") + name + "` has " + std::to_string(arr.Length()) + " entries but `" + counted +
                           "` has " + std::to_string(n));
    return arr;
  }
  // Entry j of an array argument as a live Buffer (named name[j] in errors).
  Buffer& array_buffer(const Napi::Array& arr, uint32_t j, const char* name) const {
    const std::string what = std::string(name) + "[" + std::to_string(j) + "]";
    Buffer* b = buffer_from(arr.Get(j));
    if (!b) throw_type(op_, "expected a tensor buffer for `" + what + "`");
    if (!b->alive) throw_error(op_, "`" + what + "` was disposed");
    return *b;
  }
  // A boolean, or `dflt` when the argument is absent or undefined.
  bool optional_flag(size_t i, const char* name, bool dflt) const {
    if (info_[i].IsUndefined()) return dflt;
    return flag(i, name);
  }
  Device device(size_t i, const char* name) const {
    int64_t d = integer(i, name, 0, 1);
    return Device(int(d));
  }
  DType dtype(size_t i, const char* name) const {
    int64_t d = integer(i, name, 0, 5);
    return DType(int(d));
  }

  // Shape checks shared by the ops.
  void expect_numel(const Buffer& b, int64_t n, const char* name) const {
    if (b.numel != n)
      throw_range(op_, std::string("`") + name + "` has " + std::to_string(b.numel) +
                           " elements but the given sizes need " + std::to_string(n));
  }
  void expect_dtype(const Buffer& b, DType d, const char* name) const {
    if (b.dtype != d)
      throw_type(op_, std::string("`") + name + "` is " + dtype_name(b.dtype) + " but " + dtype_name(d) +
                          " was expected");
  }
  void expect_same(const Buffer& a, const Buffer& b, const char* an, const char* bn) const {
    if (a.device != b.device)
      throw_error(op_, std::string("`") + an + "` is on " + device_name(a.device) + " but `" + bn + "` is on " +
                           device_name(b.device));
    if (a.dtype != b.dtype)
      throw_type(op_, std::string("`") + an + "` is " + dtype_name(a.dtype) + " but `" + bn + "` is " +
                          dtype_name(b.dtype));
  }
  void expect_device(const Buffer& a, Device d, const char* name) const {
    if (a.device != d)
      throw_error(op_, std::string("`") + name + "` is on " + device_name(a.device) + " but " + device_name(d) +
                           " was expected");
  }
  void expect_float(const Buffer& b, const char* name) const {
    bool ok = b.device == Device::CPU ? (b.dtype == DType::F32 || b.dtype == DType::F64)
                                      : (b.dtype == DType::F32 || b.dtype == DType::BF16);
    if (!ok)
      throw_type(op_, std::string("`") + name + "` is " + dtype_name(b.dtype) + ", which " + device_name(b.device) +
                          " kernels of this op do not support (cpu: float32/float64, cuda: float32/bfloat16)");
  }

 private:
  const Napi::CallbackInfo& info_;
  const char* op_;
};

Napi::Error to_js_error(Napi::Env env, const OpError& e);

template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const OpError& e) {
    throw to_js_error(env, e);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "convmae: out of host memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("convmae: ") + e.what());
  } catch (...) {
    throw Napi::Error::New(env, "convmae: unknown native error");
  }
}

}  // namespace convmae

#define CM_EXPORT(exports, name, fn) \
  exports.Set(name, Napi::Function::New<::convmae::guarded<fn>>(exports.Env(), name))
