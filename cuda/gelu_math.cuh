// The exact GELU and its derivative in fp32 on the device (erfcf/expf, not the tanh form):
// Φ(x) = erfc(−x/√2)/2, exact in the negative tail where 1 + erf(x/√2) cancels. Shared by the
// gelu kernels (cuda/gelu.cu) and the gemm epilogues (cuda/gemm_common.cuh, cuda/gemm.cu).
#pragma once

namespace convmae {

/** x·Φ(x). */
__device__ inline float gelu_of(float v) { return 0.5f * v * erfcf(-v * 0.70710678118654752440f); }
/** d gelu / dx = Φ(x) + x·φ(x). */
__device__ inline float gelu_derivative(float v) {
  const float cdf = 0.5f * erfcf(-v * 0.70710678118654752440f);
  const float pdf = expf(-0.5f * v * v) * 0.39894228040143267794f;  // 1/√(2π)
  return cdf + v * pdf;
}

}  // namespace convmae
