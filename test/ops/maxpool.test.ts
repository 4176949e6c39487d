// maxPool2x2 against a plain-TS pool (ties to the first element, NaN wins), its gradient by
// finite differences, and bad shapes and argmax values throwing; on a GPU, the CUDA kernels
// against the CPU ones.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { backward, requireGrad } from '../../lib/autograd/tape';
import { maxPool2x2 } from '../../lib/ops/maxpool';
import { tidy } from '../../lib/tensor/scope';
import { empty, liveTensorCount, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import type { Device } from '../../lib/tensor/device';
import { relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { type Mode, freshSeed, roundBf16, put, hostF, firstDiff } from '../helpers/cuda_compare';

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

// The CUDA twin against the CPU op on fresh random inputs every run (the seed is in each label).
// Pooling copies values and compares exact fp32 values, so float32 results (and argmax) must equal
// the CPU's exactly, and bfloat16 ones (inputs cast on the device) must equal the CPU run on
// bf16-rounded inputs; the relative L2 checks of the conventions follow from those.
describe.skipIf(!cudaUsable)(`maxPool2x2 (cuda) ${cudaSkipReason}`, () => {

  /** Forward (out, argmax) of X, and the backward of DOUT through the CPU float32 argmax `arg`. */
  function run(device: Device, mode: Mode, X: Float64Array, DOUT: Float64Array, arg: Int32Array | null, shape: number[]) {
    return tidy(() => {
      const [n, c, h, w] = shape, small = [n, c, h / 2, w / 2];
      const x = put(X, shape, device, mode);
      const out = empty(small, { dtype: x.dtype, device }), argmax = empty(small, { dtype: 'int32', device });
      native.maxPool2x2(H(out), H(argmax), H(x), n, c, h, w);
      const am = arg ? tensor(arg, small, { dtype: 'int32', device }) : argmax;
      const dx = empty(shape, { dtype: x.dtype, device });
      native.maxPool2x2Backward(H(dx), H(put(DOUT, small, device, mode)), H(am), n, c, h, w);
      return { out: hostF(out), argmax: argmax.toTypedArray() as Int32Array, dx: hostF(dx) };
    });
  }

  it.each([[1, 1, 2, 2], [2, 3, 4, 6], [1, 5, 8, 2], [3, 2, 10, 14], [32, 16, 28, 28], [0, 3, 4, 4], [2, 3, 0, 4]])(
    'N=%i C=%i %ix%i, ties included, forward and backward', (n, c, h, w) => {
      const seed = freshSeed(), shape = [n, c, h, w];
      // Small integers (exact in bf16) make ties common; the halves are rounded differently by bf16.
      const X = Float64Array.from(randn(n * c * h * w, seed), (v, i) => (i % 3 === 0 ? Math.round(4 * v) : Math.fround(v)));
      const DOUT = Float64Array.from(new Float32Array(randn((n * c * h * w) / 4, seed + 1)));
      const cpu = run('cpu', 'float32', X, DOUT, null, shape);
      const gpu = run('cuda', 'float32', X, DOUT, null, shape);
      expect(firstDiff(gpu.argmax, cpu.argmax), `float32 argmax (seed ${seed})`).toBe(-1);
      for (const key of ['out', 'dx'] as const) {
        expect(firstDiff(gpu[key], cpu[key]), `float32 ${key} (seed ${seed})`).toBe(-1);
        expect(relL2(gpu[key], cpu[key])).toBeLessThanOrEqual(1e-5);
      }
      // bf16: the forward on rounded inputs; the backward through the same (CPU float32) argmax.
      const rounded = run('cpu', 'float32', roundBf16(X), roundBf16(DOUT), cpu.argmax, shape);
      const bf = run('cuda', 'bfloat16', X, DOUT, cpu.argmax, shape);
      expect(firstDiff(bf.argmax, rounded.argmax), `bfloat16 argmax (seed ${seed})`).toBe(-1);
      for (const key of ['out', 'dx'] as const) {
        expect(firstDiff(bf[key], rounded[key]), `bfloat16 ${key} (seed ${seed})`).toBe(-1);
        expect(relL2(bf[key], cpu[key])).toBeLessThanOrEqual(2 * relL2(rounded[key], cpu[key]));
      }
    });

  it('takes the first NaN of a window, as on the CPU', () => {
    const X = Float64Array.from([1, NaN, 5, NaN, 2, 3, 4, 1, NaN, 0, 0, 0, -1, -2, -3, NaN]);
    const shape = [1, 4, 2, 2], DOUT = Float64Array.from([1, 2, 3, 4]);
    const cpu = run('cpu', 'float32', X, DOUT, null, shape);
    expect(Array.from(cpu.argmax)).toEqual([1, 2, 0, 3]);
    for (const mode of ['float32', 'bfloat16'] as Mode[]) {
      const gpu = run('cuda', mode, X, DOUT, null, shape);
      expect(firstDiff(gpu.argmax, cpu.argmax), mode).toBe(-1);
      expect(firstDiff(gpu.out, cpu.out), mode).toBe(-1);
    }
  });

  it('gives the gradient through the tape on cuda', () => {
    const seed = freshSeed(), shape = [2, 3, 6, 8];
    const X = Float64Array.from(new Float32Array(randn(2 * 3 * 6 * 8, seed))), DOUT = Float64Array.from(new Float32Array(randn(2 * 3 * 3 * 4, seed + 1)));
    const grad = (device: Device) => tidy(() => {
      const x = requireGrad(tensor(X, shape, { dtype: 'float32', device }));
      backward(maxPool2x2(x), tensor(DOUT, [2, 3, 3, 4], { dtype: 'float32', device }));
      const g = hostF(x.grad!);
      x.grad!.dispose();
      return g;
    });
    expect(grad('cuda'), `seed ${seed}`).toEqual(grad('cpu'));
  });

  it('rejects device mixes and argmax values outside their window before any kernel runs', () => {
    tidy(() => {
      const o = { dtype: 'float32' as const, device: 'cuda' as const };
      const x = tensor(randn(2 * 3 * 4 * 4, 1), [2, 3, 4, 4], o);
      const out = empty([2, 3, 2, 2], o), argmax = empty([2, 3, 2, 2], { dtype: 'int32', device: 'cuda' });
      native.maxPool2x2(H(out), H(argmax), H(x), 2, 3, 4, 4);
      expect(() => native.maxPool2x2(H(out), H(argmax.to('cpu')), H(x), 2, 3, 4, 4)).toThrow(/maxPool2x2: `argmax` is on cpu but cuda was expected/);
      expect(() => native.maxPool2x2(H(out), H(argmax), H(x.to('cpu')), 2, 3, 4, 4)).toThrow(/maxPool2x2: `x` is on cpu but `out` is on cuda/);
      expect(() => native.maxPool2x2(H(out), H(argmax), H(x.cast('bfloat16')), 2, 3, 4, 4)).toThrow(TypeError);
      const dx = empty([2, 3, 4, 4], o);
      native.maxPool2x2Backward(H(dx), H(out), H(argmax), 2, 3, 4, 4);
      const bad = (v: number, at: number) => {
        const a = argmax.toTypedArray() as Int32Array;
        a[at] = v;
        return tensor(a, [2, 3, 2, 2], { dtype: 'int32', device: 'cuda' });
      };
      for (const [v, at] of [[16, 0], [-1, 3], [2, 0], [0, 3], [8, 0], [15, 1]]) {
        expect(() => native.maxPool2x2Backward(H(dx), H(out), H(bad(v, at)), 2, 3, 4, 4)).toThrow(/maxPool2x2Backward.*argmax.*window/);
      }
      expect(() => native.maxPool2x2Backward(H(dx), H(out), H(argmax.to('cpu')), 2, 3, 4, 4)).toThrow(/maxPool2x2Backward: `argmax` is on cpu but cuda was expected/);
      expect(() => native.maxPool2x2Backward(H(dx), H(out.to('cpu')), H(argmax), 2, 3, 4, 4)).toThrow(/maxPool2x2Backward: `dout` is on cpu/);
      expect(() => maxPool2x2(x.cast('float64'))).toThrow(/maxPool2x2.*bfloat16/);
    });
  });
});
