// arith: add (same shape and tiled), mul, scale, reshape, concatRows, meanTokens, sum and mean —
// forward against plain-TS references in float32 and float64, gradients by finite differences,
// and bad arguments through the TS API; copyRows straight through the native function, and on a
// GPU its CUDA twin against the CPU one.
import { describe, expect, it } from 'vitest';

import { backward, requireGrad } from '../../lib/autograd/tape';
import { native } from '../../lib/binding';
import { add, concatRows, mean, meanTokens, mul, reshape, scale, sum } from '../../lib/ops/arith';
import { tidy } from '../../lib/tensor/scope';
import { empty, liveTensorCount, tensor, Tensor } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import { expectClose, relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { freshSeed } from '../helpers/cuda_compare';

const numel = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
const stored = (a: Float64Array, dtype: DType): Float64Array => (dtype === 'float32' ? a.map(Math.fround) : a);
const tolFor = (dtype: DType) => (dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : { atol: 1e-5, rtol: 1e-5 });
const vals = (t: Tensor) => t.toTypedArray() as Float64Array;

describe.each(['float32', 'float64'] as DType[])('arith forward in %s', (dtype) => {
  const mk = (shape: number[], seed: number) => {
    const data = stored(randn(numel(shape), seed), dtype);
    return { data, t: tensor(data, shape, { dtype }) };
  };

  it('add: same shapes and b tiled over a\'s leading dims', () => {
    tidy(() => {
      for (const [as, bs] of [[[3, 5], [3, 5]], [[2, 7, 3], [7, 3]], [[4, 5], [5]], [[2, 3], []]] as [number[], number[]][]) {
        const a = mk(as, 1), b = mk(bs, 2);
        const y = add(a.t, b.t);
        expect(y.shape).toEqual(as);
        expectClose(vals(y), a.data.map((v, i) => v + b.data[i % b.data.length]), tolFor(dtype), `add ${as} + ${bs}`);
      }
    });
  });

  it('mul, scale and reshape', () => {
    tidy(() => {
      const a = mk([3, 7], 3), b = mk([3, 7], 4);
      expectClose(vals(mul(a.t, b.t)), a.data.map((v, i) => v * b.data[i]), tolFor(dtype), 'mul');
      expectClose(vals(scale(a.t, -2.5)), a.data.map((v) => -2.5 * v), tolFor(dtype), 'scale');
      const r = reshape(a.t, [7, 1, 3]);
      expect(r.shape).toEqual([7, 1, 3]);
      expectClose(vals(r), a.data, { atol: 0, rtol: 0 }, 'reshape');
    });
  });

  it('concatRows along the first dim', () => {
    tidy(() => {
      for (const [as, bs] of [[[3, 5], [4, 5]], [[2, 3, 4], [1, 3, 4]], [[0, 6], [2, 6]], [[3], [2]], [[2, 2], [0, 2]]] as [number[], number[]][]) {
        const a = mk(as, 5), b = mk(bs, 6);
        const y = concatRows(a.t, b.t);
        expect(y.shape).toEqual([as[0] + bs[0], ...as.slice(1)]);
        expectClose(vals(y), [...a.data, ...b.data], { atol: 0, rtol: 0 }, `concatRows ${as} ${bs}`);
      }
    });
  });

  it('meanTokens over L', () => {
    tidy(() => {
      for (const [n, l, c] of [[2, 5, 3], [1, 1, 7], [3, 49, 33], [0, 4, 2]]) {
        const x = mk([n, l, c], 7);
        const y = meanTokens(x.t);
        expect(y.shape).toEqual([n, c]);
        const ref = new Float64Array(n * c);
        for (let i = 0; i < n; i++) for (let t = 0; t < l; t++) for (let j = 0; j < c; j++) ref[i * c + j] += x.data[(i * l + t) * c + j] / l;
        expectClose(vals(y), ref, tolFor(dtype), `meanTokens ${n}x${l}x${c}`);
      }
    });
  });

  it('sum and mean to a scalar', () => {
    tidy(() => {
      const x = mk([4, 9], 8);
      const total = x.data.reduce((p, v) => p + v, 0);
      const s = sum(x.t), m = mean(x.t);
      expect(s.shape).toEqual([]);
      expect(m.shape).toEqual([]);
      expect(s.item()).toBeCloseTo(total, dtype === 'float64' ? 12 : 4);
      expect(m.item()).toBeCloseTo(total / 36, dtype === 'float64' ? 12 : 5);
    });
  });
});

describe('arith backward (finite differences, float64)', () => {
  const inp = (shape: number[], seed: number) => ({ data: randn(numel(shape), seed), shape });

  it('add, same shapes and tiled (position-embedding style)', () => {
    gradcheck((a, b) => add(a, b), [inp([3, 5], 1), inp([3, 5], 2)]);
    gradcheck((a, b) => add(a, b), [inp([2, 7, 3], 3), inp([7, 3], 4)]);
    gradcheck((a, b) => add(a, b), [inp([3, 4], 5), inp([4], 7)]);
    gradcheck((a) => add(a, a), [inp([2, 3], 8)]);
  });

  it('mul, scale and reshape', () => {
    gradcheck((a, b) => mul(a, b), [inp([3, 7], 9), inp([3, 7], 10)]);
    gradcheck((a) => mul(a, a), [inp([5], 11)]);
    gradcheck((a) => scale(a, -1.7), [inp([2, 3, 2], 12)]);
    gradcheck((a, b) => mul(reshape(a, [3, 4]), b), [inp([2, 6], 13), inp([3, 4], 14)]);
  });

  it('concatRows', () => {
    gradcheck((a, b) => concatRows(a, b), [inp([3, 5], 15), inp([2, 5], 16)]);
    gradcheck((a, b) => concatRows(a, b), [inp([1, 2, 3], 17), inp([3, 2, 3], 18)]);
    gradcheck((a, b) => concatRows(a, b), [inp([0, 3], 19), inp([2, 3], 20)]);
    gradcheck((a, b) => concatRows(mul(a, a), b), [inp([2, 2], 21), inp([1, 2], 22)]);
  });

  it('meanTokens, sum and mean', () => {
    gradcheck((x) => meanTokens(x), [inp([2, 5, 3], 23)]);
    gradcheck((x) => meanTokens(x), [inp([3, 1, 4], 24)]);
    gradcheck((x) => sum(x), [inp([3, 5], 25)]);
    gradcheck((x) => mean(x), [inp([2, 3, 7], 26)]);
    gradcheck((x, y) => mean(mul(add(x, y), x)), [inp([4, 3], 27), inp([3], 28)]);
  });

  it('keeps the live tensor count flat across steps', () => {
    const p = requireGrad(tensor(randn(12, 1), [4, 3], { dtype: 'float64' }));
    const q = requireGrad(tensor(randn(3, 2), [3], { dtype: 'float64' }));
    const before = liveTensorCount('cpu');
    for (let step = 0; step < 3; step++) {
      tidy(() => {
        const x = reshape(concatRows(add(p, q), scale(p, 2)), [2, 4, 3]);
        backward(mean(mul(meanTokens(x), meanTokens(x))));
      });
    }
    expect(liveTensorCount('cpu')).toBe(before + 2); // p.grad, q.grad
    [p.grad!, q.grad!, p, q].forEach((t) => t.dispose());
  });
});

describe('arith errors', () => {
  const mk = (shape: number[], dtype: DType = 'float32') => tensor(new Float64Array(numel(shape)), shape, { dtype });

  it('rejects bad arguments through the TS API', () => {
    tidy(() => {
      expect(() => add(mk([3, 4]), mk([3]))).toThrow(/add: `b` of shape \[3\] does not match/);
      expect(() => add(mk([3, 4]), mk([4], 'float64'))).toThrow(TypeError);
      expect(() => mul(mk([3, 4]), mk([4]))).toThrow(/mul: expected `b` of the shape of `a` \[3, 4\]/);
      expect(() => scale(mk([2]), NaN)).toThrow(TypeError);
      expect(() => scale(mk([2]), Infinity)).toThrow(RangeError);
      expect(() => reshape(mk([2, 3]), [4])).toThrow(/reshape: cannot view/);
      expect(() => concatRows(mk([2, 3]), mk([2, 4]))).toThrow(/concatRows: expected `a` \[Ra, \.\.\.\] and `b` \[Rb, \.\.\.\]/);
      expect(() => concatRows(mk([2, 3]), mk([6]))).toThrow(RangeError);
      expect(() => concatRows(mk([]), mk([]))).toThrow(RangeError);
      expect(() => concatRows(mk([2]), mk([2], 'float64'))).toThrow(TypeError);
      expect(() => meanTokens(mk([2, 3]))).toThrow(/meanTokens: expected a \[N, L, C\] tensor/);
      expect(() => meanTokens(mk([2, 0, 3]))).toThrow(RangeError);
      expect(() => meanTokens(mk([2, 2, 3], 'int32'))).toThrow(TypeError);
      expect(() => sum(mk([2], 'int32'))).toThrow(TypeError);
      const gone = mk([2, 3]);
      gone.dispose();
      for (const f of [() => add(gone, gone), () => mul(gone, gone), () => scale(gone, 2), () => reshape(gone, [6]),
        () => concatRows(gone, gone), () => meanTokens(gone), () => sum(gone), () => mean(gone)]) {
        expect(f).toThrow(/used after dispose/);
      }
    });
  });

  it('copyRows copies any dtype and checks ranges straight through the native function', () => {
    tidy(() => {
      const src = tensor(new Int32Array([1, 2, 3, 4, 5, 6, 7, 8]), [4, 2]);
      const dst = tensor(new Int32Array(10), [5, 2]);
      native.copyRows(dst.handle(), 2, src.handle(), 1, 2, 2);
      expect(Array.from(dst.toTypedArray() as Int32Array)).toEqual([0, 0, 0, 0, 3, 4, 5, 6, 0, 0]);
      native.copyRows(dst.handle(), 0, dst.handle(), 2, 2, 2); // same buffer, disjoint rows
      expect(Array.from(dst.toTypedArray() as Int32Array)).toEqual([3, 4, 5, 6, 3, 4, 5, 6, 0, 0]);
      const cp = (...args: unknown[]) => () => (native.copyRows as (...a: unknown[]) => void)(...args);
      expect(cp(dst.handle(), 4, src.handle(), 0, 2, 2)).toThrow(/copyRows: rows \[4, 6\) of width 2 reach past the 10 elements of `dst`/);
      expect(cp(dst.handle(), 0, src.handle(), 3, 2, 2)).toThrow(/copyRows: .* of `src`/);
      expect(cp(dst.handle(), 0, src.handle(), 0, 1, 9)).toThrow(RangeError);
      expect(cp(dst.handle(), 0, dst.handle(), 1, 2, 2)).toThrow(/copyRows: `dst` and `src` are the same buffer and the row ranges overlap/);
      expect(cp(dst.handle(), -1, src.handle(), 0, 1, 2)).toThrow(RangeError);
      expect(cp(dst.handle(), 0, src.handle(), 0, 2 ** 40, 2 ** 40)).toThrow(RangeError);
      expect(cp(dst.handle(), 0, mk([8]).handle(), 0, 1, 2)).toThrow(/copyRows: `src` is float32 but `dst` is int32/);
      expect(cp(dst.handle(), 0, 'src', 0, 1, 2)).toThrow(/copyRows: expected a tensor buffer for `src`/);
      expect(cp(dst.handle(), 0, src.handle(), 0, 1)).toThrow(TypeError);
      const gone = mk([4]);
      const h = gone.handle();
      gone.dispose();
      expect(cp(h, 0, mk([4]).handle(), 0, 1, 2)).toThrow(/copyRows: `dst` was disposed/);
      expect(cp(dst.handle(), 0, src.handle(), 0, 0, 2)).not.toThrow();
    });
  });
});

// copyRows on CUDA moves bytes: for every dtype its result equals the CPU's exactly (fresh random
// inputs every run; the seed is in each label). The CUDA ops concatRows needs besides copyRows
// (fill, cast) are other issues' kernels.
describe.skipIf(!cudaUsable)(`copyRows (cuda) ${cudaSkipReason}`, () => {
  /** A [rows, c] tensor of dtype on `device`: float data from randn (int32: rounded), bfloat16 cast on the device. */
  const make = (rows: number, c: number, dtype: DType, device: 'cpu' | 'cuda', seed: number): Tensor => {
    const data = randn(rows * c, seed, 100);
    if (dtype === 'int32') return tensor(Int32Array.from(data, Math.round), [rows, c], { device });
    const f = tensor(Float32Array.from(data), [rows, c], { device });
    if (dtype === 'float32') return f;
    const t = f.cast(dtype);
    f.dispose();
    return t;
  };
  const bytes = (t: Tensor) => Array.from(new Uint8Array((t.toTypedArray() as Float32Array).buffer));

  it.each([['float32'], ['bfloat16'], ['int32'], ['float64']] as [DType][])('copies rows of %s exactly as the CPU does', (dtype) => {
    const seed = freshSeed();
    for (const [dr, sr, dRow, sRow, rows, c] of [[5, 4, 2, 1, 3, 7], [9, 9, 0, 0, 9, 1], [100, 300, 37, 200, 63, 256], [4, 4, 4, 0, 0, 5], [3, 2, 1, 0, 2, 0]]) {
      tidy(() => {
        const run = (device: 'cpu' | 'cuda') => {
          const dst = make(dr, c, dtype, device, seed), src = make(sr, c, dtype, device, seed + 1);
          native.copyRows(dst.handle(), dRow, src.handle(), sRow, rows, c);
          return bytes(dst);
        };
        expect(run('cuda'), `${dtype} dst [${dr}, ${c}] rows ${dRow}.. <- src rows ${sRow}.. x ${rows} (seed ${seed})`).toEqual(run('cpu'));
      });
    }
  });

  it('copies between disjoint row ranges of one buffer', () => {
    tidy(() => {
      const run = (device: 'cpu' | 'cuda') => {
        const t = tensor(Float32Array.from({ length: 40 }, (_, i) => i), [10, 4], { device });
        native.copyRows(t.handle(), 0, t.handle(), 6, 4, 4);
        native.copyRows(t.handle(), 7, t.handle(), 1, 3, 4);
        return Array.from(t.toTypedArray() as Float32Array);
      };
      expect(run('cuda')).toEqual(run('cpu'));
    });
  });

  it('runs concatRows and its gradient split on cuda', () => {
    const seed = freshSeed();
    const A = randn(2 * 3 * 4, seed), B = randn(5 * 3 * 4, seed + 1), DY = randn(7 * 3 * 4, seed + 2);
    const run = (device: 'cpu' | 'cuda') => tidy(() => {
      const o = { device, dtype: 'float32' as const };
      const a = requireGrad(tensor(A, [2, 3, 4], o)), b = requireGrad(tensor(B, [5, 3, 4], o));
      const y = concatRows(a, b);
      expect(y.device).toBe(device);
      backward(y, tensor(DY, [7, 3, 4], o));
      const out = [y, a.grad!, b.grad!].map((t) => Array.from(t.toTypedArray() as Float32Array));
      a.grad!.dispose();
      b.grad!.dispose();
      return out;
    });
    const cpu = run('cpu'), gpu = run('cuda');
    expect(gpu, `seed ${seed}`).toEqual(cpu);
    expect(relL2(gpu[0], cpu[0])).toBe(0);
  });

  it('rejects device mixes and bad ranges on cuda before copying', () => {
    tidy(() => {
      const o = { device: 'cuda' as const };
      const dst = empty([5, 2], o), src = tensor([1, 2, 3, 4, 5, 6, 7, 8], [4, 2], o);
      const cp = (...args: unknown[]) => () => (native.copyRows as (...a: unknown[]) => void)(...args);
      expect(cp(dst.handle(), 0, src.handle(), 0, 4, 2)).not.toThrow();
      expect(cp(dst.handle(), 0, empty([4, 2]).handle(), 0, 1, 2)).toThrow(/copyRows: `src` is on cpu but `dst` is on cuda/);
      expect(cp(empty([5, 2]).handle(), 0, src.handle(), 0, 1, 2)).toThrow(/copyRows: `src` is on cuda but `dst` is on cpu/);
      expect(cp(dst.handle(), 4, src.handle(), 0, 2, 2)).toThrow(/copyRows: rows \[4, 6\) of width 2 reach past the 10 elements of `dst`/);
      expect(cp(dst.handle(), 0, src.handle(), 3, 2, 2)).toThrow(RangeError);
      expect(cp(dst.handle(), 0, dst.handle(), 1, 2, 2)).toThrow(/copyRows: `dst` and `src` are the same buffer and the row ranges overlap/);
      expect(cp(dst.handle(), 0, src.cast('bfloat16').handle(), 0, 1, 2)).toThrow(/copyRows: `src` is bfloat16 but `dst` is float32/);
      expect(() => concatRows(tensor([1, 2], [1, 2], o), tensor([1, 2], [1, 2]))).toThrow(/concatRows: `b` is on cpu but `a` is on cuda/);
    });
  });
});
