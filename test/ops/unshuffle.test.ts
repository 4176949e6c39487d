// unshuffleTokens (the MAE decoder's input): against the official composition (concatenate the
// mask token, gather by the restore index, add the position table) in values and gradients,
// finite differences, bad arguments, flat memory; on a GPU, the CUDA kernel against the CPU and
// a deterministic backward.
import { describe, expect, it } from 'vitest';

import { backward, requireGrad } from '../../lib/autograd/tape';
import { native } from '../../lib/binding';
import { add, concatRows, reshape } from '../../lib/ops/arith';
import { gatherRows } from '../../lib/ops/gather';
import { unshuffleTokens } from '../../lib/ops/unshuffle';
import { tidy } from '../../lib/tensor/scope';
import type { Device } from '../../lib/tensor/device';
import { empty, liveTensorCount, tensor, Tensor } from '../../lib/tensor/tensor';
import { expectClose, relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { expectParity, freshSeed, hostF, put, rand32, type Run } from '../helpers/cuda_compare';

/** A random MAE restore index: for each of n samples, k of t positions kept, in shuffled order. */
function restoreSrc(n: number, t: number, k: number, seed: number): Int32Array {
  const src = new Int32Array(n * t).fill(-1);
  for (let b = 0; b < n; b++) {
    const order = Array.from({ length: t }, (_, l) => l).sort((p, q) => Math.sin(seed + 7 * b + p) - Math.sin(seed + 7 * b + q));
    order.slice(0, k).forEach((l, j) => { src[b * t + l] = b * k + j; });
  }
  return src;
}

/** The official decoder input: cat([x, mask]) gathered by the restore index, plus pos. */
function composed(x: Tensor, mask: Tensor, pos: Tensor, src: Int32Array, n: number, t: number): Tensor {
  const c = mask.numel, r = x.numel / c;
  const withMask = concatRows(reshape(x, [r, c]), reshape(mask, [1, c]));
  const idx = tensor(Int32Array.from(src, (s) => (s >= 0 ? s : r)), [src.length], { dtype: 'int32', device: x.device });
  return add(reshape(gatherRows(withMask, idx), [n, t, c]), reshape(pos, [t, c]));
}

describe('unshuffleTokens (cpu)', () => {
  it.each([[2, 9, 3, 4], [3, 16, 4, 8], [1, 5, 5, 3], [2, 7, 0, 2], [4, 196, 49, 16]])('N=%i T=%i K=%i C=%i: the values and gradients of the official composition', (n, t, k, c) => {
    tidy(() => {
      const src = restoreSrc(n, t, k, n + t + k);
      const X = randn(n * k * c, 1), M = randn(c, 2), P = randn(t * c, 3), DZ = randn(n * t * c, 4);
      const run = (fused: boolean) => tidy(() => {
        const x = requireGrad(tensor(X, [n, k, c], { dtype: 'float64' }));
        const m = requireGrad(tensor(M, [1, 1, c], { dtype: 'float64' }));
        const p = requireGrad(tensor(P, [1, t, c], { dtype: 'float64' }));
        const z = fused ? unshuffleTokens(x, m, p, src) : composed(x, m, p, src, n, t);
        expect(z.shape).toEqual([n, t, c]);
        backward(z, tensor(DZ, [n, t, c], { dtype: 'float64' }));
        const out = [z, x.grad!, m.grad!, p.grad!].map((g) => Float64Array.from(g.toTypedArray() as Float64Array));
        expect([x.grad!.shape, m.grad!.shape, p.grad!.shape]).toEqual([[n, k, c], [1, 1, c], [1, t, c]]);
        [x, m, p].forEach((v) => v.grad!.dispose());
        return out;
      });
      const fused = run(true), ref = run(false);
      expect(fused[0]).toEqual(ref[0]); // the same additions
      ['dx', 'dmask', 'dpos'].forEach((name, i) => expectClose(fused[i + 1], ref[i + 1], { atol: 1e-12, rtol: 1e-12 }, name));
    });
  });

  it('matches finite differences', () => {
    const n = 2, t = 6, k = 2, c = 3;
    gradcheck((x, m, p) => unshuffleTokens(x, m, p, restoreSrc(n, t, k, 5)), [
      { data: randn(n * k * c, 11), shape: [n * k, c] },
      { data: randn(c, 12), shape: [c] },
      { data: randn(t * c, 13), shape: [t, c] },
    ]);
  });

  it('keeps the tensor count flat over steps', () => {
    const n = 2, t = 8, k = 3, c = 4;
    const x = requireGrad(tensor(randn(n * k * c, 1), [n * k, c])), m = requireGrad(tensor(randn(c, 2), [c])), p = tensor(randn(t * c, 3), [t, c]);
    expect(x.dtype).toBe(p.dtype);
    const before = liveTensorCount('cpu');
    for (let s = 0; s < 3; s++) {
      tidy(() => backward(unshuffleTokens(x, m, p, restoreSrc(n, t, k, s)), tensor(randn(n * t * c, 4), [n, t, c])));
      x.grad!.dispose();
      m.grad!.dispose();
      x.grad = m.grad = null;
    }
    expect(liveTensorCount('cpu')).toBe(before);
    [x, m, p].forEach((v) => v.dispose());
  });

  it('names bad arguments', () => {
    tidy(() => {
      const f32 = { dtype: 'float32' as const };
      const x = tensor(randn(4 * 3, 1), [4, 3], f32), m = tensor([1, 2, 3], [3], f32), p = tensor(randn(6 * 3, 2), [6, 3], f32);
      const src = restoreSrc(2, 6, 2, 1);
      expect(() => unshuffleTokens(x, m, p, src)).not.toThrow();
      expect(() => unshuffleTokens(x, m, p, Array.from(src) as unknown as Int32Array)).toThrow(/unshuffleTokens: expected an Int32Array for `src`/);
      expect(() => unshuffleTokens(x, tensor([1, 2], [2]), p, src)).toThrow(/expected 3 elements for `maskToken`/);
      expect(() => unshuffleTokens(x, m, tensor([1, 2], [2]), src)).toThrow(/expected `pos` of T·3 elements/);
      expect(() => unshuffleTokens(x, m, p, src.subarray(0, 7))).toThrow(/`src` has 7 entries, not a multiple of T = 6/);
      const bad = src.slice();
      bad[bad.indexOf(-1)] = 9;
      expect(() => unshuffleTokens(x, m, p, bad)).toThrow(/`src`\[\d+\] = 9 is outside \[-1, 4\)/);
      const twice = src.slice();
      twice[twice.indexOf(-1)] = 0;
      expect(() => unshuffleTokens(x, m, p, twice)).toThrow(/row 0 of `x` is placed twice/);
      const missing = src.slice();
      missing[missing.indexOf(3)] = -1;
      expect(() => unshuffleTokens(x, m, p, missing)).toThrow(/row 3 of `x` is placed nowhere/);
      expect(() => unshuffleTokens(x, tensor([1, 2, 3], [3], { dtype: 'float64' }), p, src)).toThrow(/`maskToken` is float64/);
      // straight through the native function
      const call = (...a: unknown[]) => () => (native.unshuffleTokens as (...x: unknown[]) => void)(...a);
      const out = empty([12, 3]), srcT = tensor(src, [12], { dtype: 'int32' });
      expect(call(out.handle(), x.handle(), m.handle(), p.handle(), srcT.handle(), 2, 6, 4, 3)).not.toThrow();
      expect(call(out.handle(), x.handle(), m.handle(), p.handle(), tensor(bad, [12], { dtype: 'int32' }).handle(), 2, 6, 4, 3))
        .toThrow(/unshuffleTokens: `src`\[\d+\] = 9 is outside \[-1, 4\)/);
      expect(call(out.handle(), x.handle(), m.handle(), p.handle(), srcT.handle(), 2, 6, 5, 3)).toThrow(/unshuffleTokens: `x` has 12 elements/);
      const p2 = tensor(randn(2 * 3, 3), [2, 3], f32), all = tensor([0, 1, 2, 3], [4], { dtype: 'int32' });
      expect(call(empty([12]).handle(), x.handle(), m.handle(), p2.handle(), all.handle(), 2, 2, 4, 3)).not.toThrow();
      expect(call(x.handle(), x.handle(), m.handle(), p2.handle(), all.handle(), 2, 2, 4, 3)).toThrow(/unshuffleTokens: `out` and `x`/);
      expect(call(out.handle(), x.handle(), m.handle(), p.handle(), tensor([0], [1]).handle(), 2, 6, 4, 3)).toThrow(/unshuffleTokens: `src` is float32/);
    });
  });
});

describe.skipIf(!cudaUsable)(`unshuffleTokens (cuda) ${cudaSkipReason}`, () => {
  // [N, T, K, C]: the decoder's shape at batch 4 (8-wide path), and a width that is no multiple of 8
  it.each([[4, 196, 49, 512], [3, 16, 4, 13], [2, 9, 0, 8]])('N=%i T=%i K=%i C=%i against the CPU, deterministic', (n, t, k, c) => {
    const seed = freshSeed();
    const src = restoreSrc(n, t, k, seed);
    const fwd: Run = (device, mode, [X, M, P]) => tidy(() =>
      [hostF(unshuffleTokens(put(X, [n * k, c], device, mode), put(M, [c], device, mode), put(P, [t, c], device, mode), src))]);
    expectParity(`unshuffleTokens (seed ${seed})`, fwd, [rand32(n * k * c, seed), rand32(c, seed + 1), rand32(t * c, seed + 2)], ['out']);
    const grads = (device: Device) => tidy(() => {
      const o = { device, dtype: 'float32' as const };
      const [x, m, p] = [tensor(rand32(n * k * c, seed), [n * k, c], o), tensor(rand32(c, seed + 1), [c], o), tensor(rand32(t * c, seed + 2), [t, c], o)].map(requireGrad);
      backward(unshuffleTokens(x, m, p, src), tensor(rand32(n * t * c, seed + 3), [n, t, c], o));
      const g = [x, m, p].map((v) => hostF(v.grad!));
      [x, m, p].forEach((v) => v.grad!.dispose());
      return g;
    });
    const cpu = grads('cpu'), gpu = grads('cuda'), again = grads('cuda');
    ['dx', 'dmask', 'dpos'].forEach((name, i) => {
      expect(relL2(gpu[i], cpu[i]), `${name} (seed ${seed})`).toBeLessThanOrEqual(1e-5);
      expect(Array.from(again[i]), `${name} run twice`).toEqual(Array.from(gpu[i]));
    });
  });
});
