// The gemm epilogue extras (native/ops/gemm.h): residual, geluOut and geluGradOf, straight through
// the native function: on the CPU against a float64 reference (with batches, both transposes and
// alpha/beta/bias in the mix), bad arguments, and on a GPU every CUDA path (wgmma, wmma, split K,
// the plain kernel) against the CPU by the rule of test/helpers/cuda_compare.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { kernels, setKernel } from '../../lib/backends';
import { native } from '../../lib/binding';
import { tidy } from '../../lib/tensor/scope';
import { tensor, zeros } from '../../lib/tensor/tensor';
import { expectClose } from '../helpers/close';
import { Run, expectParity, freshSeed, hostF, put, rand32 } from '../helpers/cuda_compare';
import { cudaSkipReason, cudaUsable, shortLastWaveShapes } from '../helpers/devices';
import { refGelu, refGeluDeriv } from '../helpers/gelu_ref';
import { randn } from '../helpers/gradcheck';

interface Problem {
  m: number; n: number; k: number; ta: boolean; tb: boolean; batch: number; alpha: number; beta: number; bias: boolean;
  /** What the case is for, where its shape does not say (it shows in the test's name). */
  note?: string;
}
type Extra = 'residual' | 'geluOut' | 'geluGradOf';

/** Reference C (and geluOut) in float64. */
function reference(p: Problem, A: Float64Array, B: Float64Array, BIAS: Float64Array, C0: Float64Array, X: Float64Array, extras: Extra[]) {
  const c = new Float64Array(p.batch * p.m * p.n), g = new Float64Array(c.length);
  for (let z = 0; z < p.batch; z++) for (let i = 0; i < p.m; i++) for (let j = 0; j < p.n; j++) {
    let s = 0;
    for (let q = 0; q < p.k; q++) {
      const a = p.ta ? A[z * p.m * p.k + q * p.m + i] : A[z * p.m * p.k + i * p.k + q];
      const b = p.tb ? B[z * p.k * p.n + j * p.k + q] : B[z * p.k * p.n + q * p.n + j];
      s += a * b;
    }
    const e = z * p.m * p.n + i * p.n + j;
    let v = p.alpha * s + p.beta * C0[e] + (p.bias ? BIAS[j] : 0);
    if (extras.includes('residual')) v += X[e];
    if (extras.includes('geluGradOf')) v *= refGeluDeriv(X[e]);
    c[e] = v;
    g[e] = refGelu(v);
  }
  return { c, g };
}

/** Runs native.gemm with the extras (the residual and geluGradOf operand is X) on a device. */
const gemmRun = (p: Problem, extras: Extra[]): Run => (device, mode, [A, B, BIAS, C0, X]) => tidy(() => {
  const size = p.batch * p.m * p.n;
  const c = put(C0, [size], device, mode), x = put(X, [size], device, mode);
  const g = zeros([size], { device, dtype: mode });
  native.gemm(c.handle(), put(A, [A.length], device, mode).handle(), put(B, [B.length], device, mode).handle(),
    p.bias ? put(BIAS, [p.n], device, mode).handle() : null, p.m, p.n, p.k, p.ta, p.tb, p.alpha, p.beta, p.batch, p.m * p.k, p.k * p.n, p.m * p.n,
    extras.includes('residual') ? x.handle() : null, extras.includes('geluOut') ? g.handle() : null, extras.includes('geluGradOf') ? x.handle() : null);
  return [hostF(c), hostF(g)];
});

const EXTRAS: Extra[][] = [['residual'], ['geluOut'], ['geluGradOf'], ['residual', 'geluOut'], ['geluGradOf', 'geluOut']];

describe('gemm epilogue extras (cpu)', () => {
  const problems: Problem[] = [
    { m: 5, n: 7, k: 3, ta: false, tb: true, batch: 1, alpha: 1, beta: 0, bias: true },
    { m: 4, n: 6, k: 9, ta: true, tb: false, batch: 3, alpha: 0.5, beta: 1, bias: false },
  ];
  it.each(problems.flatMap((p) => EXTRAS.map((e) => [JSON.stringify(p), e.join('+'), p, e] as const)))('%s with %s', (_n, _e, p, extras) => {
    const size = p.batch * p.m * p.n;
    const A = randn(p.batch * p.m * p.k, 1), B = randn(p.batch * p.k * p.n, 2), BIAS = randn(p.n, 3), C0 = randn(size, 4), X = randn(size, 5);
    const ref = reference(p, A, B, BIAS, C0, X, extras);
    tidy(() => {
      const f = (d: Float64Array) => tensor(d, [d.length], { dtype: 'float64' });
      const c = f(C0), x = f(X), g = zeros([size], { dtype: 'float64' });
      native.gemm(c.handle(), f(A).handle(), f(B).handle(), p.bias ? f(BIAS).handle() : null, p.m, p.n, p.k, p.ta, p.tb, p.alpha, p.beta,
        p.batch, p.m * p.k, p.k * p.n, p.m * p.n, extras.includes('residual') ? x.handle() : null,
        extras.includes('geluOut') ? g.handle() : null, extras.includes('geluGradOf') ? x.handle() : null);
      expectClose(c.toTypedArray() as Float64Array, ref.c, { atol: 1e-12, rtol: 1e-11 }, 'c');
      if (extras.includes('geluOut')) expectClose(g.toTypedArray() as Float64Array, ref.g, { atol: 1e-12, rtol: 1e-11 }, 'geluOut');
      else expect(Array.from(g.toTypedArray() as Float64Array).every((v) => v === 0)).toBe(true);
    });
  });

  it('rejects bad extras naming them', () => {
    tidy(() => {
      const b = (n: number, dtype: 'float32' | 'float64' = 'float32') => zeros([n], { dtype }).handle();
      const [c, a, bb] = [b(12), b(6), b(8)];
      const call = (...extras: unknown[]) => () => (native.gemm as unknown as (...x: unknown[]) => void)(
        c, a, bb, null, 3, 4, 2, false, false, 1, 0, 1, 0, 0, 0, ...extras);
      expect(call()).not.toThrow();
      expect(call(b(12), b(12), b(12))).not.toThrow();
      expect(call(b(11))).toThrow(/gemm: `residual` has 11 elements but the sizes and strides reach 12/);
      expect(call(null, b(12, 'float64'))).toThrow(/gemm: `geluOut` is float64 but `c` is float32/);
      expect(call(null, c)).toThrow(/gemm: `geluOut` shares a buffer with another argument/);
      const x = b(12);
      expect(call(x, x)).toThrow(/gemm: `geluOut` shares a buffer/);
      expect(call(null, null, 5)).toThrow(/gemm: expected a tensor buffer for `geluGradOf`/);
    });
  });
});

describe.skipIf(!cudaUsable)(`gemm epilogue extras (cuda) ${cudaSkipReason}`, () => {
  // The tensor-core tile paths with partial tiles and a batch, split K (few tiles, long K), and
  // the plain kernel (odd extents), in both transpose forms the models use; and where this GPU
  // has one, a shape whose short last wave splits only its rows (the extras offset to them).
  const problems: Problem[] = [
    { m: 200, n: 136, k: 72, ta: false, tb: true, batch: 1, alpha: 1, beta: 0, bias: true },
    { m: 130, n: 24, k: 48, ta: false, tb: false, batch: 2, alpha: 1, beta: 0, bias: false },
    { m: 64, n: 40, k: 2600, ta: true, tb: false, batch: 1, alpha: 1, beta: 0, bias: true },
    { m: 17, n: 33, k: 9, ta: false, tb: true, batch: 2, alpha: 0.5, beta: 1, bias: true },
    ...shortLastWaveShapes().map(([m, n, k]): Problem => ({ m, n, k, ta: false, tb: true, batch: 1, alpha: 1, beta: 0, bias: true,
      note: 'short last wave' })),
  ];
  describe.each(['wgmma', 'tma', 'mma', 'wmma', 'auto'] as const)('gemm kernel family %s', (family) => {
    const before = kernels().gemm;
    beforeAll(() => setKernel('gemm', family));
    afterAll(() => setKernel('gemm', before));
    it.each(problems.map((p) => [JSON.stringify(p), p] as const))('%s with every extra', (_n, p) => {
      for (const extras of EXTRAS) {
        const seed = freshSeed(), size = p.batch * p.m * p.n;
        const inputs = [rand32(p.batch * p.m * p.k, seed), rand32(p.batch * p.k * p.n, seed + 1), rand32(p.n, seed + 2), rand32(size, seed + 3), rand32(size, seed + 4)];
        expectParity(`gemm ${family} ${extras.join('+')} (seed ${seed})`, gemmRun(p, extras), inputs, ['c', 'geluOut']);
      }
    });
  });
});
