// The exact GELU and its derivative in float64, the reference the gelu and gemm-epilogue tests
// check the kernels against.

/**
 * erf(x) = 2/√π · e^{-x²} · Σ_n 2^n x^{2n+1} / (1·3·…·(2n+1)): every term is positive, so the
 * sum has no cancellation; beyond |x| = 6, erf is ±1 to double precision.
 */
export function erf(x: number): number {
  if (Math.abs(x) > 6) return Math.sign(x);
  let term = x, sum = x;
  for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}

/** x·Φ(x). */
export const refGelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
/** Φ(x) + x·φ(x). */
export const refGeluDeriv = (x: number): number => 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
