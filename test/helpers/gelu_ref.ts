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

/**
 * erfc(x) to ~1e-12 relative over the whole line, the tails included: 1 - erf(x) below x = 3
 * (erfc(3) ≈ 2.2e-5, so the cancellation costs at most ~5 of double's 16 digits), above it the
 * continued fraction e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from 200
 * terms down; 2 - erfc(-x) for negative x.
 */
export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x < 3) return 1 - erf(x);
  let f = x;
  for (let n = 200; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}
/** Φ(x), relative-accurate in the negative tail. */
export const normalCdf = (x: number): number => 0.5 * erfc(-x / Math.SQRT2);
