// Host-side helpers shared by the CUDA launchers: temporary device memory from the package's
// caching allocator, and the dtype switch over the kernels' two storage types.
//
// Scratch is returned to the allocator when its scope ends, possibly before the kernels that use
// it have run. That is safe because every kernel and copy runs on the one package stream: a later
// user of the block is queued after them. (Revisit if a second stream is ever added.)
#pragma once
#include <cuda_bf16.h>

#include <string>

#include "cuda_api.h"
#include "dtype.h"
#include "errors.h"

namespace convmae {

class Scratch {
 public:
  Scratch(size_t bytes, const char* op) : bytes_(bytes), p_(bytes ? cuda::alloc(bytes, op) : nullptr) {}
  ~Scratch() { cuda::release(p_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T> T* as() const { return static_cast<T*>(p_); }

 private:
  size_t bytes_;
  void* p_;
};

/** Calls f(float{}) or f(__nv_bfloat16{}) for the storage dtype; anything else throws naming op. */
template <typename F>
void cuda_float_dispatch(DType d, const char* op, F f) {
  if (d == DType::F32) f(float{});
  else if (d == DType::BF16) f(__nv_bfloat16{});
  else throw_type(op, std::string("CUDA kernels support float32 and bfloat16, not ") + dtype_name(d));
}

}  // namespace convmae
