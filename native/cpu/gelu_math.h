// The exact GELU and its derivative on the CPU, in the tensor's dtype with std::erfc:
// Φ(x) = erfc(−x/√2)/2, the same function as PyTorch's (1 + erf(x/√2))/2 without its
// cancellation for negative x. Shared by the gelu op and the gemm epilogue.
#pragma once
#include <cmath>

namespace convmae {

/** x·Φ(x). */
template <typename T>
inline T gelu_value(T x) {
  return T(0.5) * x * std::erfc(-x * T(0.70710678118654752440));
}
/** Φ(x) + x·φ(x). */
template <typename T>
inline T gelu_derivative(T x) {
  const T cdf = T(0.5) * std::erfc(-x * T(0.70710678118654752440));
  const T pdf = std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);  // 1/√(2π)
  return cdf + x * pdf;
}

}  // namespace convmae
