// maxPool2x2 against a plain-TS pool (ties to the first element, NaN wins), its gradient by
// finite differences, and bad shapes and argmax values throwing.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { backward, requireGrad } from '../../lib/autograd/tape';
import { maxPool2x2 } from '../../lib/ops/maxpool';
import { tidy } from '../../lib/tensor/scope';
import { liveTensorCount, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import { gradcheck, randn } from '../helpers/gradcheck';

/** Max and first argmax (y*W + x in the plane) of every 2×2 window. */
function refPool(x: ArrayLike<number>, n: number, c: number, h: number, w: number): { out: number[]; arg: number[] } {
  const out: number[] = [], arg: number[] = [];
  for (let p = 0; p < n * c; p++) for (let i = 0; i < h / 2; i++) for (let j = 0; j < w / 2; j++) {
    let best = 2 * i * w + 2 * j;
    for (const [a, b] of [[0, 1], [1, 0], [1, 1]]) {
      const at = (2 * i + a) * w + 2 * j + b;
      const v = x[p * h * w + at], bv = x[p * h * w + best];
      if (!Number.isNaN(bv) && (v > bv || Number.isNaN(v))) best = at;
    }
    out.push(x[p * h * w + best]);
    arg.push(best);
  }
  return { out, arg };
}

const H = (t: Tensor) => t.handle();

describe('maxPool2x2 (cpu)', () => {
  it.each([[1, 1, 2, 2], [2, 3, 4, 6], [1, 5, 8, 2], [3, 2, 10, 14]])('N=%i C=%i %ix%i, ties included', (n, c, h, w) => {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      tidy(() => {
        // Small integers make ties common, so the first-element rule is exercised.
        const X = Float64Array.from(randn(n * c * h * w, h * w), (v) => Math.round(v));
        const x = tensor(X, [n, c, h, w], { dtype });
        const out = maxPool2x2(x);
        expect(out.shape).toEqual([n, c, h / 2, w / 2]);
        const ref = refPool(X, n, c, h, w);
        expect(Array.from(out.toTypedArray() as Float64Array)).toEqual(ref.out);
        const argmax = zeros([n, c, h / 2, w / 2], { dtype: 'int32' });
        native.maxPool2x2(H(zeros(out.shape, { dtype })), H(argmax), H(x), n, c, h, w);
        expect(Array.from(argmax.toTypedArray() as Int32Array)).toEqual(ref.arg);
      });
    }
  });

  it('takes the first NaN of a window', () => {
    tidy(() => {
      const x = tensor([1, NaN, 5, NaN], [1, 1, 2, 2], { dtype: 'float64' });
      const argmax = zeros([1, 1, 1, 1], { dtype: 'int32' });
      const out = zeros([1, 1, 1, 1], { dtype: 'float64' });
      native.maxPool2x2(H(out), H(argmax), H(x), 1, 1, 2, 2);
      expect(Number.isNaN(out.item())).toBe(true);
      expect(argmax.item()).toBe(1);
    });
  });

  it('gradients by finite differences', () => {
    for (const [n, c, h, w] of [[1, 2, 4, 4], [2, 1, 2, 6], [1, 3, 6, 2]]) {
      gradcheck((x) => maxPool2x2(x), [{ data: randn(n * c * h * w, h + w), shape: [n, c, h, w] }]);
    }
  });

  it('routes the gradient to the first of tied elements, and leaks nothing', () => {
    tidy(() => {
      const x = requireGrad(tensor([3, 3, 3, 3, 1, 2, 2, 0], [1, 2, 2, 2], { dtype: 'float64' }));
      const before = liveTensorCount('cpu');
      const out = maxPool2x2(x);
      const dy = tensor([10, 20], [1, 2, 1, 1], { dtype: 'float64' });
      backward(out, dy);
      expect(Array.from(x.grad!.toTypedArray() as Float64Array)).toEqual([10, 0, 0, 0, 0, 20, 0, 0]);
      out.dispose();
      dy.dispose();
      expect(liveTensorCount('cpu')).toBe(before + 1); // x.grad (the saved argmax is freed)
    });
  });

  it('bad arguments throw', () => {
    tidy(() => {
      const x = tensor(randn(2 * 3 * 4 * 4, 1), [2, 3, 4, 4], { dtype: 'float32' });
      expect(() => maxPool2x2(tensor(randn(2 * 3 * 5 * 4, 1), [2, 3, 5, 4]))).toThrow(/maxPool2x2.*even/);
      expect(() => maxPool2x2(x.reshape([6, 4, 4]))).toThrow(RangeError);
      expect(() => maxPool2x2(x.cast('int32'))).toThrow(TypeError);
      const dead = x.clone();
      dead.dispose();
      expect(() => maxPool2x2(dead)).toThrow(/maxPool2x2.*dispose/);
      const out = zeros([2, 3, 2, 2]), argmax = zeros([2, 3, 2, 2], { dtype: 'int32' });
      native.maxPool2x2(H(out), H(argmax), H(x), 2, 3, 4, 4);
      expect(() => native.maxPool2x2(H(out), H(argmax), H(x), 2, 3, 4, 5)).toThrow(/even/);
      expect(() => native.maxPool2x2(H(zeros([2, 3, 1, 4])), H(zeros([24], { dtype: 'int32' })), H(x), 2, 3, 2, 8)).not.toThrow();
      expect(() => native.maxPool2x2(H(out), H(argmax), H(x), 2, 3, 4, 8)).toThrow(RangeError);
      expect(() => native.maxPool2x2(H(out), H(out), H(x), 2, 3, 4, 4)).toThrow(/argmax.*int32/);
      expect(() => native.maxPool2x2(H(out), H(argmax), H(x.cast('float64')), 2, 3, 4, 4)).toThrow(TypeError);
      expect(() => native.maxPool2x2(H(argmax), H(argmax), H(x), 2, 3, 4, 4)).toThrow(TypeError);
      const dx = zeros([2, 3, 4, 4]);
      native.maxPool2x2Backward(H(dx), H(out), H(argmax), 2, 3, 4, 4);
      const bad = (v: number, at: number) => {
        const a = argmax.toTypedArray() as Int32Array;
        a[at] = v;
        return tensor(a, [2, 3, 2, 2], { dtype: 'int32' });
      };
      // Out of the plane, negative, or inside the plane but in another window.
      for (const [v, at] of [[16, 0], [-1, 3], [2, 0], [0, 3], [8, 0], [15, 1]]) {
        expect(() => native.maxPool2x2Backward(H(dx), H(out), H(bad(v, at)), 2, 3, 4, 4)).toThrow(/maxPool2x2Backward.*argmax.*window/);
      }
      expect(() => native.maxPool2x2Backward(H(dx), H(out), H(argmax.cast('float32')), 2, 3, 4, 4)).toThrow(TypeError);
      expect(() => native.maxPool2x2Backward(H(dx), H(dx), H(argmax), 2, 3, 4, 4)).toThrow(RangeError);
      expect(() => native.maxPool2x2Backward(H(out), H(out), H(argmax), 2, 3, 4, 4)).toThrow(RangeError);
    });
  });
});
