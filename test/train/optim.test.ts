// The optimizers of lib/train/optim.ts against float64 references written from the formulas
// (AdamW: torch.optim.AdamW with per-group lr scale and weight decay; LARS: SPEC.md §7), their
// state round trip, and the ConvMAE-B layer-decay groups (SPEC.md §6.4) computed from the
// parameter names of a real ConvViT with base depths.
import { describe, expect, it } from 'vitest';

import { preset } from '../../lib/models/config';
import { ConvViT } from '../../lib/models/convvit';
import { param } from '../../lib/nn/module';
import { keep } from '../../lib/tensor/scope';
import { Tensor, tensor } from '../../lib/tensor/tensor';
import { AdamW, LARS, clipGradNorm, gradNorm } from '../../lib/train/optim';
import { memory } from '../../lib/tensor/memory';
import { devices } from '../helpers/devices';
import { ParamGroup, finetuneParamGroups } from '../../lib/train/param_groups';
import { expectClose } from '../helpers/close';
import { convvitBFinetune } from './convmae_b_params';

function values(n: number, seed: number, scale = 1): Float64Array {
  // Deterministic, varied magnitudes and signs, exactly representable in float32.
  return Float64Array.from({ length: n }, (_, i) => Math.fround(scale * Math.sin(seed * 7.1 + i * 1.37) * (1 + (i % 3))));
}

function makeParam(v: Float64Array, shape: number[]): Tensor {
  return keep(param(tensor(Float32Array.from(v), shape)));
}

function setGrad(p: Tensor, g: Float64Array): void {
  p.grad?.dispose();
  p.grad = keep(tensor(Float32Array.from(g), p.shape.slice()));
}

const TOL = { atol: 1e-6, rtol: 1e-5 };

describe('AdamW with parameter groups', () => {
  const shapes: Record<string, number[]> = { 'w': [3, 4], 'b': [4], 'e': [2, 2] };
  const groups: ParamGroup[] = [
    { name: 'layer_0_decay', params: ['w'], weightDecay: 0.05, lrScale: 0.65 ** 2 },
    { name: 'layer_0_no_decay', params: ['b'], weightDecay: 0, lrScale: 0.65 ** 2 },
    { name: 'layer_2_decay', params: ['e'], weightDecay: 0.1, lrScale: 1 },
  ];

  /** torch.optim.AdamW in float64 for one group member. */
  function ref(p: Float64Array, grads: Float64Array[], lrs: number[], o: { wd: number; scale: number; b1: number; b2: number; eps: number }): Float64Array {
    const m = new Float64Array(p.length), v = new Float64Array(p.length);
    const x = Float64Array.from(p);
    grads.forEach((g, t) => {
      const lr = lrs[t] * o.scale;
      const step = t + 1;
      for (let i = 0; i < x.length; i++) {
        x[i] -= lr * o.wd * x[i];
        m[i] = o.b1 * m[i] + (1 - o.b1) * g[i];
        v[i] = o.b2 * v[i] + (1 - o.b2) * g[i] * g[i];
        x[i] -= (lr * (m[i] / (1 - o.b1 ** step))) / (Math.sqrt(v[i] / (1 - o.b2 ** step)) + o.eps);
      }
    });
    return x;
  }

  it('matches the float64 reference over 4 steps with group lr scales and weight decays', () => {
    const init = Object.fromEntries(Object.entries(shapes).map(([k, s], j) => [k, values(s.reduce((a, b) => a * b, 1), j + 1)]));
    const named = new Map(Object.entries(shapes).map(([k, s]) => [k, makeParam(init[k], s)]));
    const opt = new AdamW(named, groups, { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const lrs = [0, 1e-3, 2e-2, 5e-3]; // the first step has lr 0 (schedule), state still advances
    const grads: Record<string, Float64Array[]> = {};
    for (let t = 0; t < lrs.length; t++) {
      for (const [k, p] of named) {
        const g = values(p.numel, 10 * t + k.charCodeAt(0), 0.1);
        (grads[k] ??= []).push(g);
        setGrad(p, g);
      }
      opt.step(lrs[t]);
    }
    expect(opt.steps).toBe(4);
    for (const g of groups) {
      for (const k of g.params) {
        const want = ref(init[k], grads[k], lrs, { wd: g.weightDecay, scale: g.lrScale, b1: 0.9, b2: 0.999, eps: 1e-8 });
        expectClose(named.get(k)!.toFloat32Array(), want, TOL, k);
      }
    }
    // A hand-worked first step with lr 1e-3 on a single element: wd then Adam moves it by lr (|m̂/√v̂| = 1).
    const p = makeParam(Float64Array.of(2), [1]);
    const single = new AdamW(new Map([['p', p]]), [{ name: 'g', params: ['p'], weightDecay: 0.05, lrScale: 0.5 }]);
    setGrad(p, Float64Array.of(-3));
    single.step(1e-3);
    expect(p.toFloat32Array()[0]).toBeCloseTo(2 - 0.5e-3 * 0.05 * 2 + 0.5e-3, 6);
    for (const t of [...named.values(), p]) { t.grad?.dispose(); t.dispose(); }
    opt.dispose();
    single.dispose();
  });

  it('state records restore an identical continuation', () => {
    const init = (k: string, j: number) => values(shapes[k].reduce((a, b) => a * b, 1), j + 1);
    const a = new Map(Object.keys(shapes).map((k, j) => [k, makeParam(init(k, j), shapes[k])]));
    const oa = new AdamW(a, groups);
    const grad = (t: number, k: string, p: Tensor) => values(p.numel, 3 * t + k.length, 0.2);
    for (let t = 0; t < 2; t++) {
      for (const [k, p] of a) setGrad(p, grad(t, k, p));
      oa.step(1e-2);
    }
    // b gets a's weights and optimizer state, as a resumed run does.
    const b = new Map([...a].map(([k, p]) => [k, makeParam(Float64Array.from(p.toFloat32Array()), shapes[k])]));
    const ob = new AdamW(b, groups);
    ob.loadState(oa.stateRecords(), oa.steps);
    expect([...oa.stateRecords().keys()].sort()).toEqual(['optim.b.exp_avg', 'optim.b.exp_avg_sq', 'optim.e.exp_avg', 'optim.e.exp_avg_sq', 'optim.w.exp_avg', 'optim.w.exp_avg_sq']);
    for (const [m, o] of [[a, oa], [b, ob]] as const) {
      for (const [k, p] of m) setGrad(p, grad(2, k, p));
      o.step(1e-2);
    }
    for (const k of Object.keys(shapes)) expect(Array.from(b.get(k)!.toFloat32Array())).toEqual(Array.from(a.get(k)!.toFloat32Array()));
    for (const t of [...a.values(), ...b.values()]) { t.grad?.dispose(); t.dispose(); }
    oa.dispose();
    ob.dispose();
  });
});

describe('LARS (SPEC 7)', () => {
  /** SPEC 7 in float64: trust ratio for ndim > 1, raw gradient for 1-D, momentum 0.9. */
  function ref(p: Float64Array, ndim: number, grads: Float64Array[], lrs: number[], wd: number, scale: number): Float64Array {
    const x = Float64Array.from(p);
    const mu = new Float64Array(p.length);
    grads.forEach((g0, t) => {
      const g = Float64Array.from(g0);
      if (ndim > 1) {
        for (let i = 0; i < g.length; i++) g[i] += wd * x[i];
        const pn = Math.hypot(...x), gn = Math.hypot(...g);
        const q = pn > 0 && gn > 0 ? (0.001 * pn) / gn : 1;
        for (let i = 0; i < g.length; i++) g[i] *= q;
      }
      for (let i = 0; i < g.length; i++) {
        mu[i] = 0.9 * mu[i] + g[i];
        x[i] -= lrs[t] * scale * mu[i];
      }
    });
    return x;
  }

  it.each([[0, 1], [0.1, 0.5]])('matches the float64 reference (weight decay %s, lr scale %s)', (wd, scale) => {
    const w0 = values(12, 1, 0.01), b0 = values(3, 2, 0.01);
    const w = makeParam(w0, [3, 4]), b = makeParam(b0, [3]);
    const z = makeParam(new Float64Array(6), [2, 3]); // zero weight: trust ratio falls back to 1
    const opt = new LARS(new Map([['head.1.weight', w], ['head.1.bias', b], ['z', z]]),
      [{ name: 'head', params: ['head.1.weight', 'head.1.bias', 'z'], weightDecay: wd, lrScale: scale }]);
    const lrs = [0, 0.4, 1.6, 0.8];
    const gw: Float64Array[] = [], gb: Float64Array[] = [], gz: Float64Array[] = [];
    lrs.forEach((lr, t) => {
      gw.push(values(12, 5 + t, 0.3));
      gb.push(values(3, 9 + t, 0.3));
      gz.push(values(6, 13 + t, 0.3));
      setGrad(w, gw[t]);
      setGrad(b, gb[t]);
      setGrad(z, gz[t]);
      opt.step(lr);
    });
    expectClose(w.toFloat32Array(), ref(w0, 2, gw, lrs, wd, scale), TOL, 'weight');
    expectClose(b.toFloat32Array(), ref(b0, 1, gb, lrs, wd, scale), TOL, 'bias');
    expectClose(z.toFloat32Array(), ref(new Float64Array(6), 2, gz, lrs, wd, scale), TOL, 'zero weight');
    expect([...opt.stateRecords().keys()]).toEqual(['optim.head.1.weight.momentum_buffer', 'optim.head.1.bias.momentum_buffer', 'optim.z.momentum_buffer']);
    for (const t of [w, b, z]) { t.grad?.dispose(); t.dispose(); }
  });

  it('a single hand-computed step', () => {
    // p = [3, 4] (‖p‖ = 5), g = [0, 1] (‖g‖ = 1), wd 0: q = 0.005, μ = [0, 0.005], p ← p − 2·μ.
    const p = makeParam(Float64Array.of(3, 4), [1, 2]);
    const opt = new LARS(new Map([['p', p]]), [{ name: 'head', params: ['p'], weightDecay: 0, lrScale: 1 }]);
    setGrad(p, Float64Array.of(0, 1));
    opt.step(2);
    expectClose(p.toFloat32Array(), [3, 4 - 0.01], TOL, 'p');
    p.grad?.dispose();
    p.dispose();
  });
});

describe('ConvMAE-B layer-decay groups from a real ConvViT (SPEC 6.4)', () => {
  // Base depths [2, 2, 11] and heads with small widths: the names and ranks (all that grouping
  // reads) are those of ConvViT-B, without allocating 86 M parameters.
  const model = new ConvViT(preset('base', { embedDim: [8, 12, 24], imgSize: 32, numClasses: 10 }));
  const named = model.namedParameters().map(([name, t]) => ({ name, shape: t.shape.slice() }));
  model.dispose();

  it('has the ConvViT-B parameter names and ranks of the SPEC 11.3 key table', () => {
    const spec = convvitBFinetune();
    expect(named.map((p) => p.name).sort()).toEqual(spec.map((p) => p.name).sort());
    const rank = new Map(spec.map((p) => [p.name, p.shape.length]));
    for (const p of named) expect(p.shape.length, p.name).toBe(rank.get(p.name));
  });

  it('groups and scales at decay 0.65', () => {
    const groups = finetuneParamGroups(named, { depths: [2, 2, 11], layerDecay: 0.65, weightDecay: 0.05 });
    const byName = new Map(groups.map((g) => [g.name, g]));
    expect(groups).toHaveLength(26);
    const scaleOf = new Map(groups.flatMap((g) => g.params.map((p) => [p, g.lrScale] as const)));
    const wdOf = new Map(groups.flatMap((g) => g.params.map((p) => [p, g.weightDecay] as const)));
    for (const p of named) {
      const n = p.name;
      let want: number;
      if (n === 'pos_embed' || n.startsWith('patch_embed') || n.startsWith('blocks1.') || n.startsWith('blocks2.')) want = 0.65 ** 12;
      else if (n.startsWith('blocks3.')) want = 0.65 ** (11 - Number(n.split('.')[1]));
      else want = 1;
      expect(scaleOf.get(n), n).toBeCloseTo(want, 12);
      expect(wdOf.get(n), n).toBe(p.shape.length === 1 || n === 'pos_embed' ? 0 : 0.05);
    }
    expect(scaleOf.get('patch_embed4.weight')).toBeCloseTo(0.005688, 6);
    expect(scaleOf.get('blocks3.0.attn.qkv.weight')).toBeCloseTo(0.00875, 5);
    expect(byName.get('layer_0_no_decay')!.params).toContain('pos_embed');
    expect(byName.get('layer_12_decay')!.params).toEqual(['head.weight']);
    expect(byName.get('layer_12_no_decay')!.params.sort()).toEqual(['fc_norm.bias', 'fc_norm.weight', 'head.bias']);
    expect(groups.reduce((a, g) => a + g.params.length, 0)).toBe(named.length);
  });
});

describe.each(devices)('gradient norm and clipping on %s', (device) => {
  const withGrad = (g: number[]): Tensor => {
    const p = keep(param(tensor(new Float32Array(g.length), [g.length], { device })));
    p.grad = keep(tensor(Float32Array.from(g), [g.length], { device }));
    return p;
  };

  it('takes the global L2 norm over the gradients present, reading the device once', () => {
    const ps = [withGrad([3, 4]), withGrad([12]), keep(param(tensor([1, 2], [2], { device })))];
    const waits0 = memory().cuda.streamWaits ?? 0;
    expect(gradNorm(ps)).toBeCloseTo(13, 5);
    if (device === 'cuda') expect((memory().cuda.streamWaits ?? 0) - waits0, 'one read of the summed squares').toBe(1);
    expect(gradNorm([ps[2]])).toBe(0);
    ps.forEach((p) => { p.grad?.dispose(); p.dispose(); });
  });

  it('scales the gradients down to maxNorm and returns the norm before, or leaves them', () => {
    const ps = [withGrad([3, 4]), withGrad([12])];
    expect(clipGradNorm(ps, 26)).toBeCloseTo(13, 5);
    expect(Array.from(ps[0].grad!.toTypedArray() as Float32Array)).toEqual([3, 4]);
    expect(clipGradNorm(ps, 6.5)).toBeCloseTo(13, 5);
    expectClose(ps[0].grad!.toTypedArray() as Float32Array, [1.5, 2], { atol: 1e-5, rtol: 0 }, 'clipped p0');
    expectClose(ps[1].grad!.toTypedArray() as Float32Array, [6], { atol: 1e-5, rtol: 0 }, 'clipped p1');
    expect(gradNorm(ps)).toBeCloseTo(6.5, 4);
    ps.forEach((p) => { p.grad?.dispose(); p.dispose(); });
  });
});
