// castMulti (native) and castAllTo (differentiable): each pair converted exactly as cast converts
// it (on every device: the CUDA kernel takes float32 <-> bfloat16 pairs in one launch, others one
// by one), one tape entry for all, gradients cast back to each input's dtype, bad arguments
// named; on a GPU, castAllTo against one castTo per tensor.
import { describe, expect, it } from 'vitest';

import { backward, needsGrad, requireGrad, tapeLength } from '../../lib/autograd/tape';
import { native } from '../../lib/binding';
import { castAllTo, castTo } from '../../lib/ops/cast';
import { add, mul, sum } from '../../lib/ops/arith';
import { tidy } from '../../lib/tensor/scope';
import type { DType } from '../../lib/tensor/dtype';
import { empty, tensor, Tensor } from '../../lib/tensor/tensor';
import { cudaSkipReason, cudaUsable, devices } from '../helpers/devices';
import { randn } from '../helpers/gradcheck';

/** The sum of the sums of some tensors (a scalar to backpropagate from). */
const total = (ts: Tensor[]): Tensor => ts.map((t) => sum(t)).reduce((p, q) => add(p, q));

/** Tensors of the given sizes and dtypes on a device, filled with scaled normal samples. */
function inputs(sizes: number[], dtypes: DType[], device: 'cpu' | 'cuda', seed: number): Tensor[] {
  return sizes.map((n, i) => {
    const f = tensor(randn(n, seed + i, 100), [n], { device, dtype: 'float32' });
    if (dtypes[i] === 'float32') return f;
    const t = f.cast(dtypes[i]);
    f.dispose();
    return t;
  });
}

describe.each(devices)('castMulti on %s', (device) => {
  it('converts every pair as cast does', () => {
    tidy(() => {
      // pairs around the CUDA launch's chunk (4096) and entry limit (96), and non-policy pairs
      const sizes = [1, 7, 4096, 4097, 9000, ...Array.from({ length: 100 }, (_, i) => 3 + i * 5)];
      const from: DType[] = sizes.map((_, i) => (i % 7 === 3 ? 'float64' : i % 2 ? 'bfloat16' : 'float32'));
      const to: DType[] = sizes.map((_, i) => (i % 7 === 3 ? 'float32' : i % 11 === 5 ? 'int32' : from[i] === 'float32' ? 'bfloat16' : 'float32'));
      const ins = inputs(sizes, from, device, 3);
      const outs = ins.map((x, i) => empty([x.numel], { dtype: to[i], device }));
      native.castMulti(outs.map((t) => t.handle()), ins.map((t) => t.handle()));
      ins.forEach((x, i) => {
        const want = x.cast(to[i]);
        expect(Array.from(outs[i].toTypedArray() as ArrayLike<number>), `pair ${i} ${from[i]} -> ${to[i]}`)
          .toEqual(Array.from(want.toTypedArray() as ArrayLike<number>));
      });
      native.castMulti([], []); // nothing to do
    });
  });

  it('names bad arguments', () => {
    tidy(() => {
      const a = empty([4], { device }), b = empty([4], { dtype: 'float64', device }), c = empty([5], { device });
      const call = (...args: unknown[]) => () => (native.castMulti as (...x: unknown[]) => void)(...args);
      expect(call(a.handle(), [b.handle()])).toThrow(/castMulti: expected an array for `outs`/);
      expect(call([a.handle()], [b.handle(), b.handle()])).toThrow(/castMulti: `ins` has 2 entries but `outs` has 1/);
      expect(call([a.handle()], [c.handle()])).toThrow(/castMulti: `ins\[0\]` has 5 elements/);
      expect(call([a.handle(), a.handle()], [b.handle(), b.handle()])).toThrow(/castMulti: `outs\[1\]` is a buffer given twice/);
      expect(call([a.handle(), b.handle()], [b.handle(), empty([4], { device }).handle()])).toThrow(/castMulti: an entry of `ins` is also an entry of `outs`/);
      expect(call([a.handle()], [{}])).toThrow(/castMulti: expected a tensor buffer for `ins\[0\]`/);
      const gone = empty([4], { device });
      const h = gone.handle();
      gone.dispose();
      expect(call([a.handle()], [h])).toThrow(/castMulti: `ins\[0\]` was disposed/);
      if (device === 'cuda') expect(call([a.handle()], [empty([4]).handle()])).toThrow(/castMulti: `ins\[0\]` is on cpu but cuda was expected/);
    });
  });
});

describe('castAllTo', () => {
  it('casts in one recorded op and sends each gradient back in its input\'s dtype', () => {
    tidy(() => {
      const a = requireGrad(tensor([1, 2, 3], [3], { dtype: 'float32' }));
      const b = requireGrad(tensor([4, 5], [2], { dtype: 'float32' }));
      const c = tensor([6], [1], { dtype: 'float32' }); // no gradient wanted
      const d = requireGrad(tensor([7, 8], [2], { dtype: 'float64' })); // already float64: itself
      const before = tapeLength();
      const [ca, cb, cc, cd, ca2] = castAllTo([a, b, c, d, a], 'float64');
      expect(tapeLength() - before).toBe(1);
      expect(cd).toBe(d);
      expect(ca2).toBe(ca); // a given twice is cast once
      expect([ca, cb, cc].map((t) => t.dtype)).toEqual(['float64', 'float64', 'float64']);
      expect(Array.from(cb.toTypedArray() as Float64Array)).toEqual([4, 5]);
      const w = (vals: number[]) => tensor(vals, [vals.length], { dtype: 'float64' });
      backward(total([mul(ca, w([1, 10, 100])), mul(cb, w([2, 3])), mul(cc, w([5])), mul(cd, w([7, 9]))]));
      expect(a.grad!.dtype).toBe('float32');
      expect(Array.from(a.grad!.toFloat32Array())).toEqual([1, 10, 100]);
      expect(Array.from(b.grad!.toFloat32Array())).toEqual([2, 3]);
      expect(c.grad).toBeNull();
      expect(needsGrad(cc), 'the cast of a tensor without a gradient takes none').toBe(false);
      expect(d.grad!.dtype).toBe('float64');
      expect(Array.from(d.grad!.toTypedArray() as Float64Array)).toEqual([7, 9]);
      [a, b, d].forEach((t) => t.grad!.dispose());
    });
  });

  it('rejects mixed devices and non-float inputs', () => {
    tidy(() => {
      expect(() => castAllTo([tensor([1], [1], { dtype: 'int32' })], 'float32')).toThrow(/castAllTo/);
      expect(() => castAllTo([tensor([1], [1])], 'float7' as DType)).toThrow(/castAllTo/);
      if (cudaUsable) expect(() => castAllTo([tensor([1], [1]), tensor([1], [1], { device: 'cuda' })], 'float64')).toThrow(/`xs\[1\]` is on cuda but `xs\[0\]` is on cpu/);
    });
  });
});

describe.skipIf(!cudaUsable)(`castAllTo on cuda ${cudaSkipReason}`, () => {
  it('gives the values and gradients of one castTo per tensor, float32 <-> bfloat16', () => {
    const run = (multi: boolean) => tidy(() => {
      const xs = inputs([5000, 3, 96], ['float32', 'float32', 'float32'], 'cuda', 11).map(requireGrad);
      const ys = multi ? castAllTo(xs, 'bfloat16') : xs.map((x) => castTo(x, 'bfloat16'));
      const f = ys.map((y) => y.cast('float32').toFloat32Array());
      // float32 weights that are not exact in bfloat16, so the gradients' rounding shows
      backward(total(ys.map((y, i) => mul(castTo(y, 'float32'), tensor(randn(y.numel, 40 + i), [y.numel], { device: 'cuda', dtype: 'float32' })))));
      const g = xs.map((x) => x.grad!.toFloat32Array());
      xs.forEach((x) => x.grad!.dispose());
      return [...f, ...g];
    });
    const one = run(false), all = run(true);
    one.forEach((a, i) => expect(Array.from(all[i]), `output ${i}`).toEqual(Array.from(a)));
  });
});
