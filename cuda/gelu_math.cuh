// The exact GELU and its derivative in fp32 on the device, x·Φ(x) and Φ(x) + x·φ(x) (the erf
// form, not tanh), shared by the gelu kernels (cuda/gelu.cu) and the gemm epilogues
// (cuda/gemm_common.cuh, cuda/gemm.cu, cuda/gemm_split.cu). Contract: relative error below
// 1e-6 over every float (for the derivative, relative to Φ(x) + |x·φ(x)|, its own scale at the
// root near x = -0.75), exact in the negative tail where 1 + erf(x/√2) cancels; results below
// ~1e-38 (x < -13.2) may flush to zero; gelu(+inf) = inf, NaN and gelu(-inf) give NaN.
//
// Why not erfcf/expf: in run 7 the gelu kernel ran at the issue rate of its ~60 instructions an
// element (0.107 ms for 51 M elements, not the bandwidth's 0.07), and the GELU epilogue costs the
// fc1 gemms as much. Here, with a = min(|x|, 20), z = a/√2:
//   e^(-a²/2) = 2^k·2^f with k = rint(-a²·log2(e)/2), f the rest from a² split exactly into
//     s + s_lo (an fma), so the deep tail keeps its relative precision;
//   erfc(z)·e^(z²) = t·2^(G(t)), t = 1/(1 + z/3) (an approximate reciprocal; t - 1 = -t·z/3
//     without cancellation), G(t) = (t - 1)·Q(t - 1), Q of degree 9 least-squares fitted to
//     log2(erfcx(z)/t)/(t - 1) at 4000 Chebyshev nodes of t - 1 for z ∈ [0, 9.5] (error below 5e-8
//     in G with these fp32 coefficients; G(1) = 0, so Φ(0) = 1/2 exactly);
//   Φ(x) = erfc(z)/2 for x < 0, else 1 - erfc(z)/2.
// 34 PTX instructions an element for gelu (one rcp, one ex2), 36 for the derivative (two ex2),
// against 51 and 63 through erfcf and expf (nvcc 13.0, sm_90a, loads and stores left out).
// Error (a host model over every 97th float of |x| ≤ 25 and every bfloat16 value, the ex2 and rcp
// results put 2 and 1 ulp off either way): at most 6.5e-7 (gelu) and 8.7e-7 (derivative); with
// exact ex2 and rcp, as the emulator has them, 3.9e-7 and 3.0e-7.
#pragma once

#ifdef CONVMAE_CUDA_EMULATION
#include <cmath>
#endif

namespace convmae {

namespace gelu_detail {

/** 2^v for the small arguments here (|v| < 3): one ex2.approx on the card. */
__device__ inline float exp2_small(float v) {
#ifdef CONVMAE_CUDA_EMULATION
  return std::exp2f(v);
#else
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
#endif
}

/** 1/v for v in [1, 6]: one rcp.approx on the card (within an ulp; the error budget above counts it). */
__device__ inline float reciprocal_approx(float v) {
#ifdef CONVMAE_CUDA_EMULATION
  return 1.f / v;
#else
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(v));
  return r;
#endif
}

/** The pieces of Φ(x) and φ(x): e^(-x²/2)/2 = half_scale·2^f, erfc(|x|/√2)·e^(x²/2) = t·2^g. */
struct NormalParts {
  float f, half_scale, t, g;
};

__device__ inline NormalParts normal_parts(float x) {
  constexpr float kHalfLog2eHi = 0.72134752f;        // log2(e)/2 in fp32
  constexpr float kHalfLog2eLo = 9.62981494e-09f;    // log2(e)/2 - kHalfLog2eHi
  const float a = fminf(fabsf(x), 20.f);             // NaN → 20; Φ is 0 or 1 beyond
  const float s = a * a, s_lo = fmaf(a, a, -s);      // a² = s + s_lo exactly
  const float k = rintf(-s * kHalfLog2eHi);
  float f = fmaf(-s, kHalfLog2eHi, -k);              // -a²·log2(e)/2 - k, |f| ≤ 1/2
  f = fmaf(-s, kHalfLog2eLo, f);
  f = fmaf(-s_lo, kHalfLog2eHi, f);
  // 2^(k-1) as a float, 0 once it would leave the normal floats (Φ < ~1e-38 then): k + 126 lands
  // in the low mantissa bits of 1.5·2^23 + k + 126, and the shift moves it to the exponent.
  const float half_scale = __uint_as_float(__float_as_uint(fmaxf(k, -126.f) + 12583038.f) << 23);
  const float w = a * 0.235702260f;                  // z/3
  const float t = reciprocal_approx(1.f + w);
  const float u = -w * t;                            // t - 1, without its cancellation
  float q = 0.291462541f;
  q = fmaf(q, u, 0.631255507f);
  q = fmaf(q, u, -0.0908877626f);
  q = fmaf(q, u, -1.09035623f);
  q = fmaf(q, u, -0.396717787f);
  q = fmaf(q, u, 0.667471349f);
  q = fmaf(q, u, -0.150691763f);
  q = fmaf(q, u, -1.03084099f);
  q = fmaf(q, u, 0.555836022f);
  q = fmaf(q, u, 3.44102597f);
  return NormalParts{f, half_scale, t, q * u};
}

/** Φ(x) from erfc(|x|/√2)/2. */
__device__ inline float normal_cdf_from(float x, float half_erfc) { return x < 0.f ? half_erfc : 1.f - half_erfc; }

}  // namespace gelu_detail

/** x·Φ(x). */
__device__ inline float gelu_of(float x) {
  const gelu_detail::NormalParts p = gelu_detail::normal_parts(x);
  const float half_erfc = p.t * p.half_scale * gelu_detail::exp2_small(p.f + p.g);
  return x * gelu_detail::normal_cdf_from(x, half_erfc);
}

/** d gelu / dx = Φ(x) + x·φ(x). */
__device__ inline float gelu_derivative(float x) {
  const gelu_detail::NormalParts p = gelu_detail::normal_parts(x);
  const float half_gauss = p.half_scale * gelu_detail::exp2_small(p.f);  // e^(-x²/2)/2
  const float cdf = gelu_detail::normal_cdf_from(x, p.t * half_gauss * gelu_detail::exp2_small(p.g));
  return fmaf(x, half_gauss * 0.797884561f, cdf);  // φ(x) = e^(-x²/2)/√(2π) = half_gauss·2/√(2π)
}

}  // namespace convmae
