// Stochastic depth: dropPath and addDropPath (x + dropPath(branch), one pass) against plain-TS
// references with the same draws, gradients by finite differences, bad arguments through the TS
// API and the native sampleScale; on a GPU, the CUDA sampleScale against the CPU one (with and
// without base, 8-wide and scalar sample lengths, in place).
import { describe, expect, it } from 'vitest';

import { backward, requireGrad } from '../../lib/autograd/tape';
import { native } from '../../lib/binding';
import { Rng } from '../../lib/data/rng';
import { addDropPath, dropPath } from '../../lib/ops/drop_path';
import { sum } from '../../lib/ops/arith';
import { tidy } from '../../lib/tensor/scope';
import { empty, tensor, Tensor } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import { expectClose } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { type Run, expectParity, freshSeed, hostF, put, rand32 } from '../helpers/cuda_compare';

const stored = (a: Float64Array, dtype: DType): Float64Array => (dtype === 'float32' ? a.map(Math.fround) : a);
const vals = (t: Tensor) => Float64Array.from(t.toTypedArray() as Float64Array);

/** The factors drop path draws from a fresh Rng(seed): 0 or 1/(1 - rate), one per sample. */
function factors(seed: number, rate: number, samples: number, dtype: DType): number[] {
  const rng = new Rng(seed);
  const f = Array.from({ length: samples }, () => (rng.uniform() < 1 - rate ? 1 / (1 - rate) : 0));
  return dtype === 'float32' ? f.map(Math.fround) : f;
}

describe.each(['float32', 'float64'] as DType[])('drop path in %s', (dtype) => {
  const tol = dtype === 'float64' ? { atol: 1e-15, rtol: 1e-14 } : { atol: 1e-6, rtol: 1e-6 };

  it('dropPath scales or zeroes whole samples with the factors drawn in sample order', () => {
    tidy(() => {
      const [samples, per, rate] = [7, 13, 0.4];
      const X = stored(randn(samples * per, 1), dtype);
      const y = vals(dropPath(tensor(X, [samples, per], { dtype }), rate, samples, new Rng(5)));
      const f = factors(5, rate, samples, dtype);
      expect(f.some((v) => v === 0) && f.some((v) => v !== 0)).toBe(true);
      expectClose(y, X.map((v, i) => f[Math.floor(i / per)] * v), tol, 'dropPath');
    });
  });

  it('addDropPath is x + dropPath(branch) with the same draws, and leaves the rng where dropPath does', () => {
    tidy(() => {
      const shape = [4, 3, 10], n = 120, rate = 0.3;
      const X = stored(randn(n, 2), dtype), B = stored(randn(n, 3), dtype);
      const r1 = new Rng(11), r2 = new Rng(11);
      const y = vals(addDropPath(tensor(X, shape, { dtype }), tensor(B, shape, { dtype }), rate, 4, r1));
      dropPath(tensor(B, shape, { dtype }), rate, 4, r2);
      expect(r1.uniform()).toBe(r2.uniform());
      const f = factors(11, rate, 4, dtype);
      expectClose(y, X.map((v, i) => v + f[Math.floor(i / 30)] * B[i]), tol, 'addDropPath');
    });
  });
});

describe('drop path gradients', () => {
  it('dropPath and addDropPath match finite differences', () => {
    gradcheck((x) => dropPath(x, 0.3, 3, new Rng(9)), [{ data: randn(3 * 4, 2), shape: [3, 4] }]);
    gradcheck((x, b) => addDropPath(x, b, 0.5, 5, new Rng(4)), [{ data: randn(5 * 3, 6), shape: [5, 3] }, { data: randn(5 * 3, 7), shape: [5, 3] }]);
  });

  it('addDropPath passes the output gradient to x and scales it into branch', () => {
    tidy(() => {
      const X = randn(12, 1), B = randn(12, 2);
      const x = requireGrad(tensor(X, [6, 2], { dtype: 'float64' })), b = requireGrad(tensor(B, [6, 2], { dtype: 'float64' }));
      backward(sum(addDropPath(x, b, 0.5, 6, new Rng(3))));
      const f = factors(3, 0.5, 6, 'float64');
      expect(Array.from(vals(x.grad!))).toEqual(new Array(12).fill(1));
      expect(Array.from(vals(b.grad!))).toEqual(Array.from({ length: 12 }, (_, i) => f[Math.floor(i / 2)]));
    });
  });
});

describe('drop path errors', () => {
  const mk = (shape: number[], dtype: DType = 'float32') => tensor(new Float64Array(shape.reduce((p, d) => p * d, 1)), shape, { dtype });

  it('rejects bad arguments through the TS API, naming them', () => {
    tidy(() => {
      const rng = new Rng(1);
      expect(() => dropPath(mk([4, 2]), 1, 4, rng)).toThrow(/dropPath: expected a rate in \[0, 1\) for `rate` but got 1/);
      expect(() => dropPath(mk([4, 2]), NaN, 4, rng)).toThrow(/dropPath: .*`rate`/);
      expect(() => dropPath(mk([4, 2]), 0.1, 3, rng)).toThrow(/dropPath: 8 elements do not split into 3 samples/);
      expect(() => dropPath(mk([4, 2], 'int32'), 0.1, 4, rng)).toThrow(/dropPath: expected float32 or float64 for `x`/);
      expect(() => addDropPath(mk([4, 2]), mk([2, 4]), 0.1, 4, rng)).toThrow(/addDropPath: `branch` has shape \[2, 4\] but `x` has \[4, 2\]/);
      expect(() => addDropPath(mk([4, 2]), mk([4, 2], 'float64'), 0.1, 4, rng)).toThrow(/addDropPath: `branch` is float64 but `x` is float32/);
      expect(() => addDropPath(mk([4, 2]), null as unknown as Tensor, 0.1, 4, rng)).toThrow(/addDropPath: expected a Tensor for `branch`/);
      expect(() => addDropPath(mk([4, 2]), mk([4, 2]), -0.5, 4, rng)).toThrow(/addDropPath: expected a rate in \[0, 1\)/);
    });
  });

  it('rejects bad buffers straight through the native sampleScale', () => {
    tidy(() => {
      const f = (...args: unknown[]) => () => (native.sampleScale as (...a: unknown[]) => void)(...args);
      expect(f(mk([8]).handle(), mk([8]).handle(), mk([3]).handle(), null)).toThrow(/sampleScale: `s` has 3 factors, which do not split the 8 elements/);
      expect(f(mk([8]).handle(), mk([8]).handle(), mk([0]).handle(), null)).toThrow(/sampleScale: `s` has 0 factors/);
      expect(f(mk([8]).handle(), mk([8]).handle(), mk([2]).handle(), mk([7]).handle())).toThrow(/sampleScale: `base` has 7 elements/);
      expect(f(mk([8]).handle(), mk([8]).handle(), mk([2], 'float64').handle(), null)).toThrow(/sampleScale: `s` is float64 but `out` is float32/);
      expect(f(mk([8]).handle(), mk([9]).handle(), mk([2]).handle(), null)).toThrow(/sampleScale: `x` has 9 elements/);
      expect(f(mk([8]).handle(), 3, mk([2]).handle(), null)).toThrow(/sampleScale: expected a tensor buffer for `x`/);
    });
  });
});

describe.skipIf(!cudaUsable)(`sampleScale (cuda) ${cudaSkipReason}`, () => {
  // [x, s, base?] -> out, through the native op (base taken as the output buffer when inPlace).
  const run = (samples: number, withBase: boolean, inPlace: boolean): Run => (device, mode, [X, S, B]) => tidy(() => {
    const per = X.length / samples;
    const x = put(X, [samples, per], device, mode), s = put(S, [samples], device, mode);
    const base = withBase ? put(B, [samples, per], device, mode) : null;
    const out = inPlace && base ? base : empty([samples, per], { device, dtype: mode });
    native.sampleScale(out.handle(), x.handle(), s.handle(), base ? base.handle() : null);
    return [hostF(out)];
  });

  it.each([[4, 256], [3, 35], [128, 8], [5, 1]])('samples %i of %i elements against the CPU, with and without base, in place', (samples, per) => {
    const seed = freshSeed();
    const X = rand32(samples * per, seed), S = rand32(samples, seed + 1), B = rand32(samples * per, seed + 2);
    for (const [withBase, inPlace] of [[false, false], [true, false], [true, true]]) {
      expectParity(`sampleScale ${samples}x${per} base ${withBase} in place ${inPlace} (seed ${seed})`, run(samples, withBase, inPlace), [X, S, B], ['out']);
    }
  });
});
