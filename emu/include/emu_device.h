// Included first into every CUDA source of the emulated build (emu/translate.js rewrites the
// sources' launches and extern __shared__ arrays; CMakeLists.txt force-includes this). It gives
// the CUDA C++ device dialect a host meaning: the qualifiers vanish (__shared__ becomes static:
// blocks run one at a time), the built-in variables and intrinsics come from the emulator
// (emu/emu.h), and CONVMAE_CUDA_EMULATION selects the emulator's twins of the inline PTX.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "emu.h"

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __forceinline__
#undef __noinline__
#undef __launch_bounds__
#undef __restrict__
#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __restrict__ __restrict

#define threadIdx (::emu::g_thread_idx)
#define blockIdx (::emu::g_block_idx)
#define blockDim (::emu::g_block_dim)
#define gridDim (::emu::g_grid_dim)

namespace emu {
/** p, through an empty asm the compiler cannot see past (emu/translate.js: static __shared__ arrays). */
template <typename T>
inline T* opaque(T* p) {
  asm volatile("" : "+r"(p));
  return p;
}
}  // namespace emu

inline size_t __cvta_generic_to_shared(const void* p) { return ::emu::shared_address(p); }
inline void __syncthreads() { ::emu::sync_block(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::emu::sync_warp(mask); }

template <typename T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  const int lane = ::emu::lane();
  return ::emu::shuffle(mask, v, (lane & ~(width - 1)) + (src & (width - 1)));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = ::emu::lane();
  const int src = lane ^ lane_mask;
  return ::emu::shuffle(mask, v, (src & ~(width - 1)) == (lane & ~(width - 1)) ? src : lane);
}

// One fiber runs at a time, so read-modify-write is atomic.
template <typename T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}

using std::isnan;
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __uint_as_float(unsigned v) {
  float f;
  std::memcpy(&f, &v, sizeof f);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned v;
  std::memcpy(&v, &f, sizeof v);
  return v;
}

// CUDA's integer min/max accept mixed operand types.
template <typename A, typename B>
inline typename std::common_type<A, B>::type min(A a, B b) {
  using C = typename std::common_type<A, B>::type;
  return C(a) < C(b) ? C(a) : C(b);
}
template <typename A, typename B>
inline typename std::common_type<A, B>::type max(A a, B b) {
  using C = typename std::common_type<A, B>::type;
  return C(a) < C(b) ? C(b) : C(a);
}

// cuda_runtime.h gives this overload to nvcc only.
template <typename T>
cudaError_t cudaFuncSetAttribute(T* entry, cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(entry), attr, value);
}
