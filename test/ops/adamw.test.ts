// adamwStep: several steps against the torch.optim.AdamW formulas evaluated in float64 here, a
// step worked by hand, and every bad argument through the TS API and straight through the native
// function; on a GPU, the CUDA kernel against the CPU one. adamwMultiStep: each tensor ends
// exactly as adamwStep leaves it (CPU), its bad arguments, and on a GPU more tensors than one
// launch takes against the CPU.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { adamwMultiStep, adamwStep } from '../../lib/ops/adamw';
import type { AdamwOptions, AdamwTensor } from '../../lib/ops/adamw';
import { tidy } from '../../lib/tensor/scope';
import { empty, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { Device } from '../../lib/tensor/device';
import { expectClose, relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { randn } from '../helpers/gradcheck';
import { freshSeed } from '../helpers/cuda_compare';

/** One AdamW step in float64, in place on p, m, v (torch.optim.AdamW, decoupled weight decay). */
function refStep(p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, o: AdamwOptions): void {
  const bc1 = 1 - o.beta1 ** o.step, bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < p.length; i++) {
    p[i] -= o.lr * o.weightDecay * p[i];
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
    p[i] -= o.lr * (m[i] / bc1) / (Math.sqrt(v[i] / bc2) + o.eps);
  }
}

const OPTS: Record<string, Omit<AdamwOptions, 'step'>> = {
  finetune: { lr: 2e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05 },
  pretrain: { lr: 1.5e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05 },
  noDecay: { lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0 },
  noMomentum: { lr: 0.1, beta1: 0, beta2: 0, eps: 1e-3, weightDecay: 0.5 },
};

describe('adamwStep', () => {
  it.each(Object.keys(OPTS))('follows the float64 reference over 6 steps (%s)', (name) => {
    const n = 40005; // several parallel_for chunks
    const p = randn(n, 1, 0.5), m = new Float64Array(n), v = new Float64Array(n);
    tidy(() => {
      const P = tensor(Float32Array.from(p), [5, 8001]);
      const M = zeros([5, 8001]), V = zeros([n]);
      Float64Array.from(Float32Array.from(p)).forEach((x, i) => (p[i] = x));
      for (let step = 1; step <= 6; step++) {
        const g = Float64Array.from(Float32Array.from(randn(n, 100 + step, step === 3 ? 1e-3 : 1)));
        const opts = { ...OPTS[name], step };
        refStep(p, g, m, v, opts);
        const G = tensor(Float32Array.from(g), [n]);
        adamwStep(P, G, M, V, opts);
        G.dispose();
      }
      const tol = { atol: 1e-7, rtol: 1e-5 };
      expectClose(P.toTypedArray() as Float32Array, p, tol, `${name} param`);
      expectClose(M.toTypedArray() as Float32Array, m, tol, `${name} m`);
      expectClose(V.toTypedArray() as Float32Array, v, { atol: 1e-12, rtol: 1e-5 }, `${name} v`);
    });
  });

  it('matches a step worked by hand', () => {
    // p = 1, g = 0.5, lr = 0.1, wd = 0.05, step 1: decay gives 0.995; m̂ = 0.5 and v̂ = 0.25, so
    // the Adam step is 0.1 · 0.5 / (0.5 + 1e-8) and p = 0.895 (up to 2e-9).
    tidy(() => {
      const p = tensor([1, -2]), g = tensor([0.5, 0]), m = zeros([2]), v = zeros([2]);
      adamwStep(p, g, m, v, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, step: 1 });
      expectClose(p.toTypedArray() as Float32Array, [0.895, -2 * 0.995], { atol: 1e-7, rtol: 0 }, 'hand step');
      expectClose(m.toTypedArray() as Float32Array, [0.05, 0], { atol: 0, rtol: 1e-6 }, 'm');
      expectClose(v.toTypedArray() as Float32Array, [0.00025, 0], { atol: 0, rtol: 1e-6 }, 'v'); // float32 rounding
    });
  });

  it('rejects bad arguments through the TS API', () => {
    tidy(() => {
      const p = zeros([4]), g = zeros([4]), m = zeros([4]), v = zeros([4]);
      const o: AdamwOptions = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, step: 1 };
      expect(() => adamwStep(p, g, m, v, o)).not.toThrow();
      expect(() => adamwStep(p, zeros([5]), m, v, o)).toThrow(/adamwStep: expected 4 elements .* for `grad` but got \[5\]/);
      expect(() => adamwStep(p, g, m, zeros([2, 2]), o)).not.toThrow();
      expect(() => adamwStep(p, g, zeros([3]), v, o)).toThrow(RangeError);
      const d = (x: number[]) => tensor(x, [x.length], { dtype: 'float64' });
      expect(() => adamwStep(d([0, 0]), d([0, 0]), d([0, 0]), d([0, 0]), o)).toThrow(/adamwStep: expected a float32 tensor for `param` but got "float64"/);
      expect(() => adamwStep(p, d([0, 0, 0, 0]), m, v, o)).toThrow(/adamwStep: `grad` is float64 but `param` is float32/);
      expect(() => adamwStep(p, g, m, v, { ...o, step: 0 })).toThrow(RangeError);
      expect(() => adamwStep(p, g, m, v, { ...o, step: 1.5 })).toThrow(/adamwStep: expected an integer for `opts.step`/);
      expect(() => adamwStep(p, g, m, v, { ...o, beta1: 1 })).toThrow(/adamwStep: expected a number in \[0, 1\) for `opts.beta1` but got 1/);
      expect(() => adamwStep(p, g, m, v, { ...o, beta2: -0.1 })).toThrow(RangeError);
      expect(() => adamwStep(p, g, m, v, { ...o, lr: -1 })).toThrow(/adamwStep: expected a number >= 0 for `opts.lr`/);
      expect(() => adamwStep(p, g, m, v, { ...o, lr: Infinity })).toThrow(RangeError);
      expect(() => adamwStep(p, g, m, v, { ...o, eps: NaN })).toThrow(TypeError);
      expect(() => adamwStep(p, g, m, v, { ...o, weightDecay: '0' as unknown as number })).toThrow(TypeError);
      expect(() => adamwStep(p, g, m, v, undefined as unknown as AdamwOptions)).toThrow(/adamwStep: expected an options object for `opts`/);
      expect(() => adamwStep(p, g, 3 as unknown as Tensor, v, o)).toThrow(/adamwStep: expected a Tensor for `m`/);
      const gone = zeros([4]);
      gone.dispose();
      expect(() => adamwStep(p, g, m, gone, o)).toThrow(/adamwStep: `v` was used after dispose/);
      expect(() => adamwStep(p, g, m, m, o)).toThrow(/adamw: `m` and `v` are the same buffer/);
      expect(() => adamwStep(p, p.reshape([2, 2]), m, v, o)).toThrow(/adamw: `param` and `grad` are the same buffer/);
    });
  });

  it('rejects bad buffers and hyperparameters straight through the native function', () => {
    tidy(() => {
      const [p, g, m, v] = [zeros([4]), zeros([4]), zeros([4]), zeros([4])].map((x) => x.handle());
      const call = (...over: unknown[]) => () => (native.adamw as unknown as (...a: unknown[]) => void)(
        ...[p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0.05, 1].map((x, i) => (i < over.length && over[i] !== undefined ? over[i] : x)));
      expect(call()).not.toThrow();
      expect(call(undefined, zeros([5]).handle())).toThrow(/adamw: `grad` has 5 elements but the given sizes need 4/);
      expect(call(zeros([4], { dtype: 'float64' }).handle())).toThrow(/adamw: `param` is float64 but float32 was expected/);
      expect(call(undefined, undefined, zeros([4], { dtype: 'float64' }).handle())).toThrow(TypeError);
      expect(call(undefined, undefined, tensor(new Int32Array(4)).handle())).toThrow(TypeError);
      expect(call(undefined, p)).toThrow(/adamw: `param` and `grad` are the same buffer/);
      expect(call(undefined, undefined, undefined, m)).toThrow(/adamw: `m` and `v` are the same buffer/);
      expect(call(undefined, undefined, undefined, undefined, -1)).toThrow(/adamw: `lr`/);
      expect(call(undefined, undefined, undefined, undefined, NaN)).toThrow(RangeError);
      expect(call(undefined, undefined, undefined, undefined, undefined, 1)).toThrow(/adamw: `beta1` = 1\.0+ is outside \[0, 1\)/);
      expect(call(undefined, undefined, undefined, undefined, undefined, undefined, NaN)).toThrow(/adamw: `beta2`/);
      expect(call(undefined, undefined, undefined, undefined, undefined, undefined, undefined, -1e-8)).toThrow(/adamw: `eps`/);
      expect(call(undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, Infinity)).toThrow(/adamw: `weightDecay`/);
      expect(call(undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 0)).toThrow(RangeError);
      expect(call(undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 2.5)).toThrow(TypeError);
      expect(call(undefined, undefined, undefined, undefined, '1e-3')).toThrow(/adamw: expected a number for `lr`/);
      expect(call(null)).toThrow(/adamw: expected a tensor buffer for `param`/);
      const dead = zeros([4]);
      const dh = dead.handle();
      dead.dispose();
      expect(call(undefined, dh)).toThrow(/adamw: `grad` was disposed/);
    });
  });
});

/** Sizes for multi-tensor steps: empty, tiny, several 4096-element chunks, more than one launch's 48. */
const MULTI_SIZES = [0, 1, 7, 4096, 4097, 20000, ...Array.from({ length: 55 }, (_, i) => 3 + 97 * i)];

/** Runs `steps` multi-tensor (or per-tensor) steps from seeded state; returns every param, m, v. */
function multiRun(device: Device, seed: number, steps: number, multi: boolean): Float32Array[] {
  return tidy(() => {
    const f32 = (n: number, s: number, scale = 1) => Float32Array.from(randn(n, s, scale));
    const ts: AdamwTensor[] = MULTI_SIZES.map((n, i) => ({
      param: tensor(f32(n, seed + i, 0.5), [n], { device }), grad: zeros([n], { device }), m: zeros([n], { device }), v: zeros([n], { device }),
      lr: 1e-3 * (1 + (i % 3)), weightDecay: i % 2 ? 0.05 : 0,
    }));
    for (let step = 1; step <= steps; step++) {
      ts.forEach((t, i) => { t.grad.dispose(); t.grad = tensor(f32(t.param.numel, seed + 1000 * step + i), [t.param.numel], { device }); });
      const hyper = { beta1: 0.9, beta2: 0.95, eps: 1e-8, step };
      if (multi) adamwMultiStep(ts, hyper);
      else ts.forEach((t) => adamwStep(t.param, t.grad, t.m, t.v, { ...hyper, lr: t.lr, weightDecay: t.weightDecay }));
    }
    return ts.flatMap((t) => [t.param, t.m, t.v].map((x) => x.toTypedArray() as Float32Array));
  });
}

describe('adamwMultiStep', () => {
  it('leaves every tensor exactly as adamwStep does, over 3 steps', () => {
    const multi = multiRun('cpu', 11, 3, true), single = multiRun('cpu', 11, 3, false);
    multi.forEach((x, i) => expect(Array.from(x), `array ${i}`).toEqual(Array.from(single[i])));
    expect(multi[3 * 5].some((x, i) => x !== Float32Array.from(randn(20000, 11 + 5, 0.5))[i])).toBe(true); // params moved
  });

  it('rejects bad arguments with their place in the list', () => {
    tidy(() => {
      const t = (): AdamwTensor => ({ param: zeros([4]), grad: zeros([4]), m: zeros([4]), v: zeros([4]), lr: 1e-3, weightDecay: 0 });
      const h = { beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1 };
      expect(() => adamwMultiStep([t(), t()], h)).not.toThrow();
      expect(() => adamwMultiStep([], h)).not.toThrow();
      expect(() => adamwMultiStep(null as unknown as AdamwTensor[], h)).toThrow(/adamwMultiStep: expected an array/);
      expect(() => adamwMultiStep([t(), { ...t(), grad: zeros([5]) }], h)).toThrow(/adamwMultiStep: expected 4 elements .* for `tensors\[1\]\.grad` but got \[5\]/);
      expect(() => adamwMultiStep([t(), { ...t(), lr: -1 }], h)).toThrow(/adamwMultiStep: expected a number >= 0 for `tensors\[1\]\.lr`/);
      expect(() => adamwMultiStep([{ ...t(), weightDecay: NaN }], h)).toThrow(TypeError);
      expect(() => adamwMultiStep([t(), { ...t(), lr: '1e-3' as unknown as number }], h)).toThrow(/adamwMultiStep: expected a number for `tensors\[1\]\.lr`/);
      const gone = zeros([4]);
      gone.dispose();
      expect(() => adamwMultiStep([t(), t(), { ...t(), grad: gone }], h)).toThrow(/adamwMultiStep: `tensors\[2\]\.grad` was used after dispose/);
      expect(() => adamwMultiStep([t(), { ...t(), m: zeros([2, 2]) }], h)).not.toThrow();
      expect(() => adamwMultiStep([t(), { ...t(), v: zeros([4], { dtype: 'float64' }) }], h)).toThrow(/`tensors\[1\]\.v` is float64 but `tensors\[1\]\.param` is float32/);
      expect(() => adamwMultiStep([t(), 3 as unknown as AdamwTensor], h)).toThrow(/adamwMultiStep: expected an object .* for `tensors\[1\]`/);
      expect(() => adamwMultiStep([t()], { ...h, beta2: 1 })).toThrow(/adamwMultiStep: expected a number in \[0, 1\) for `opts.beta2`/);
      expect(() => adamwMultiStep([t()], { ...h, step: 0 })).toThrow(RangeError);
      const a = t();
      expect(() => adamwMultiStep([a, { ...t(), m: a.v }], h)).toThrow(/adamwMulti: `ms\[1\]` is a buffer given twice/);
      expect(() => adamwMultiStep([a, a], h)).toThrow(/given twice/);
      const d = zeros([4], { dtype: 'float64' });
      expect(() => adamwMultiStep([{ ...t(), param: d }], h)).toThrow(/adamwMultiStep: `tensors\[0\]\.grad` is float32 but `tensors\[0\]\.param` is float64|float32 tensor/);
    });
  });

  it('rejects bad lists straight through the native function', () => {
    tidy(() => {
      const b = () => zeros([4]).handle();
      const call = (...a: unknown[]) => () => (native.adamwMulti as unknown as (...x: unknown[]) => void)(...a);
      const ok = [[b()], [b()], [b()], [b()], [1e-3], [0], 0.9, 0.999, 1e-8, 1];
      expect(call(...ok)).not.toThrow();
      expect(call(...[ok[0], [], ...ok.slice(2)])).toThrow(/adamwMulti: `grads` has 0 entries but `params` has 1/);
      expect(call(...[ok[0], ok[1], ok[2], ok[3], [-1], ...ok.slice(5)])).toThrow(/adamwMulti: `lrs\[0\]` must be a finite number >= 0/);
      expect(call(...[[3], ...ok.slice(1)])).toThrow(/adamwMulti: expected a tensor buffer for `params\[0\]`/);
      expect(call(...['x', ...ok.slice(1)])).toThrow(/adamwMulti: expected an array for `params`/);
      expect(call(...[[zeros([5]).handle()], ...ok.slice(1)])).toThrow(/adamwMulti: `grads\[0\]` has 4 elements but the given sizes need 5/);
      expect(call(...[...ok.slice(0, 6), 1, ...ok.slice(7)])).toThrow(/adamwMulti: `beta1`/);
    });
  });
});

// The CUDA kernel against the CPU one (float32 only) on fresh random inputs every run (the seed
// is in each label): both run the same double arithmetic, so after several steps param, m and v
// agree within relative L2 1e-5 (in practice to the last bit or two).
describe.skipIf(!cudaUsable)(`adamwStep (cuda) ${cudaSkipReason}`, () => {
  const f32 = (n: number, seed: number, scale = 1) => Float32Array.from(randn(n, seed, scale));

  it.each(Object.keys(OPTS))('follows the CPU over 6 steps (%s)', (name) => {
    const seed = freshSeed(), shape = [7, 5001];
    const n = shape[0] * shape[1];
    const P0 = f32(n, seed, 0.5), grads = [1, 2, 3, 4, 5, 6].map((step) => f32(n, seed + step, step === 3 ? 1e-3 : 1));
    const run = (device: Device) => tidy(() => {
      const p = tensor(P0, shape, { device }), m = zeros(shape, { device }), v = zeros([n], { device });
      grads.forEach((g, i) => adamwStep(p, tensor(g, [n], { device }), m, v, { ...OPTS[name], step: i + 1 }));
      return [p, m, v].map((t) => t.toTypedArray() as Float32Array);
    });
    const cpu = run('cpu'), gpu = run('cuda');
    ['param', 'm', 'v'].forEach((what, k) => expect(relL2(gpu[k], cpu[k]), `${name} ${what} (seed ${seed})`).toBeLessThanOrEqual(1e-5));
  });

  it('matches the step worked by hand and handles an empty tensor', () => {
    tidy(() => {
      const o = { device: 'cuda' as const };
      const p = tensor([1, -2], [2], o), g = tensor([0.5, 0], [2], o), m = zeros([2], o), v = zeros([2], o);
      adamwStep(p, g, m, v, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, step: 1 });
      expectClose(p.toTypedArray() as Float32Array, [0.895, -2 * 0.995], { atol: 1e-7, rtol: 0 }, 'hand step');
      expectClose(m.toTypedArray() as Float32Array, [0.05, 0], { atol: 0, rtol: 1e-6 }, 'm');
      const e = () => empty([0], o);
      expect(() => adamwStep(e(), e(), e(), e(), { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, step: 1 })).not.toThrow();
    });
  });

  it('rejects device mixes, bfloat16 and shared buffers on cuda', () => {
    tidy(() => {
      const o = { device: 'cuda' as const };
      const opts = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, step: 1 };
      const [p, g, m, v] = [zeros([4], o), zeros([4], o), zeros([4], o), zeros([4], o)];
      expect(() => adamwStep(p, g, m, v, opts)).not.toThrow();
      expect(() => adamwStep(p, zeros([4]), m, v, opts)).toThrow(/adamwStep: `grad` is on cpu but `param` is on cuda/);
      const b = (t: Tensor) => t.cast('bfloat16');
      expect(() => adamwStep(b(p), b(g), b(m), b(v), opts)).toThrow(/adamwStep: expected a float32 tensor for `param` but got "bfloat16"/);
      const call = (...bufs: Tensor[]) => () => native.adamw(bufs[0].handle(), bufs[1].handle(), bufs[2].handle(), bufs[3].handle(), 1e-3, 0.9, 0.999, 1e-8, 0.05, 1);
      expect(call(b(p), b(g), b(m), b(v))).toThrow(/adamw: `param` is bfloat16 but float32 was expected/);
      expect(call(p, g, zeros([4]), v)).toThrow(/adamw: `m` is on cpu but `param` is on cuda/);
      expect(call(p, g, m, m)).toThrow(/adamw: `m` and `v` are the same buffer/);
    });
  });

  it('adamwMultiStep over more tensors than one launch takes follows the CPU over 3 steps', () => {
    const seed = freshSeed();
    const cpu = multiRun('cpu', seed, 3, true), gpu = multiRun('cuda', seed, 3, true);
    gpu.forEach((x, i) => expect(relL2(x, cpu[i]), `array ${i} (seed ${seed})`).toBeLessThanOrEqual(1e-5));
  });
});
