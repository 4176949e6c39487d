// Tolerances in one place: elementwise |a - e| <= atol + rtol*|e| (NaN never passes), and the
// relative L2 error used by the parity checks. Failures print the worst elements.
import { expect } from 'vitest';

export interface Tolerance {
  atol: number;
  rtol: number;
}

export const TOL_F64: Tolerance = { atol: 1e-10, rtol: 1e-8 };
export const TOL_F32: Tolerance = { atol: 1e-5, rtol: 1e-4 };

export function relL2(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Number(actual[i]) - Number(expected[i]);
    num += d * d;
    den += Number(expected[i]) ** 2;
  }
  if (Number.isNaN(num)) return NaN;
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, label = 'tensor'): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  const bad: { i: number; a: number; e: number; err: number }[] = [];
  let maxAbs = 0, maxRel = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = Number(actual[i]), e = Number(expected[i]);
    const err = Math.abs(a - e);
    maxAbs = Math.max(maxAbs, err);
    if (e !== 0) maxRel = Math.max(maxRel, err / Math.abs(e));
    if (!(err <= tol.atol + tol.rtol * Math.abs(e))) bad.push({ i, a, e, err });
  }
  if (bad.length > 0) {
    bad.sort((x, y) => y.err - x.err);
    const worst = bad.slice(0, 5).map((b) => `[${b.i}] got ${b.a}, expected ${b.e}`).join('; ');
    throw new Error(`${label}: ${bad.length}/${expected.length} elements outside atol ${tol.atol} + rtol ${tol.rtol}; ` +
      `max abs ${maxAbs.toExponential(3)}, max rel ${maxRel.toExponential(3)}; worst: ${worst}`);
  }
}
