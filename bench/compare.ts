// How far a result is from its reference, for the GPU checks: relative L2 error ‖got − want‖ /
// ‖want‖ (Infinity for a length mismatch or a non-finite difference).
export function relL2(got: Float32Array, want: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return got.length !== want.length || !Number.isFinite(num) ? Infinity : Math.sqrt(num / (den || 1));
}
