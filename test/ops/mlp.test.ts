// mlp: the fused transformer MLP against the two linears it replaces (forward and every gradient,
// float64 and float32, with and without the residual, 2-D and 1x1-conv weights), finite
// differences, memory flat across steps, and bad arguments.
import { describe, expect, it } from 'vitest';

import { backward, clearTape, requireGrad } from '../../lib/autograd/tape';
import { add } from '../../lib/ops/arith';
import { linear } from '../../lib/ops/linear';
import { mlp } from '../../lib/ops/mlp';
import { tidy } from '../../lib/tensor/scope';
import { liveTensorCount, tensor, Tensor } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import { expectClose } from '../helpers/close';
import { gradcheck, randn } from '../helpers/gradcheck';

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);

// [x shape, w1 shape, w2 shape]
const cases: [number[], number[], number[]][] = [
  [[5, 7], [12, 7], [7, 12]],
  [[2, 3, 8], [20, 8], [6, 20]],
  [[9, 16], [33, 16, 1, 1], [16, 33, 1, 1]],
  [[0, 4], [8, 4], [4, 8]],
];

describe('mlp', () => {
  for (const dtype of ['float64', 'float32'] as DType[]) {
    it.each(cases.map((c) => [JSON.stringify(c), ...c] as const))(`${dtype}: equals fc2(gelu(fc1(x))) + residual and its gradients, %s`, (_n, xs, w1s, w2s) => {
      const outShape = [...xs.slice(0, -1), w2s[0]];
      const data = [randn(numel(xs), 1), randn(numel(w1s), 2, 0.4), randn(w1s[0], 3), randn(numel(w2s), 4, 0.4), randn(w2s[0], 5), randn(numel(outShape), 6)];
      const shapes = [xs, w1s, [w1s[0]], w2s, [w2s[0]], outShape];
      const dz = randn(numel(outShape), 7);
      for (const withResidual of [false, true]) {
        const run = (fused: boolean) => tidy(() => {
          const [x, w1, b1, w2, b2, r] = data.map((d, i) => requireGrad(tensor(d, shapes[i], { dtype })));
          const z = fused
            ? mlp(x, w1, b1, w2, b2, { residual: withResidual ? r : null })
            : (() => { const y = linear(linear(x, w1, b1, { gelu: true }), w2, b2); return withResidual ? add(r, y) : y; })();
          backward(z, tensor(dz, outShape, { dtype }));
          const out = [z, ...[x, w1, b1, w2, b2, r].map((t) => t.grad)].map((t) => (t ? Array.from(t.toTypedArray() as Float64Array) : null));
          [x, w1, b1, w2, b2, r].forEach((t) => t.grad?.dispose());
          return out;
        });
        const fused = run(true), plain = run(false);
        const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : { atol: 1e-5, rtol: 1e-5 };
        ['z', 'dx', 'dw1', 'db1', 'dw2', 'db2', 'dresidual'].forEach((name, i) => {
          if (name === 'dresidual' && !withResidual) return expect(fused[i]).toBeNull();
          expectClose(Float64Array.from(fused[i]!), Float64Array.from(plain[i]!), tol, `${name} (residual ${withResidual})`);
        });
      }
    });
  }

  it('matches finite differences, with the input without a gradient too', () => {
    const X = randn(15, 1), W1 = randn(24, 2, 0.5), B1 = randn(8, 3), W2 = randn(16, 4, 0.5), B2 = randn(2, 5), R = randn(10, 6);
    gradcheck((x, w1, b1, w2, b2, r) => mlp(x, w1, b1, w2, b2, { residual: r }), [
      { data: X, shape: [5, 3] }, { data: W1, shape: [8, 3] }, { data: B1, shape: [8] }, { data: W2, shape: [2, 8] }, { data: B2, shape: [2] }, { data: R, shape: [5, 2] },
    ]);
    gradcheck((x, w1, b1, w2, b2) => mlp(x, w1, b1, w2, b2), [
      { data: X, shape: [5, 3], grad: false }, { data: W1, shape: [8, 3] }, { data: B1, shape: [8] }, { data: W2, shape: [2, 8] }, { data: B2, shape: [2] },
    ]);
  });

  it('keeps the live tensor count flat across steps (H and G are freed with the tape)', () => {
    const x = tensor(randn(12, 1), [4, 3], { dtype: 'float64' });
    const ps = [randn(18, 2), randn(6, 3), randn(12, 4), randn(2, 5)].map((d, i) => requireGrad(tensor(d, [[6, 3], [6], [2, 6], [2]][i], { dtype: 'float64' })));
    const before = liveTensorCount('cpu');
    for (let step = 0; step < 3; step++) tidy(() => backward(mlp(x, ps[0], ps[1], ps[2], ps[3]), tensor(randn(8, 9), [4, 2], { dtype: 'float64' })));
    expect(liveTensorCount('cpu')).toBe(before + 4); // the four .grad tensors
    tidy(() => { mlp(x, ps[0], ps[1], ps[2], ps[3]); });
    expect(liveTensorCount('cpu')).toBe(before + 4 + 2); // a forward without backward: the tape holds H and G
    clearTape();
    expect(liveTensorCount('cpu')).toBe(before + 4);
    [...ps.map((p) => p.grad!), ...ps, x].forEach((t) => t.dispose());
  });

  it('rejects bad arguments naming them', () => {
    tidy(() => {
      const mk = (shape: number[], dtype: DType = 'float32') => tensor(new Float64Array(numel(shape)), shape, { dtype });
      const x = mk([4, 6]), w1 = mk([8, 6]), b1 = mk([8]), w2 = mk([3, 8]), b2 = mk([3]);
      expect(mlp(x, w1, b1, w2, b2).shape).toEqual([4, 3]);
      expect(() => mlp(x, mk([8, 5]), b1, w2, b2)).toThrow(/mlp: expected `x` of shape \[\.\.\., 5\] for `w1`/);
      expect(() => mlp(x, w1, mk([7]), w2, b2)).toThrow(/mlp: expected shape \[8\] for `b1`/);
      expect(() => mlp(x, w1, b1, mk([3, 7]), b2)).toThrow(/mlp: expected `w2` with 8 inputs \(the rows of `w1`\) but got \[3, 7\]/);
      expect(() => mlp(x, w1, b1, w2, mk([4]))).toThrow(/mlp: expected shape \[3\] for `b2`/);
      expect(() => mlp(x, w1, b1, null as unknown as Tensor, b2)).toThrow(/mlp: expected a Tensor for `w2`/);
      expect(() => mlp(x, w1, b1, w2, b2, { residual: mk([4, 4]) })).toThrow(/mlp: expected `opts.residual` of the output's shape \[4, 3\]/);
      expect(() => mlp(x, w1, mk([8], 'float64'), w2, b2)).toThrow(/mlp: `b1` is float64 but `x` is float32/);
    });
  });
});
