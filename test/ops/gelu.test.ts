// gelu: forward against a float64 reference built on a series erf accurate to ~1e-16 (float64
// and float32), known values, the tails, the derivative, gradients by finite differences, and bad
// arguments through the TS API and the native functions; on a GPU, the CUDA kernels against the
// CPU ones.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { gelu, geluGrad } from '../../lib/ops/gelu';
import { tidy } from '../../lib/tensor/scope';
import { backward, requireGrad } from '../../lib/autograd/tape';
import { empty, tensor, Tensor } from '../../lib/tensor/tensor';
import { bf16BitsToFloat, type DType } from '../../lib/tensor/dtype';
import type { Device } from '../../lib/tensor/device';
import { expectClose, relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { erf, normalCdf, refGelu, refGeluDeriv } from '../helpers/gelu_ref';
import { gradcheck, randn } from '../helpers/gradcheck';
import { type Run, freshSeed, rand32, put, hostF, expectParity } from '../helpers/cuda_compare';

const stored = (a: Float64Array, dtype: DType): Float64Array => (dtype === 'float32' ? a.map(Math.fround) : a);

describe('gelu forward', () => {
  it('the reference erf matches known values', () => {
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(erf(1)).toBeCloseTo(0.8427007929497149, 14);
    expect(erf(-2.5)).toBeCloseTo(-0.9995930479825550, 14);
    expect(erf(4)).toBeCloseTo(0.9999999845827421, 14);
  });

  it.each([[[1]], [[7]], [[3, 5]], [[2, 3, 17]], [[40001]]])('matches the float64 reference in float64 and float32, shape %j', (shape) => {
    const n = shape.reduce((p, d) => p * d, 1);
    const X = randn(n, n, 3);
    for (const dtype of ['float64', 'float32'] as DType[]) {
      tidy(() => {
        const x = stored(X, dtype);
        const y = gelu(tensor(x, shape, { dtype }));
        expect(y.shape).toEqual(shape);
        // 1 + erf(x/√2) cancels in the negative tail, in the kernel and in the reference alike:
        // there the error is absolute, about |x|·2^-52 (float64).
        const tol = dtype === 'float64' ? { atol: 2e-14, rtol: 1e-13 } : { atol: 1e-7, rtol: 2e-6 };
        expectClose(y.toTypedArray() as Float64Array, Array.from(x, refGelu), tol, `gelu ${dtype}`);
      });
    }
  });

  it('gives known values and the right tails (erf form, not tanh)', () => {
    tidy(() => {
      const xs = [0, 1, -1, 2, -3, 0.5, 10, -10, 40, -40];
      const y = gelu(tensor(xs, [xs.length], { dtype: 'float64' })).toTypedArray() as Float64Array;
      expect(y[0]).toBe(0);
      expect(y[1]).toBeCloseTo(0.8413447460685429, 15);
      expect(y[2]).toBeCloseTo(-0.15865525393145707, 15);
      expect(y[3]).toBeCloseTo(1.9544997361036416, 15);
      expect(y[4]).toBeCloseTo(-0.004049694094890, 13); // the tanh approximation gives -0.0036374
      expect(y[6]).toBe(10);
      expect(Math.abs(y[7])).toBeLessThan(1e-20);
      expect(y[8]).toBe(40);
      expect(y[9]).toBe(-0);
    });
  });
});

describe('gelu backward', () => {
  it('matches the analytic derivative in float64 and float32', () => {
    const X = randn(999, 5, 3), DY = randn(999, 6);
    for (const dtype of ['float64', 'float32'] as DType[]) {
      tidy(() => {
        const x = stored(X, dtype), dy = stored(DY, dtype);
        const dx = geluGrad(tensor(dy, [999], { dtype }), tensor(x, [999], { dtype }));
        const tol = dtype === 'float64' ? { atol: 1e-14, rtol: 1e-12 } : { atol: 1e-6, rtol: 1e-5 };
        expectClose(dx.toTypedArray() as Float64Array, Array.from(x, (v, i) => dy[i] * refGeluDeriv(v)), tol, `geluGrad ${dtype}`);
      });
    }
  });

  it.each([[[1]], [[7]], [[3, 5]], [[2, 3, 4]]])('matches finite differences for shape %j', (shape) => {
    const n = shape.reduce((p, d) => p * d, 1);
    gradcheck((x) => gelu(x), [{ data: randn(n, 17 + n, 2), shape }]);
  });

  it('works in place through the native function (y may alias x, dx may alias dy)', () => {
    tidy(() => {
      const X = randn(50, 8);
      const x = tensor(X, [50], { dtype: 'float64' });
      native.gelu(x.handle(), x.handle());
      expectClose(x.toTypedArray() as Float64Array, Array.from(X, refGelu), { atol: 1e-15, rtol: 1e-13 }, 'in-place gelu');
      const xs = tensor(X, [50], { dtype: 'float64' }), dy = tensor(new Float64Array(50).fill(2), [50], { dtype: 'float64' });
      native.geluBackward(dy.handle(), dy.handle(), xs.handle());
      expectClose(dy.toTypedArray() as Float64Array, Array.from(X, (v) => 2 * refGeluDeriv(v)), { atol: 1e-14, rtol: 1e-12 }, 'in-place backward');
    });
  });
});

describe('gelu errors', () => {
  const mk = (n: number, dtype: DType = 'float32') => tensor(new Float64Array(n), [n], { dtype });

  it('rejects bad arguments through the TS API', () => {
    tidy(() => {
      expect(() => gelu(mk(3, 'int32'))).toThrow(/gelu: expected float32 or float64 for `x`/);
      expect(() => gelu([1, 2] as unknown as Tensor)).toThrow(/gelu: expected a Tensor for `x`/);
      const gone = mk(3);
      gone.dispose();
      expect(() => gelu(gone)).toThrow(/gelu: `x` was used after dispose/);
      expect(gelu(mk(0)).shape).toEqual([0]);
    });
  });

  it('rejects bad buffers straight through the native functions', () => {
    tidy(() => {
      const f = (...args: unknown[]) => () => (native.gelu as (...a: unknown[]) => void)(...args);
      const b = (...args: unknown[]) => () => (native.geluBackward as (...a: unknown[]) => void)(...args);
      expect(f(mk(4).handle(), mk(5).handle())).toThrow(/gelu: `y` has 4 elements/);
      expect(f(mk(4).handle(), mk(4, 'float64').handle())).toThrow(/gelu: `y` is float32 but `x` is float64/);
      expect(f(mk(4, 'int32').handle(), mk(4, 'int32').handle())).toThrow(TypeError);
      expect(f(mk(4).handle(), 3)).toThrow(/gelu: expected a tensor buffer for `x`/);
      expect(f(mk(4).handle())).toThrow(TypeError);
      const gone = mk(4);
      const h = gone.handle();
      gone.dispose();
      expect(f(mk(4).handle(), h)).toThrow(/gelu: `x` was disposed/);
      expect(b(mk(4).handle(), mk(3).handle(), mk(4).handle())).toThrow(/geluBackward: `dy` has 3 elements/);
      expect(b(mk(5).handle(), mk(4).handle(), mk(4).handle())).toThrow(RangeError);
      expect(b(mk(4).handle(), mk(4, 'float64').handle(), mk(4).handle())).toThrow(TypeError);
      expect(b(mk(4).handle(), mk(4).handle(), h)).toThrow(/geluBackward: `x` was disposed/);
    });
  });
});

// The CUDA kernels against the CPU ones on fresh random inputs every run (the seed is in each
// label). float32: relative L2 error <= 1e-5. bfloat16 (inputs cast on the device): at most twice
// the error of the float32 CPU op run on bf16-rounded inputs with its output rounded to bf16 too
// (a bf16 op stores bf16, and near gelu's minimum the output rounding dominates), plus one bf16
// step on one element (2^-7/√n), as the two devices' fp32 results may round to neighbouring values.
describe.skipIf(!cudaUsable)(`gelu (cuda) ${cudaSkipReason}`, () => {


  const forward: Run = (device, mode, [X]) => tidy(() => {
    const x = put(X, [X.length], device, mode), y = empty([X.length], { device, dtype: mode });
    native.gelu(y.handle(), x.handle());
    return [hostF(y)];
  });
  const backwardRun: Run = (device, mode, [DY, X]) => tidy(() => {
    const dx = empty([X.length], { device, dtype: mode });
    native.geluBackward(dx.handle(), put(DY, [X.length], device, mode).handle(), put(X, [X.length], device, mode).handle());
    return [hostF(dx)];
  });

  it.each([[1], [7], [31], [1000], [40001], [300000]])('forward and backward n=%i', (n) => {
    const seed = freshSeed();
    const X = rand32(n, seed, 3), DY = rand32(n, seed + 1);
    expectParity(`gelu (seed ${seed})`, forward, [X], ['y']);
    expectParity(`geluBackward (seed ${seed})`, backwardRun, [DY, X], ['dx']);
  });

  // cuda/gelu_math.cuh's contract: relative error below 1e-6 (the derivative: relative to
  // Φ(x) + |x·φ(x)|), the negative tail included; below ~1e-38 the results may flush to zero.
  // Every bfloat16 value with |x| <= 25 (the gemm epilogues' inputs) and random floats, against
  // Φ from a tail-accurate float64 erfc.
  it('is within 1e-6 of the exact gelu and derivative on every bfloat16 value and on random floats', () => {
    const seed = freshSeed();
    const xs: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = bf16BitsToFloat(bits);
      if (Math.abs(v) <= 25) xs.push(v);
    }
    const uniform = rand32(100000, seed, 1).map((v) => Math.fround(Math.tanh(v) * 16));  // spread over [-16, 16]
    const small = rand32(20000, seed + 1, 1).map((v) => Math.fround(Math.sign(v) * 2 ** (-30 * Math.abs(v))));
    const X = Float64Array.from([...xs, ...uniform, ...small]);
    const [y] = forward('cuda', 'float32', [X]);
    const [d] = backwardRun('cuda', 'float32', [new Float64Array(X.length).fill(1), X]);
    let worstY = 0, worstD = 0, atY = 0, atD = 0;
    for (let i = 0; i < X.length; i++) {
      const x = X[i], cdf = normalCdf(x), pdf = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
      const ey = Math.max(0, Math.abs(y[i] - x * cdf) - 1e-37) / Math.abs(x * cdf || 1);
      const ed = Math.max(0, Math.abs(d[i] - (cdf + x * pdf)) - 1e-37) / (cdf + Math.abs(x * pdf));
      if (!(ey <= worstY)) [worstY, atY] = [ey, x];
      if (!(ed <= worstD)) [worstD, atD] = [ed, x];
    }
    expect(worstY, `gelu: worst relative error at x = ${atY} (seed ${seed})`).toBeLessThan(1e-6);
    expect(worstD, `gelu': worst relative error at x = ${atD} (seed ${seed})`).toBeLessThan(1e-6);
  });

  it('gives the erf values in the tails and at known points', () => {
    tidy(() => {
      const xs = [0, 1, -1, 2, -3, 0.5, 10, -10, 40, -40];
      const y = gelu(tensor(xs, [xs.length], { device: 'cuda' }));
      const cpu = gelu(tensor(xs, [xs.length])).toTypedArray() as Float32Array;
      expectClose(y.toTypedArray() as Float32Array, cpu, { atol: 1e-7, rtol: 1e-6 }, 'gelu known values');
      expect((y.toTypedArray() as Float32Array)[4]).toBeCloseTo(-0.004049694094890, 6); // not tanh's -0.0036374
    });
  });

  it('works in place on cuda (y may alias x, dx may alias dy)', () => {
    const seed = freshSeed(), n = 777;
    const X = rand32(n, seed, 2), DY = rand32(n, seed + 1);
    tidy(() => {
      const x = tensor(X, [n], { dtype: 'float32', device: 'cuda' });
      native.gelu(x.handle(), x.handle());
      expect(relL2(hostF(x), forward('cpu', 'float32', [X])[0]), `in-place gelu (seed ${seed})`).toBeLessThanOrEqual(1e-5);
      const dy = tensor(DY, [n], { dtype: 'float32', device: 'cuda' }), xs = tensor(X, [n], { dtype: 'float32', device: 'cuda' });
      native.geluBackward(dy.handle(), dy.handle(), xs.handle());
      expect(relL2(hostF(dy), backwardRun('cpu', 'float32', [DY, X])[0]), `in-place backward (seed ${seed})`).toBeLessThanOrEqual(1e-5);
    });
  });

  it('runs through the TS API and the tape on cuda, matching the CPU gradient', () => {
    const seed = freshSeed(), n = 60;
    const X = rand32(n, seed, 2), DY = rand32(n, seed + 1);
    const run = (device: Device) => tidy(() => {
      const x = requireGrad(tensor(X, [3, 4, 5], { dtype: 'float32', device }));
      const y = gelu(x);
      backward(y, tensor(DY, [3, 4, 5], { dtype: 'float32', device }));
      const out = [hostF(y), hostF(x.grad!)];
      x.grad!.dispose();
      return out;
    });
    const cpu = run('cpu'), gpu = run('cuda');
    expect(relL2(gpu[0], cpu[0]), `y (seed ${seed})`).toBeLessThanOrEqual(1e-5);
    expect(relL2(gpu[1], cpu[1]), `dx (seed ${seed})`).toBeLessThanOrEqual(1e-5);
  });

  it('rejects device mixes and unsupported dtypes on cuda', () => {
    tidy(() => {
      const cu = (n: number, dtype: DType = 'float32') => empty([n], { device: 'cuda', dtype });
      const host = (n: number) => empty([n]);
      expect(() => native.gelu(cu(3).handle(), host(3).handle())).toThrow(/gelu: `y` is on cuda but `x` is on cpu/);
      expect(() => native.gelu(cu(3, 'float64').handle(), cu(3, 'float64').handle())).toThrow(/gelu: `x` is float64, which cuda kernels/);
      expect(() => gelu(cu(3, 'float64'))).toThrow(/gelu: expected float32 or bfloat16 for `x` on cuda but got float64/);
      expect(() => native.geluBackward(cu(3).handle(), host(3).handle(), cu(3).handle())).toThrow(/geluBackward: `dy` is on cpu but `x` is on cuda/);
      expect(() => native.geluBackward(cu(3).handle(), cu(4).handle(), cu(3).handle())).toThrow(/geluBackward: `dy` has 4 elements/);
      expect(gelu(empty([0], { device: 'cuda' })).shape).toEqual([0]);
    });
  });
});
