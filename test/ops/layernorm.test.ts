// layerNorm: forward against a float64 two-pass reference (float32 and float64, odd sizes, both
// eps values, rows with a large mean), the saved mean/rstd, gradients by finite differences, and
// bad arguments through the TS API and straight through the native functions; on a GPU, the CUDA
// kernels against the CPU ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { backward, requireGrad } from '../../lib/autograd/tape';
import { kernels, setKernel } from '../../lib/backends';
import { native } from '../../lib/binding';
import { add } from '../../lib/ops/arith';
import { layerNorm } from '../../lib/ops/layernorm';
import { tidy } from '../../lib/tensor/scope';
import { empty, liveTensorCount, tensor, Tensor } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import type { Device } from '../../lib/tensor/device';
import { expectClose, relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { type Run, freshSeed, rand32, put, hostF, expectParity, roundBf16 } from '../helpers/cuda_compare';

interface LnRef { y: Float64Array; mean: Float64Array; rstd: Float64Array }

function refLayerNorm(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, c: number, eps: number): LnRef {
  const rows = x.length / c;
  const y = new Float64Array(x.length), mean = new Float64Array(rows), rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += x[r * c + j];
    const m = s / c;
    let v = 0;
    for (let j = 0; j < c; j++) v += (x[r * c + j] - m) ** 2;
    const rs = 1 / Math.sqrt(v / c + eps);
    for (let j = 0; j < c; j++) y[r * c + j] = (x[r * c + j] - m) * rs * w[j] + b[j];
    mean[r] = m;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

/** Values as stored in dtype (float32 rounding), so references start from the same inputs. */
const stored = (a: Float64Array, dtype: DType): Float64Array => (dtype === 'float32' ? a.map(Math.fround) : a);

const shapes: number[][] = [[1, 1], [4, 1], [3, 5], [2, 7, 13], [37, 64], [4, 3, 257], [1, 768], [300, 16]];

describe('layerNorm forward', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const eps of [1e-5, 1e-6]) {
      it.each(shapes.map((s) => [s.join('x'), s]))(`${dtype}, eps ${eps}, shape %s`, (_name, shape) => {
        tidy(() => {
          const c = shape[shape.length - 1];
          const n = shape.reduce((p, d) => p * d, 1);
          const X = stored(randn(n, n + c, 2).map((v, i) => v + (i % 3)), dtype);
          const W = stored(randn(c, 11).map((v) => 1 + 0.3 * v), dtype), B = stored(randn(c, 12, 0.5), dtype);
          const y = layerNorm(tensor(X, shape, { dtype }), tensor(W, [c], { dtype }), tensor(B, [c], { dtype }), eps);
          expect(y.shape).toEqual(shape);
          expect(y.dtype).toBe(dtype);
          const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 2e-5, rtol: 1e-4 };
          expectClose(y.toTypedArray() as Float64Array, refLayerNorm(X, W, B, c, eps).y, tol, `layerNorm ${dtype}`);
        });
      });
    }
  }

  it('writes the saved per-row mean and rstd', () => {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      tidy(() => {
        const rows = 9, c = 33;
        const X = stored(randn(rows * c, 3, 3).map((v, i) => v + Math.floor(i / c)), dtype);
        const W = stored(randn(c, 4), dtype), B = stored(randn(c, 5), dtype);
        const y = Tensor.allocate([rows, c], dtype, 'cpu');
        const mean = Tensor.allocate([rows], dtype, 'cpu'), rstd = Tensor.allocate([rows], dtype, 'cpu');
        native.layernorm(y.handle(), mean.handle(), rstd.handle(), tensor(X, [rows, c], { dtype }).handle(),
          tensor(W, [c], { dtype }).handle(), tensor(B, [c], { dtype }).handle(), rows, c, 1e-6);
        const ref = refLayerNorm(X, W, B, c, 1e-6);
        const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : { atol: 1e-6, rtol: 1e-6 };
        expectClose(mean.toTypedArray() as Float64Array, ref.mean, tol, 'mean');
        expectClose(rstd.toTypedArray() as Float64Array, ref.rstd, tol, 'rstd');
      });
    }
  });

  it('stays accurate on rows with a large mean (variance from centred values)', () => {
    // float32: mean 1e4, spread 0.05 (x² ~ 1e8 would lose everything in float32 E[x²] - E[x]²).
    // float64: mean 1e8, spread 1 (x² ~ 1e16 loses the variance in float64 the same way).
    for (const [dtype, offset, spread] of [['float32', 1e4, 0.05], ['float64', 1e8, 1]] as [DType, number, number][]) {
      for (const eps of [1e-5, 1e-6]) {
        tidy(() => {
          const rows = 16, c = 96;
          const X = stored(randn(rows * c, 21, spread).map((v, i) => v + offset * (1 + Math.floor(i / c) / rows)), dtype);
          const W = new Float64Array(c).fill(1), B = new Float64Array(c);
          const y = layerNorm(tensor(X, [rows, c], { dtype }), tensor(W, [c], { dtype }), tensor(B, [c], { dtype }), eps);
          const ref = refLayerNorm(X, W, B, c, eps).y;
          const err = relL2(y.toTypedArray() as Float64Array, ref);
          expect(err, `${dtype} eps ${eps} relative L2 error`).toBeLessThan(dtype === 'float64' ? 1e-9 : 1e-4);
        });
      }
    }
  });
});

describe('layerNorm backward', () => {
  it.each([[[3, 5]], [[2, 3, 7]], [[1, 1]], [[4, 2]], [[5, 16]]])('matches finite differences for shape %j', (shape) => {
    const c = shape[shape.length - 1];
    const n = shape.reduce((p, d) => p * d, 1);
    for (const eps of [1e-5, 1e-6]) {
      gradcheck((x, w, b) => layerNorm(x, w, b, eps), [
        { data: randn(n, 31 + n), shape },
        { data: randn(c, 32).map((v) => 1 + 0.5 * v), shape: [c] },
        { data: randn(c, 33), shape: [c] },
      ]);
    }
  });

  it('passes gradients only to the inputs that need them, accumulates them, and keeps the tensor count flat', () => {
    const rows = 12, c = 5;
    const X = randn(rows * c, 1), W = randn(c, 2), S = randn(rows * c, 9);
    const x = tensor(X, [rows, c], { dtype: 'float64' });
    const w = requireGrad(tensor(W, [c], { dtype: 'float64' }));
    const b = tensor(randn(c, 3), [c], { dtype: 'float64' });
    const before = liveTensorCount('cpu');
    for (let step = 0; step < 3; step++) {
      tidy(() => backward(layerNorm(x, w, b, 1e-5), tensor(S, [rows, c], { dtype: 'float64' })));
    }
    expect(x.grad).toBeNull();
    expect(b.grad).toBeNull();
    expect(liveTensorCount('cpu')).toBe(before + 1); // w.grad
    // dweight = Σ_rows dy · x̂, three times.
    const xhat = refLayerNorm(X, new Float64Array(c).fill(1), new Float64Array(c), c, 1e-5).y;
    const dw = new Float64Array(c);
    for (let i = 0; i < rows * c; i++) dw[i % c] += 3 * S[i] * xhat[i];
    expectClose(w.grad!.toTypedArray() as Float64Array, dw, { atol: 1e-12, rtol: 1e-10 }, 'accumulated dweight');
    w.grad!.dispose();
    [x, w, b].forEach((t) => t.dispose());
  });
});

describe('layerNorm backward into a collected gradient (the residual stream)', () => {
  it('adds dx into dx already there when told to (native accumulate)', () => {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      tidy(() => {
        const rows = 7, c = 19;
        const X = stored(randn(rows * c, 41, 2), dtype), W = stored(randn(c, 42), dtype), DY = stored(randn(rows * c, 43), dtype);
        const DX0 = stored(randn(rows * c, 44), dtype);
        const st = dtype === 'float64' ? 'float64' : 'float32';
        const x = tensor(X, [rows, c], { dtype }), w = tensor(W, [c], { dtype }), dy = tensor(DY, [rows, c], { dtype });
        const mean = Tensor.allocate([rows], st, 'cpu'), rstd = Tensor.allocate([rows], st, 'cpu');
        native.layernorm(Tensor.allocate([rows, c], dtype, 'cpu').handle(), mean.handle(), rstd.handle(), x.handle(), w.handle(),
          tensor(new Float64Array(c), [c], { dtype }).handle(), rows, c, 1e-6);
        const grads = (accumulate: boolean) => {
          const dx = tensor(accumulate ? DX0 : new Float64Array(rows * c), [rows, c], { dtype });
          const dw = Tensor.allocate([c], dtype, 'cpu'), db = Tensor.allocate([c], dtype, 'cpu');
          native.layernormBackward(dx.handle(), dw.handle(), db.handle(), dy.handle(), x.handle(), mean.handle(), rstd.handle(),
            w.handle(), rows, c, accumulate);
          return [dx, dw, db].map((t) => Float64Array.from(t.toTypedArray() as Float64Array));
        };
        const [dx, dw, db] = grads(false), [dxAcc, dwAcc, dbAcc] = grads(true);
        const want = stored(dx.map((v, i) => v + DX0[i]), dtype);
        const tol = dtype === 'float64' ? { atol: 1e-13, rtol: 1e-12 } : { atol: 1e-6, rtol: 1e-6 };
        expectClose(dxAcc, want, tol, `accumulated dx ${dtype}`);
        expect(Array.from(dwAcc)).toEqual(Array.from(dw)); // dgamma and dbeta are written, not added
        expect(Array.from(dbAcc)).toEqual(Array.from(db));
      });
    }
  });

  it('takes the residual gradient through the tape without a separate add, with the same gradients', () => {
    // y = x + layerNorm(x)·s: the add's gradient for x is collected first (the add comes later in
    // the forward), then the layerNorm rule adds its dx into it.
    const rows = 6, c = 8;
    const X = randn(rows * c, 51), W = randn(c, 52).map((v) => 1 + 0.5 * v), B = randn(c, 53);
    const f = (x: Tensor, w: Tensor, b: Tensor) => add(x, layerNorm(x, w, b, 1e-5));
    gradcheck(f, [{ data: X, shape: [rows, c] }, { data: W, shape: [c] }, { data: B, shape: [c] }]);
    const binary = native.binary;
    let adds = 0;
    (native as { binary: typeof binary }).binary = (...args: Parameters<typeof binary>) => {
      adds++;
      return binary(...args);
    };
    try {
      tidy(() => {
        const x = requireGrad(tensor(X, [rows, c], { dtype: 'float64' }));
        const y = f(x, tensor(W, [c], { dtype: 'float64' }), tensor(B, [c], { dtype: 'float64' }));
        adds = 0;
        backward(y, tensor(randn(rows * c, 54), [rows, c], { dtype: 'float64' }));
        expect(adds, 'binary kernel calls in the backward').toBe(0);
        x.grad!.dispose();
      });
    } finally {
      (native as { binary: typeof binary }).binary = binary;
    }
  });
});

describe('layerNorm errors', () => {
  const mk = (shape: number[], dtype: DType = 'float32') => tensor(new Float64Array(shape.reduce((p, d) => p * d, 1)), shape, { dtype });

  it('rejects bad arguments through the TS API', () => {
    tidy(() => {
      const x = mk([4, 6]), w = mk([6]), b = mk([6]);
      expect(() => layerNorm(x, mk([5]), b, 1e-5)).toThrow(RangeError);
      expect(() => layerNorm(x, w, mk([6, 1]), 1e-5)).toThrow(/layerNorm: expected shape \[6\] for `bias`/);
      expect(() => layerNorm(mk([4, 0]), mk([0]), mk([0]), 1e-5)).toThrow(RangeError);
      expect(() => layerNorm(mk([4, 6], 'int32'), mk([6], 'int32'), mk([6], 'int32'), 1e-5)).toThrow(TypeError);
      expect(() => layerNorm(x, mk([6], 'float64'), b, 1e-5)).toThrow(/layerNorm: `weight` is float64/);
      expect(() => layerNorm(x, w, b, -1)).toThrow(RangeError);
      expect(() => layerNorm(x, w, b, NaN)).toThrow(TypeError);
      expect(() => layerNorm(x, w, b, Infinity)).toThrow(RangeError);
      expect(() => layerNorm(x, w, null as unknown as Tensor, 1e-5)).toThrow(/layerNorm: expected a Tensor for `bias`/);
      const gone = mk([4, 6]);
      gone.dispose();
      expect(() => layerNorm(gone, w, b, 1e-5)).toThrow(/layerNorm: `x` was used after dispose/);
    });
  });

  it('rejects bad buffers and sizes straight through the native functions', () => {
    tidy(() => {
      const h = (shape: number[], dtype: DType = 'float32') => mk(shape, dtype).handle();
      const [y, m, r, x, w, b] = [h([4, 6]), h([4]), h([4]), h([4, 6]), h([6]), h([6])];
      const fwd = (...args: unknown[]) => () => (native.layernorm as (...a: unknown[]) => void)(...args);
      expect(fwd(y, m, r, x, w, b, 4, 6, 1e-5)).not.toThrow();
      expect(fwd(y, m, r, x, w, b, 4, 7, 1e-5)).toThrow(RangeError);
      expect(fwd(y, m, r, x, w, b, 5, 6, 1e-5)).toThrow(/layernorm: `x` has 24 elements/);
      expect(fwd(y, h([3]), r, x, w, b, 4, 6, 1e-5)).toThrow(/layernorm: `mean`/);
      expect(fwd(y, m, h([5]), x, w, b, 4, 6, 1e-5)).toThrow(/layernorm: `rstd`/);
      expect(fwd(y, m, r, x, h([5]), b, 4, 6, 1e-5)).toThrow(/layernorm: `gamma`/);
      expect(fwd(y, m, r, x, w, h([7]), 4, 6, 1e-5)).toThrow(/layernorm: `beta`/);
      expect(fwd(h([4, 5]), m, r, x, w, b, 4, 6, 1e-5)).toThrow(/layernorm: `y`/);
      expect(fwd(y, m, r, x, w, b, 4, 0, 1e-5)).toThrow(RangeError);
      expect(fwd(y, m, r, x, w, b, -1, 6, 1e-5)).toThrow(RangeError);
      expect(fwd(y, m, r, x, w, b, 2 ** 40, 2 ** 40, 1e-5)).toThrow(RangeError);
      expect(fwd(y, m, r, x, w, b, 4.5, 6, 1e-5)).toThrow(TypeError);
      expect(fwd(y, m, r, x, w, b, 4, 6, -1)).toThrow(/layernorm: `eps`/);
      expect(fwd(y, m, r, x, w, b, 4, 6, 'a')).toThrow(TypeError);
      expect(fwd(y, m, r, x, w, h([6], 'float64'), 4, 6, 1e-5)).toThrow(/layernorm: `beta` is float64/);
      expect(fwd(h([4, 6], 'int32'), h([4], 'int32'), h([4], 'int32'), h([4, 6], 'int32'), h([6], 'int32'), h([6], 'int32'), 4, 6, 1e-5)).toThrow(TypeError);
      expect(fwd(x, m, r, x, w, b, 4, 6, 1e-5)).toThrow(/layernorm: `y` and `x` are the same buffer/);
      expect(fwd(y, m, m, x, w, b, 4, 6, 1e-5)).toThrow(/same buffer/);
      expect(fwd(y, m, r, {}, w, b, 4, 6, 1e-5)).toThrow(/layernorm: expected a tensor buffer for `x`/);
      expect(fwd(y, m, r, x, w, b, 4, 6)).toThrow(TypeError);
      const gone = mk([4, 6]);
      const goneH = gone.handle();
      gone.dispose();
      expect(fwd(y, m, r, goneH, w, b, 4, 6, 1e-5)).toThrow(/layernorm: `x` was disposed/);

      const [dx, dw, db, dy] = [h([4, 6]), h([6]), h([6]), h([4, 6])];
      const bwd = (...args: unknown[]) => () => (native.layernormBackward as (...a: unknown[]) => void)(...args);
      expect(bwd(dx, dw, db, dy, x, m, r, w, 4, 6)).not.toThrow();
      expect(bwd(dx, dw, db, dy, x, m, r, w, 4, 5)).toThrow(RangeError);
      expect(bwd(dx, dw, db, h([4, 5]), x, m, r, w, 4, 6)).toThrow(/layernormBackward: `dy`/);
      expect(bwd(dx, h([5]), db, dy, x, m, r, w, 4, 6)).toThrow(/layernormBackward: `dgamma`/);
      expect(bwd(dx, dw, h([5]), dy, x, m, r, w, 4, 6)).toThrow(/layernormBackward: `dbeta`/);
      expect(bwd(dx, dw, db, dy, x, h([3]), r, w, 4, 6)).toThrow(/layernormBackward: `mean`/);
      expect(bwd(dx, dw, db, dy, x, m, r, h([4, 6], 'float64'), 4, 6)).toThrow(TypeError);
      expect(bwd(dy, dw, db, dy, x, m, r, w, 4, 6)).toThrow(/layernormBackward: `dx` and `dy` are the same buffer/);
      expect(bwd(dx, dw, dw, dy, x, m, r, w, 4, 6)).toThrow(/same buffer/);
      expect(bwd(dx, dw, db, dy, x, m, r, undefined, 4, 6)).toThrow(TypeError);
      expect(bwd(dx, dw, db, dy, x, m, r, w, 4, 6, true)).not.toThrow();
      expect(bwd(dx, dw, db, dy, x, m, r, w, 4, 6, 1)).toThrow(/layernormBackward: expected a boolean for `accumulate`/);
      // the statistics are float32 for float32 x, float64 for float64 x
      expect(fwd(y, h([4], 'float64'), r, x, w, b, 4, 6, 1e-5)).toThrow(/layernorm: `mean` is float64 but float32 was expected/);
      expect(bwd(dx, dw, db, dy, x, m, h([4], 'float64'), w, 4, 6)).toThrow(/layernormBackward: `rstd` is float64 but float32 was expected/);
      const [y64, x64, w64, b64] = [h([4, 6], 'float64'), h([4, 6], 'float64'), h([6], 'float64'), h([6], 'float64')];
      expect(fwd(y64, h([4], 'float64'), h([4], 'float64'), x64, w64, b64, 4, 6, 1e-5)).not.toThrow();
      expect(fwd(y64, m, h([4], 'float64'), x64, w64, b64, 4, 6, 1e-5)).toThrow(/layernorm: `mean` is float32 but float64 was expected/);
    });
  });
});

// The CUDA kernels against the CPU ones on fresh random inputs every run (the seed is in each
// label). float32: relative L2 error <= 1e-5. bfloat16 (inputs cast on the device): at most twice
// the error of the float32 CPU op run on bf16-rounded inputs with its outputs rounded to bf16 too
// (a bf16 op stores bf16: for outputs that average many inputs, such as mean and the normalised y,
// that output rounding and not the input rounding is most of the error), plus one bf16 step on one
// element (2^-7/√n), as the two devices' fp32 results may round to neighbouring bf16 values.
describe.skipIf(!cudaUsable)(`layerNorm (cuda) ${cudaSkipReason}`, () => {


  // The statistics are float32 whatever x's dtype.
  const forward = (rows: number, c: number, eps: number): Run => (device, mode, [X, W, B]) => tidy(() => {
    const o = { device, dtype: mode };
    const y = empty([rows, c], o), mean = empty([rows], { device }), rstd = empty([rows], { device });
    native.layernorm(y.handle(), mean.handle(), rstd.handle(), put(X, [rows, c], device, mode).handle(),
      put(W, [c], device, mode).handle(), put(B, [c], device, mode).handle(), rows, c, eps);
    return [hostF(y), hostF(mean), hostF(rstd)];
  });

  // M and R (float32 statistics) are not among the inputs, so the bf16 budget rounds only dy, x,
  // gamma and, with DX0 (accumulate: dx = DX0 + ...), the gradient added into.
  const backwardRun = (rows: number, c: number, M: Float64Array, R: Float64Array): Run => (device, mode, [DY, X, W, DX0]) => tidy(() => {
    const o = { device, dtype: mode };
    const dx = DX0 ? put(DX0, [rows, c], device, mode) : empty([rows, c], o), dw = empty([c], o), db = empty([c], o);
    native.layernormBackward(dx.handle(), dw.handle(), db.handle(), put(DY, [rows, c], device, mode).handle(),
      put(X, [rows, c], device, mode).handle(), put(M, [rows], device, 'float32').handle(), put(R, [rows], device, 'float32').handle(),
      put(W, [c], device, mode).handle(), rows, c, DX0 !== undefined);
    return [hostF(dx), hostF(dw), hostF(db)];
  });

  // The saved mean against the CPU's in both modes (statistics are float32 either way; bf16 runs
  // against the CPU on the bf16-rounded inputs). A float32 sum of C terms in any order is within
  // C·2^-24·Σ|x| of the exact one, so two means differ by at most 2·C·2^-24·mean|x|: a bound on
  // the values averaged, not on the mean itself, which for zero-mean rows sits near 0 where a
  // relative bound fails on summation order alone. An element left out moves the mean by about
  // mean|x| / C, 2^23 / C² times the bound (8x at C = 1032, the widest case here); a wrong divisor
  // shows in rstd, which stays under the relative check.
  function expectMeanClose(label: string, run: Run, c: number, [X, W, B]: Float64Array[]): void {
    const meanAbs = X.reduce((a, v) => a + Math.abs(v), 0) / Math.max(1, X.length);
    const bound = 2 * c * 2 ** -24 * meanAbs;
    const worst = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    const cpu = run('cpu', 'float32', [X, W, B])[1], gpu = run('cuda', 'float32', [X, W, B])[1];
    const cpuRounded = run('cpu', 'float32', [X, W, B].map(roundBf16))[1], bf = run('cuda', 'bfloat16', [X, W, B])[1];
    expect(worst(gpu, cpu), `${label} mean float32`).toBeLessThanOrEqual(bound);
    expect(worst(bf, cpuRounded), `${label} mean bfloat16`).toBeLessThanOrEqual(bound);
  }

  // Each case runs with both kernel families (kernel_choice.h): rows, then warp.
  describe.each(['rows', 'warp'] as const)('layernorm kernel family %s', (family) => {
    const before = kernels().layernorm;
    beforeAll(() => setKernel('layernorm', family));
    afterAll(() => setKernel('layernorm', before));
    // [rows, C, row offset]: one row, C = 1, C below and above a warp, the model widths (stage 1-3
    // and decoder), 1, 2, 3 and 4 vectors per lane and one width past the rows family's 1024,
    // rows past the 256 chunks of the dgamma/dbeta split; for the rows family's one-pass backward
    // (C <= 768) chunks of 16 rows with 2 per warp, and 500 chunks of 40 rows, 5 per warp; for the
    // rows family's forward, whose grid stops at 8 blocks an SM (8448 rows a pass at 132 SMs), warps
    // that take 2-3 rows at one and two vectors per lane.
    it.each([[1, 1, 0], [4, 1, 0], [3, 5, 0], [37, 64, 1], [300, 16, 0], [2, 256, 0.5], [64, 384, 0], [10, 512, 0], [20, 768, 2],
      [6, 1000, 0], [5, 1024, 1], [4, 1032, 0], [513, 33, 0], [20000, 7, 0], [3000, 768, 0], [20000, 64, 0], [9000, 264, 1]])('forward and backward rows=%i C=%i (offset %d)', (rows, c, offset) => {
      const seed = freshSeed();
      const X = rand32(rows * c, seed, 2, offset), W = rand32(c, seed + 1, 0.3, 1), B = rand32(c, seed + 2, 0.5);
      for (const eps of [1e-5, 1e-6]) {
        const run = forward(rows, c, eps), label = `layernorm eps ${eps} (seed ${seed})`;
        const yAndRstd: Run = (device, mode, inputs) => { const [y, , r] = run(device, mode, inputs); return [y, r]; };
        expectParity(label, yAndRstd, [X, W, B], ['y', 'rstd']);
        expectMeanClose(label, run, c, [X, W, B]);
      }
      const [, M, R] = forward(rows, c, 1e-6)('cpu', 'float32', [X, W, B]);
      const DY = rand32(rows * c, seed + 3);
      expectParity(`layernormBackward (seed ${seed})`, backwardRun(rows, c, M, R), [DY, X, W], ['dx', 'dgamma', 'dbeta']);
      const DX0 = rand32(rows * c, seed + 4);
      expectParity(`layernormBackward accumulate (seed ${seed})`, backwardRun(rows, c, M, R), [DY, X, W, DX0], ['dx', 'dgamma', 'dbeta']);
    });

    it('gives the same dx, dgamma and dbeta bits on a second run (fixed chunks and order)', () => {
      const seed = freshSeed(), rows = 9000, c = 256;
      const X = rand32(rows * c, seed), W = rand32(c, seed + 1, 0.3, 1), B = rand32(c, seed + 2, 0.5), DY = rand32(rows * c, seed + 3);
      const [, M, R] = forward(rows, c, 1e-6)('cpu', 'float32', [X, W, B]);
      const run = backwardRun(rows, c, M, R);
      const first = run('cuda', 'bfloat16', [DY, X, W]), second = run('cuda', 'bfloat16', [DY, X, W]);
      ['dx', 'dgamma', 'dbeta'].forEach((name, k) =>
        expect(second[k].findIndex((v, i) => !Object.is(v, first[k][i])), `first differing ${name} element (seed ${seed})`).toBe(-1));
    });

    it('keeps its precision in float32 on rows with a large mean', () => {
      const seed = freshSeed(), rows = 16, c = 96;
      const X = Float64Array.from(rand32(rows * c, seed, 0.05), (v, i) => Math.fround(v + 1e4 * (1 + Math.floor(i / c) / rows)));
      const W = rand32(c, seed + 1, 0.3, 1), B = rand32(c, seed + 2, 0.5);
      const run = forward(rows, c, 1e-5);
      const cpu = run('cpu', 'float32', [X, W, B]), gpu = run('cuda', 'float32', [X, W, B]);
      ['y', 'mean', 'rstd'].forEach((name, k) => expect(relL2(gpu[k], cpu[k]), `${name} (seed ${seed})`).toBeLessThanOrEqual(1e-5));
      const [, M, R] = cpu;
      const DY = rand32(rows * c, seed + 3);
      const bwd = backwardRun(rows, c, M, R);
      const cpuB = bwd('cpu', 'float32', [DY, X, W]), gpuB = bwd('cuda', 'float32', [DY, X, W]);
      ['dx', 'dgamma', 'dbeta'].forEach((name, k) => expect(relL2(gpuB[k], cpuB[k]), `${name} (seed ${seed})`).toBeLessThanOrEqual(1e-5));
    });
    it('keeps exact statistics for bfloat16 rows with a large mean (float32 mean and rstd)', () => {
      // mean ~100, spread ~1: a bfloat16 mean (spacing 0.5 near 100) would shift x̂ by up to 0.25
      // in the backward, a relative error of 0.1-0.3 in dx and dgamma; float32 statistics leave
      // only the bf16 rounding of the outputs (~2^-9 per element).
      const seed = freshSeed(), rows = 32, c = 256;
      const X = roundBf16(Float64Array.from(rand32(rows * c, seed), (v, i) => v + 100 + Math.floor(i / c)));
      const W = roundBf16(rand32(c, seed + 1, 0.3, 1)), B = roundBf16(rand32(c, seed + 2, 0.5)), DY = roundBf16(rand32(rows * c, seed + 3));
      const grads = (device: Device, mode: 'float32' | 'bfloat16') => tidy(() => {
        const [x, w, b] = [put(X, [rows, c], device, mode), put(W, [c], device, mode), put(B, [c], device, mode)].map(requireGrad);
        backward(layerNorm(x, w, b, 1e-6), put(DY, [rows, c], device, mode));
        const out = [x, w, b].map((t) => hostF(t.grad!));
        [x, w, b].forEach((t) => t.grad!.dispose());
        return out;
      });
      const cpu = grads('cpu', 'float32'), gpu = grads('cuda', 'bfloat16');
      ['dx', 'dgamma', 'dbeta'].forEach((name, k) => expect(relL2(gpu[k], cpu[k]), `${name} (seed ${seed})`).toBeLessThanOrEqual(1e-2));
    });
  });

  it('writes zero dgamma and dbeta for zero rows', () => {
    tidy(() => {
      const o = { device: 'cuda' as const };
      const dw = tensor([5, 5, 5], [3], o), db = tensor([5, 5, 5], [3], o), w = tensor([1, 2, 3], [3], o);
      const e = () => empty([0], o).handle();
      native.layernormBackward(e(), dw.handle(), db.handle(), e(), e(), e(), e(), w.handle(), 0, 3);
      expect(Array.from(dw.toTypedArray() as Float32Array)).toEqual([0, 0, 0]);
      expect(Array.from(db.toTypedArray() as Float32Array)).toEqual([0, 0, 0]);
    });
  });

  it('runs through the TS API and the tape on cuda, matching the CPU gradients', () => {
    const seed = freshSeed(), rows = 10, c = 48;
    const X = rand32(rows * c, seed, 2), W = rand32(c, seed + 1, 0.3, 1), B = rand32(c, seed + 2), DY = rand32(rows * c, seed + 3);
    const grads = (device: Device) => tidy(() => {
      const o = { device, dtype: 'float32' as const };
      const [x, w, b] = [tensor(X, [2, 5, c], o), tensor(W, [c], o), tensor(B, [c], o)].map(requireGrad);
      const y = layerNorm(x, w, b, 1e-6);
      expect(y.device).toBe(device);
      backward(y, tensor(DY, [2, 5, c], o));
      const out = [hostF(y), ...[x, w, b].map((t) => hostF(t.grad!))];
      [x, w, b].forEach((t) => t.grad!.dispose());
      return out;
    });
    const cpu = grads('cpu'), gpu = grads('cuda');
    ['y', 'dx', 'dweight', 'dbias'].forEach((name, k) => expect(relL2(gpu[k], cpu[k]), `${name} (seed ${seed})`).toBeLessThanOrEqual(1e-5));
  });

  it('rejects device mixes and unsupported dtypes on cuda', () => {
    tidy(() => {
      const o = { device: 'cuda' as const };
      const cu = (shape: number[], dtype: DType = 'float32') => empty(shape, { device: 'cuda', dtype });
      const cpuT = (shape: number[]) => empty(shape);
      const x = tensor(randn(6, 1), [2, 3], { ...o, dtype: 'float32' }), w = tensor([1, 1, 1], [3], o), b = tensor([0, 0, 0], [3], o);
      expect(() => layerNorm(x, tensor([1, 1, 1], [3]), b, 1e-5)).toThrow(/layerNorm: `weight` is on cpu but `x` is on cuda/);
      const [y, m, r] = [cu([2, 3]), cu([2]), cu([2])];
      const fwd = (...args: unknown[]) => () => (native.layernorm as (...a: unknown[]) => void)(...args);
      expect(fwd(y.handle(), m.handle(), r.handle(), x.handle(), w.handle(), b.handle(), 2, 3, 1e-5)).not.toThrow();
      expect(fwd(y.handle(), cpuT([2]).handle(), r.handle(), x.handle(), w.handle(), b.handle(), 2, 3, 1e-5))
        .toThrow(/layernorm: `mean` is on cpu but cuda was expected/);
      expect(fwd(cpuT([2, 3]).handle(), m.handle(), r.handle(), x.handle(), w.handle(), b.handle(), 2, 3, 1e-5))
        .toThrow(/layernorm: `y` is on cpu but `x` is on cuda/);
      const d = (shape: number[]) => cu(shape, 'float64').handle();
      expect(fwd(d([2, 3]), d([2]), d([2]), d([2, 3]), d([3]), d([3]), 2, 3, 1e-5)).toThrow(/layernorm: `x` is float64, which cuda kernels/);
      const bwd = (...args: unknown[]) => () => (native.layernormBackward as (...a: unknown[]) => void)(...args);
      const [dx, dw, db, dy] = [cu([2, 3]), cu([3]), cu([3]), cu([2, 3])];
      expect(bwd(dx.handle(), dw.handle(), db.handle(), dy.handle(), x.handle(), m.handle(), r.handle(), w.handle(), 2, 3)).not.toThrow();
      expect(bwd(dx.handle(), dw.handle(), db.handle(), cpuT([2, 3]).handle(), x.handle(), m.handle(), r.handle(), w.handle(), 2, 3))
        .toThrow(/layernormBackward: `dy` is on cpu but `x` is on cuda/);
      expect(bwd(dx.handle(), dw.handle(), db.handle(), dy.handle(), x.handle(), m.handle(), r.handle(), w.handle(), 2, 4)).toThrow(RangeError);
    });
  });
});
