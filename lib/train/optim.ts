// Optimizers over a model's named parameters, in parameter groups (lib/train/param_groups.ts):
// AdamW (one native multi-tensor step over every parameter with a gradient; state m, v in float32
// on the parameter's device) and LARS
// for the linear-probe head (SPEC.md §7, on the host: the head is small). Gradient clipping by
// global L2 norm. Optimizer state travels in checkpoints as optim.<key>.exp_avg / exp_avg_sq
// (AdamW) or optim.<key>.momentum_buffer (LARS).
import { native } from '../binding';
import { TensorRecord } from '../io/record';
import { AdamwTensor, adamwMultiStep } from '../ops/adamw';
import { add, mul, scale } from '../ops/elementwise';
import { sum } from '../ops/reduce';
import { keep, tidy } from '../tensor/scope';
import { Tensor, tensor, zeros } from '../tensor/tensor';
import { copyRecordInto } from '../nn/module';
import { ParamGroup } from './param_groups';

interface Slot {
  key: string;
  param: Tensor;
  group: ParamGroup;
}

function slots(named: Map<string, Tensor>, groups: readonly ParamGroup[]): Slot[] {
  const out: Slot[] = [];
  for (const group of groups) {
    for (const key of group.params) {
      const param = named.get(key);
      if (!param) throw new Error(`optimizer: parameter group '${group.name}' names '${key}', which the model does not have`);
      out.push({ key, param, group });
    }
  }
  return out;
}

function record(t: Tensor): TensorRecord {
  const host = t.toTypedArray();
  return { dtype: t.dtype, shape: t.shape.slice(), data: new Uint8Array(host.buffer, host.byteOffset, host.byteLength) };
}

export interface Optimizer {
  /** Steps taken so far. */
  readonly steps: number;
  step(lr: number): void;
  stateRecords(): Map<string, TensorRecord>;
  loadState(sd: Map<string, TensorRecord>, steps: number): void;
  dispose(): void;
}

export class AdamW implements Optimizer {
  steps = 0;
  private readonly slots: Slot[];
  private readonly m = new Map<string, Tensor>();
  private readonly v = new Map<string, Tensor>();

  constructor(named: Map<string, Tensor>, groups: readonly ParamGroup[], readonly opts: { beta1?: number; beta2?: number; eps?: number } = {}) {
    this.slots = slots(named, groups);
  }

  private state(map: Map<string, Tensor>, s: Slot): Tensor {
    let t = map.get(s.key);
    if (!t) {
      t = keep(zeros(s.param.shape, { device: s.param.device }));
      map.set(s.key, t);
    }
    return t;
  }

  step(lr: number): void {
    this.steps += 1;
    const tensors: AdamwTensor[] = [];
    for (const s of this.slots) {
      if (!s.param.grad) continue;
      tensors.push({ param: s.param, grad: s.param.grad, m: this.state(this.m, s), v: this.state(this.v, s), lr: lr * s.group.lrScale, weightDecay: s.group.weightDecay });
    }
    adamwMultiStep(tensors, { beta1: this.opts.beta1 ?? 0.9, beta2: this.opts.beta2 ?? 0.999, eps: this.opts.eps ?? 1e-8, step: this.steps });
  }

  stateRecords(): Map<string, TensorRecord> {
    const out = new Map<string, TensorRecord>();
    for (const s of this.slots) {
      const m = this.m.get(s.key), v = this.v.get(s.key);
      if (m && v) {
        out.set(`optim.${s.key}.exp_avg`, record(m));
        out.set(`optim.${s.key}.exp_avg_sq`, record(v));
      }
    }
    return out;
  }

  loadState(sd: Map<string, TensorRecord>, steps: number): void {
    this.steps = steps;
    for (const s of this.slots) {
      const m = sd.get(`optim.${s.key}.exp_avg`), v = sd.get(`optim.${s.key}.exp_avg_sq`);
      if (!m || !v) continue;
      copyRecordInto(this.state(this.m, s), m);
      copyRecordInto(this.state(this.v, s), v);
    }
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** LARS (SPEC.md §7): trust ratio 0.001·‖p‖/‖g‖ for parameters with ndim > 1, momentum 0.9. */
export class LARS implements Optimizer {
  steps = 0;
  private readonly slots: Slot[];
  private readonly momentum = new Map<string, Float32Array>();

  constructor(named: Map<string, Tensor>, groups: readonly ParamGroup[], readonly opts: { momentum?: number; trustCoefficient?: number } = {}) {
    this.slots = slots(named, groups);
  }

  step(lr: number): void {
    this.steps += 1;
    const mom = this.opts.momentum ?? 0.9, eta = this.opts.trustCoefficient ?? 0.001;
    for (const s of this.slots) {
      if (!s.param.grad) continue;
      const p = s.param.toFloat32Array();
      const g = s.param.grad.toFloat32Array();
      const wd = s.group.weightDecay;
      if (s.param.rank > 1) {
        let pn = 0, gn = 0;
        for (let i = 0; i < g.length; i++) {
          g[i] += wd * p[i];
          pn += p[i] * p[i];
        }
        for (let i = 0; i < g.length; i++) gn += g[i] * g[i];
        pn = Math.sqrt(pn);
        gn = Math.sqrt(gn);
        const q = pn > 0 && gn > 0 ? (eta * pn) / gn : 1;
        for (let i = 0; i < g.length; i++) g[i] *= q;
      }
      let mu = this.momentum.get(s.key);
      if (!mu) {
        mu = new Float32Array(g.length);
        this.momentum.set(s.key, mu);
      }
      const step = lr * s.group.lrScale;
      for (let i = 0; i < g.length; i++) {
        mu[i] = mom * mu[i] + g[i];
        p[i] -= step * mu[i];
      }
      const updated = s.param.dtype === 'float32' ? p : null;
      if (updated) native.upload(s.param.handle('LARS'), updated);
      else {
        const t = tensor(p, s.param.shape, { device: s.param.device });
        native.cast(s.param.handle('LARS'), t.handle());
        t.dispose();
      }
    }
  }

  stateRecords(): Map<string, TensorRecord> {
    const out = new Map<string, TensorRecord>();
    for (const s of this.slots) {
      const mu = this.momentum.get(s.key);
      if (mu) out.set(`optim.${s.key}.momentum_buffer`, { dtype: 'float32', shape: s.param.shape.slice(), data: new Uint8Array(mu.buffer.slice(0)) });
    }
    return out;
  }

  loadState(sd: Map<string, TensorRecord>, steps: number): void {
    this.steps = steps;
    for (const s of this.slots) {
      const r = sd.get(`optim.${s.key}.momentum_buffer`);
      if (r) this.momentum.set(s.key, new Float32Array(r.data.buffer.slice(r.data.byteOffset, r.data.byteOffset + r.data.byteLength)));
    }
  }

  dispose(): void {
    this.momentum.clear();
  }
}

/** Global L2 norm of the gradients present: the squares summed on the gradients' device, read once. */
export function gradNorm(params: readonly Tensor[]): number {
  return tidy(() => {
    let total: Tensor | null = null;
    for (const p of params) {
      if (!p.grad) continue;
      const squares = sum(mul(p.grad, p.grad));
      total = total === null ? squares : add(total, squares);
    }
    return total === null ? 0 : Math.sqrt(total.item());
  });
}

/** Scales gradients so their global norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  const norm = gradNorm(params);
  if (Number.isFinite(norm) && norm > maxNorm) {
    const f = maxNorm / (norm + 1e-6);
    for (const p of params) if (p.grad) scale(p.grad, f, 0, p.grad);
  }
  return norm;
}
