// Device helpers shared by the kernels: fp32 loads and stores of float32 or bfloat16 storage
// (arithmetic is always fp32; bf16 stores round to nearest even), warp reductions and grid-stride
// loop bounds.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

namespace convmae {

__device__ inline float ldf(const float* p, int64_t i) { return p[i]; }
__device__ inline float ldf(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ inline void stf(float* p, int64_t i, float v) { p[i] = v; }
__device__ inline void stf(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

/**
 * Two consecutive elements as fp32, in one 4-byte (bfloat16) or 8-byte (float32) access; p + i
 * must be 2-element aligned. The bfloat16 pair moves as one 32-bit word (a bf16 is the high half
 * of its fp32), so that no compiler splits it into two 2-byte accesses.
 */
__device__ inline float2 load2(const float* p, int64_t i) { return *reinterpret_cast<const float2*>(p + i); }
__device__ inline float2 load2(const __nv_bfloat16* p, int64_t i) {
  const uint32_t raw = *reinterpret_cast<const uint32_t*>(p + i);
  return make_float2(__uint_as_float(raw << 16), __uint_as_float(raw & 0xffff0000u));
}
__device__ inline void store2(float* p, int64_t i, float2 v) { *reinterpret_cast<float2*>(p + i) = v; }
__device__ inline void store2(__nv_bfloat16* p, int64_t i, float2 v) {
  const uint32_t lo = __bfloat16_as_ushort(__float2bfloat16_rn(v.x)), hi = __bfloat16_as_ushort(__float2bfloat16_rn(v.y));
  *reinterpret_cast<uint32_t*>(p + i) = lo | (hi << 16);
}

/**
 * Eight consecutive elements as fp32, in one 16-byte access for bfloat16 (two for float32); the
 * address must be aligned to 8 elements (buffers start 16-byte aligned; callers check the counts).
 */
__device__ inline void load8(const float* p, float (&v)[8]) {
  const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
  v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}
__device__ inline void load8(const __nv_bfloat16* p, float (&v)[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat16* h = reinterpret_cast<const __nv_bfloat16*>(&raw);
#pragma unroll
  for (int e = 0; e < 8; ++e) v[e] = __bfloat162float(h[e]);
}
/**
 * Eight elements as loaded, not yet converted (one uint4 of bfloat16, two of float32): a load whose
 * value is used later, e.g. the next row's while the current one is reduced, so that no
 * conversion waits on it before then. Same alignment as load8.
 */
template <typename T>
struct Packed8 {
  uint4 q[sizeof(T) / 2];
};
template <typename T>
__device__ inline void load_packed8(const T* p, Packed8<T>& r) {
#pragma unroll
  for (int i = 0; i < int(sizeof(T) / 2); ++i) r.q[i] = reinterpret_cast<const uint4*>(p)[i];
}
__device__ inline void unpack8(const Packed8<float>& r, float (&v)[8]) {
  v[0] = __uint_as_float(r.q[0].x); v[1] = __uint_as_float(r.q[0].y); v[2] = __uint_as_float(r.q[0].z); v[3] = __uint_as_float(r.q[0].w);
  v[4] = __uint_as_float(r.q[1].x); v[5] = __uint_as_float(r.q[1].y); v[6] = __uint_as_float(r.q[1].z); v[7] = __uint_as_float(r.q[1].w);
}
__device__ inline void unpack8(const Packed8<__nv_bfloat16>& r, float (&v)[8]) {
  const uint32_t w[4] = {r.q[0].x, r.q[0].y, r.q[0].z, r.q[0].w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    v[2 * i] = __uint_as_float(w[i] << 16);
    v[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

/** VEC (1 or 8) consecutive elements as fp32: one element, or an aligned piece of 8 (load8). */
template <int VEC, typename T>
__device__ inline void load_vec(const T* p, float (&v)[VEC]) {
  static_assert(VEC == 1 || VEC == 8, "load_vec reads 1 or 8 elements");
  if constexpr (VEC == 8) load8(p, v);
  else v[0] = ldf(p, 0);
}

__device__ inline void store8(float* p, const float (&v)[8]) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ inline void store8(__nv_bfloat16* p, const float (&v)[8]) {
  uint4 raw;
  __nv_bfloat16* h = reinterpret_cast<__nv_bfloat16*>(&raw);
#pragma unroll
  for (int e = 0; e < 8; ++e) h[e] = __float2bfloat16_rn(v[e]);
  *reinterpret_cast<uint4*>(p) = raw;
}

/** VEC (1 or 8) fp32 values to consecutive elements: one element, or an aligned piece of 8 (store8). */
template <int VEC, typename T>
__device__ inline void store_vec(T* p, const float (&v)[VEC]) {
  static_assert(VEC == 1 || VEC == 8, "store_vec writes 1 or 8 elements");
  if constexpr (VEC == 8) store8(p, v);
  else stf(p, 0, v[0]);
}

/**
 * Eight consecutive fp32 values to or from shared memory at p (16-byte aligned) as two 16-byte
 * accesses, lanes 4-7 of every 8 taking their upper half first. Where consecutive lanes own
 * consecutive 32-byte pieces (a warp's row of 8-wide columns), the 8 lanes of each quarter-warp
 * phase then cover the 32 banks once per access instead of half of them twice (2-way conflicts;
 * eight scalar accesses would be 8-way).
 */
__device__ inline void store8_spread(float* p, const float (&v)[8]) {
  const int first = (threadIdx.x >> 2) & 1;
  const float4 lo = make_float4(v[0], v[1], v[2], v[3]), hi = make_float4(v[4], v[5], v[6], v[7]);
  reinterpret_cast<float4*>(p)[first] = first ? hi : lo;
  reinterpret_cast<float4*>(p)[first ^ 1] = first ? lo : hi;
}
__device__ inline void load8_spread(const float* p, float (&v)[8]) {
  const int first = (threadIdx.x >> 2) & 1;
  const float4 a = reinterpret_cast<const float4*>(p)[first], b = reinterpret_cast<const float4*>(p)[first ^ 1];
  const float4 lo = first ? b : a, hi = first ? a : b;
  v[0] = lo.x; v[1] = lo.y; v[2] = lo.z; v[3] = lo.w; v[4] = hi.x; v[5] = hi.y; v[6] = hi.z; v[7] = hi.w;
}

/** Sum and max over the 32 lanes of a full warp (every lane gets the result). */
__device__ inline float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/** First element of this thread in a grid-stride loop, and the stride. */
__device__ inline int64_t first_index() { return blockIdx.x * int64_t(blockDim.x) + threadIdx.x; }
__device__ inline int64_t grid_stride() { return int64_t(gridDim.x) * blockDim.x; }

}  // namespace convmae
