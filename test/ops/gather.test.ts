// gatherRows against a plain-TS gather, its scatter-add gradient (repeated indices summed) by
// finite differences, and out-of-range indices and other bad arguments throwing.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { backward, requireGrad } from '../../lib/autograd/tape';
import { gatherRows } from '../../lib/ops/gather';
import { tidy } from '../../lib/tensor/scope';
import { liveTensorCount, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import { gradcheck, randn } from '../helpers/gradcheck';

const idxOf = (a: number[]) => tensor(Int32Array.from(a), [a.length], { dtype: 'int32' });
const H = (t: Tensor) => t.handle();

describe('gatherRows (cpu)', () => {
  it.each([[5, 3, [4, 0, 2]], [7, 1, [6, 6, 0, 3, 3, 3]], [1, 9, [0, 0]], [12, 17, [11, 1, 5, 8, 2, 0, 9]], [3, 4, []]])(
    'R=%i C=%i idx=%j', (r, c, idx) => {
      for (const dtype of ['float32', 'float64'] as DType[]) {
        tidy(() => {
          const X = randn(r * c, r + c);
          const x = tensor(X, [r, c], { dtype });
          const xs = Float64Array.from(x.toTypedArray() as Float32Array);
          const out = gatherRows(x, idxOf(idx as number[]));
          expect(out.shape).toEqual([idx.length, c]);
          const want = new Float64Array(idx.length * c);
          (idx as number[]).forEach((i, m) => want.set(xs.subarray(i * c, (i + 1) * c), m * c));
          expect(Float64Array.from(out.toTypedArray() as Float32Array)).toEqual(want);
        });
      }
    });

  it('views leading dims as rows', () => {
    tidy(() => {
      const x = tensor(randn(2 * 3 * 4, 1), [2, 3, 4], { dtype: 'float64' });
      const out = gatherRows(x, idxOf([5, 0]));
      const xs = x.toTypedArray() as Float64Array;
      expect(Array.from(out.toTypedArray() as Float64Array)).toEqual([...xs.subarray(20, 24), ...xs.subarray(0, 4)]);
    });
  });

  it('gradients by finite differences, repeated indices included', () => {
    for (const [r, c, idx] of [[4, 3, [3, 1, 3, 3, 0]], [5, 2, [0, 1, 2, 3, 4]], [3, 5, [2]]] as [number, number, number[]][]) {
      gradcheck((x) => gatherRows(x, idxOf(idx)), [{ data: randn(r * c, 3), shape: [r, c] }]);
    }
    tidy(() => {
      // The gradient of a twice-gathered row is the sum of its two output gradients.
      const x = requireGrad(tensor(randn(6, 4), [3, 2], { dtype: 'float64' }));
      const out = gatherRows(x, idxOf([1, 1, 2]));
      const dy = tensor([1, 2, 10, 20, 100, 200], [3, 2], { dtype: 'float64' });
      const before = liveTensorCount('cpu');
      backward(out, dy);
      expect(Array.from(x.grad!.toTypedArray() as Float64Array)).toEqual([0, 0, 11, 22, 100, 200]);
      expect(liveTensorCount('cpu')).toBe(before + 1); // x.grad
      x.grad!.dispose();
    });
  });

  it('bad arguments throw', () => {
    tidy(() => {
      const x = tensor(randn(12, 1), [4, 3], { dtype: 'float32' });
      expect(() => gatherRows(x, idxOf([0, 4]))).toThrow(/gatherRows.*idx.*outside/);
      expect(() => gatherRows(x, idxOf([-1]))).toThrow(RangeError);
      expect(() => gatherRows(x, idxOf([0]).cast('float32'))).toThrow(/gatherRows.*int32/);
      expect(() => gatherRows(x, tensor(BigInt64Array.from([0n]), [1]))).toThrow(TypeError);
      expect(() => gatherRows(x, idxOf([0, 1]).reshape([1, 2]))).toThrow(RangeError);
      expect(() => gatherRows(x.cast('int32'), idxOf([0]))).toThrow(TypeError);
      expect(() => gatherRows(tensor([1], []), idxOf([0]))).toThrow(RangeError);
      expect(() => gatherRows(x, [0] as unknown as Tensor)).toThrow(TypeError);
      const dead = idxOf([0]);
      dead.dispose();
      expect(() => gatherRows(x, dead)).toThrow(/gatherRows.*dispose/);
      const out = zeros([2, 3]), idx = idxOf([3, 0]);
      native.gatherRows(H(out), H(x), H(idx), 2, 4, 3);
      expect(() => native.gatherRows(H(out), H(x), H(idx), 2, 3, 3)).toThrow(RangeError);
      expect(() => native.gatherRows(H(out), H(x), H(idx), 2, 4, 2)).toThrow(RangeError);
      expect(() => native.gatherRows(H(out), H(x), H(idxOf([3, 4])), 2, 4, 3)).toThrow(/idx.*outside/);
      expect(() => native.gatherRows(H(out), H(x), H(idxOf([3])), 2, 4, 3)).toThrow(RangeError);
      expect(() => native.gatherRows(H(out), H(x.cast('float64')), H(idx), 2, 4, 3)).toThrow(TypeError);
      expect(() => native.gatherRows(H(out), H(x), H(idx.cast('float32')), 2, 4, 3)).toThrow(TypeError);
      expect(() => native.gatherRows(H(out), H(x), H(idx), -2, 4, 3)).toThrow(RangeError);
      const dx = zeros([4, 3]);
      native.scatterAddRows(H(dx), H(out), H(idx), 2, 4, 3);
      expect(() => native.scatterAddRows(H(dx), H(out), H(idxOf([0, 7])), 2, 4, 3)).toThrow(/scatterAddRows.*outside/);
      expect(() => native.scatterAddRows(H(dx), H(dx), H(idxOf([0, 1, 2, 3])), 4, 4, 3)).toThrow(/different tensors/);
      expect(() => native.scatterAddRows(H(out), H(dx), H(idx), 2, 4, 3)).toThrow(RangeError);
    });
  });
});
