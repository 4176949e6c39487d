// linear: forward against a plain-TS x·Wᵀ + b (float32 and float64, odd sizes, rank-1 to rank-3
// inputs, 2-D and conv-shaped 4-D weights, with and without bias, the GELU epilogue and the
// residual epilogue), gradients by finite differences, and bad arguments through the TS API.
import { describe, expect, it } from 'vitest';

import { backward, requireGrad } from '../../lib/autograd/tape';
import { gelu } from '../../lib/ops/gelu';
import { linear } from '../../lib/ops/linear';
import { tidy } from '../../lib/tensor/scope';
import { liveTensorCount, tensor, Tensor } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import { expectClose } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const stored = (a: Float64Array, dtype: DType): Float64Array => (dtype === 'float32' ? a.map(Math.fround) : a);

/** y[r, o] = Σ_i x[r, i] · W[o, i] + b[o], W flattened to [out, in]. */
function refLinear(x: Float64Array, w: Float64Array, b: Float64Array | null, inF: number, outF: number): Float64Array {
  const rows = x.length / inF;
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) for (let o = 0; o < outF; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
    y[r * outF + o] = s;
  }
  return y;
}

// [x shape, weight shape]
const cases: [number[], number[]][] = [
  [[5, 7], [3, 7]],
  [[2, 3, 13], [17, 13]],
  [[13], [4, 13]],
  [[1, 1], [1, 1]],
  [[2, 5, 12], [6, 3, 2, 2]], // a patch conv on gathered 2x2 tiles of 3 channels
  [[9, 16], [33, 16, 1, 1]], // a 1x1 conv
  [[0, 8], [5, 8]],
];

describe('linear forward', () => {
  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const withBias of [true, false]) {
      it.each(cases.map(([xs, ws]) => [`x ${JSON.stringify(xs)} w ${JSON.stringify(ws)}`, xs, ws] as const))(
        `${dtype}, ${withBias ? 'with' : 'without'} bias: %s`, (_n, xs, ws) => {
          tidy(() => {
            const outF = ws[0], inF = numel(ws) / outF;
            const X = stored(randn(numel(xs), 1 + numel(xs)), dtype), W = stored(randn(numel(ws), 2, 0.3), dtype);
            const B = withBias ? stored(randn(outF, 3), dtype) : null;
            const x = tensor(X, xs, { dtype }), w = tensor(W, ws, { dtype });
            const b = B ? tensor(B, [outF], { dtype }) : null;
            const y = linear(x, w, b);
            expect(y.shape).toEqual([...xs.slice(0, -1), outF]);
            const ref = refLinear(X, W, B, inF, outF);
            const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : { atol: 1e-5, rtol: 1e-4 };
            expectClose(y.toTypedArray() as Float64Array, ref, tol, 'linear');
            // The GELU epilogue equals gelu applied afterwards.
            const yg = linear(x, w, b, { gelu: true });
            expectClose(yg.toTypedArray() as Float64Array, gelu(y).toTypedArray() as Float64Array, { atol: 0, rtol: 0 }, 'linear + gelu');
            // The residual epilogue equals the sum afterwards (one rounding instead of two).
            const R = stored(randn(numel(y.shape), 4), dtype);
            const yr = linear(x, w, b, { residual: tensor(R, y.shape, { dtype }) });
            expectClose(yr.toTypedArray() as Float64Array, ref.map((v, i) => v + R[i]), tol, 'linear + residual');
          });
        });
    }
  }
});

describe('linear backward', () => {
  for (const [xs, ws] of cases.slice(0, 6)) {
    it(`matches finite differences for x ${JSON.stringify(xs)}, weight ${JSON.stringify(ws)}`, () => {
      const outF = ws[0];
      const X = randn(numel(xs), 5), W = randn(numel(ws), 6, 0.5), B = randn(outF, 7);
      for (const withGelu of [false, true]) {
        gradcheck((x, w, b) => linear(x, w, b, { gelu: withGelu }), [
          { data: X, shape: xs }, { data: W, shape: ws }, { data: B, shape: [outF] },
        ]);
        gradcheck((x, w) => linear(x, w, null, { gelu: withGelu }), [{ data: X, shape: xs }, { data: W, shape: ws }]);
        if (!withGelu) {
          const R = randn(numel(xs.slice(0, -1)) * outF, 8);
          gradcheck((x, w, b, r) => linear(x, w, b, { residual: r }), [
            { data: X, shape: xs }, { data: W, shape: ws }, { data: B, shape: [outF] }, { data: R, shape: [...xs.slice(0, -1), outF] },
          ]);
        }
        // Input without a gradient (an image batch, say): only the parameters get one.
        gradcheck((x, w, b) => linear(x, w, b, { gelu: withGelu }), [
          { data: X, shape: xs, grad: false }, { data: W, shape: ws }, { data: B, shape: [outF] },
        ]);
      }
    });
  }

  it('gives zero weight and bias gradients for zero rows', () => {
    tidy(() => {
      const x = requireGrad(tensor(new Float64Array(0), [0, 4], { dtype: 'float64' }));
      const w = requireGrad(tensor(randn(12, 1), [3, 4], { dtype: 'float64' }));
      const b = requireGrad(tensor(randn(3, 2), [3], { dtype: 'float64' }));
      const y = linear(x, w, b, { gelu: true });
      backward(y, tensor(new Float64Array(0), [0, 3], { dtype: 'float64' }));
      expect(Array.from(w.grad!.toTypedArray() as Float64Array)).toEqual(new Array(12).fill(0));
      expect(Array.from(b.grad!.toTypedArray() as Float64Array)).toEqual([0, 0, 0]);
      [x, w, b].forEach((t) => t.grad?.dispose());
    });
  });

  it('keeps the live tensor count flat across steps (the saved pre-activation is freed)', () => {
    const x = tensor(randn(30, 1), [2, 3, 5], { dtype: 'float64' });
    const w = requireGrad(tensor(randn(20, 2), [4, 5], { dtype: 'float64' }));
    const b = requireGrad(tensor(randn(4, 3), [4], { dtype: 'float64' }));
    const before = liveTensorCount('cpu');
    for (let step = 0; step < 3; step++) {
      tidy(() => backward(linear(x, w, b, { gelu: true }), tensor(randn(24, 4), [2, 3, 4], { dtype: 'float64' })));
    }
    expect(liveTensorCount('cpu')).toBe(before + 2); // w.grad, b.grad
    [w.grad!, b.grad!, x, w, b].forEach((t) => t.dispose());
  });
});

describe('linear errors', () => {
  const mk = (shape: number[], dtype: DType = 'float32') => tensor(new Float64Array(numel(shape)), shape, { dtype });

  it('rejects bad arguments through the TS API', () => {
    tidy(() => {
      const x = mk([4, 6]), w = mk([3, 6]), b = mk([3]);
      expect(() => linear(x, mk([3, 5]), b)).toThrow(/linear: expected `x` of shape \[\.\.\., 5\]/);
      expect(() => linear(x, mk([3, 2, 3]), b)).toThrow(RangeError);
      expect(() => linear(x, mk([0, 6]), null)).toThrow(RangeError);
      expect(() => linear(x, mk([3, 6, 1, 1]), mk([4]))).toThrow(/linear: expected shape \[3\] for `bias`/);
      expect(linear(mk([6]), w, b).shape).toEqual([3]);
      expect(() => linear(x, w, mk([3], 'float64'))).toThrow(/linear: `bias` is float64 but `x` is float32/);
      expect(() => linear(mk([4, 6], 'int32'), mk([3, 6], 'int32'), null)).toThrow(TypeError);
      expect(() => linear(x, w, b, { gelu: 1 as unknown as boolean })).toThrow(/linear: expected a boolean for `opts.gelu`/);
      expect(() => linear(x, w, b, { residual: mk([4, 4]) })).toThrow(/linear: expected `opts.residual` of the output's shape \[4, 3\] but got \[4, 4\]/);
      expect(() => linear(x, w, b, { residual: mk([4, 3], 'float64') })).toThrow(/linear: `opts.residual` is float64 but `x` is float32/);
      expect(() => linear(x, w, b, { residual: 3 as unknown as Tensor })).toThrow(/linear: expected a Tensor for `opts.residual`/);
      expect(() => linear(x, w, b, { gelu: true, residual: mk([4, 3]) })).toThrow(/linear: `opts.gelu` and `opts.residual` cannot be combined/);
      expect(() => linear(x, undefined as unknown as Tensor, b)).toThrow(/linear: expected a Tensor for `weight`/);
      expect(() => linear(mk([]), w, b)).toThrow(RangeError);
      const gone = mk([3, 6]);
      gone.dispose();
      expect(() => linear(x, gone, b)).toThrow(/linear: `weight` was used after dispose/);
    });
  });

  it.skipIf(!cudaUsable)(`checks devices${cudaUsable ? '' : ` (skipped: ${cudaSkipReason})`}`, () => {
    tidy(() => {
      expect(() => linear(mk([2, 3]).to('cuda'), mk([4, 3]), null)).toThrow(/linear: `weight` is on cpu but `x` is on cuda/);
    });
  });
});
