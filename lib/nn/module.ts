// Module: plain classes whose fields are parameters, buffers, sub-modules or arrays of
// sub-modules. Walking the fields in declaration order gives PyTorch's state_dict keys and order
// (`blocks1.0.conv1.weight`), so checkpoints move both ways. Parameters are float tensors that
// collect gradients (autograd leaves); buffers are state-dict tensors that do not (the fixed
// pos-embeds of pretraining).
import { requireGrad } from '../autograd/tape';
import { native } from '../binding';
import { TensorRecord, recordToFloat32 } from '../io/record';
import { Device } from '../tensor/device';
import { DType, DTYPE_BYTES } from '../tensor/dtype';
import { keep } from '../tensor/scope';
import { Tensor, tensor } from '../tensor/tensor';

const parameters = new WeakSet<Tensor>();
const buffers = new WeakSet<Tensor>();

/** Registers t as a trainable parameter (collects `.grad`). */
export function param(t: Tensor): Tensor {
  parameters.add(t);
  return requireGrad(t);
}

/** Registers t as a state-dict buffer (no gradient). */
export function buffer(t: Tensor): Tensor {
  buffers.add(t);
  return t;
}

export function isParameter(t: Tensor): boolean {
  return parameters.has(t);
}

export interface LoadReport {
  missing: string[];
  unexpected: string[];
  mismatched: { key: string; expected: number[]; got: number[] }[];
}

export class Module {
  /** Whether dropout-like behaviour (drop path) is active. */
  training = true;

  /**
   * [key, tensor] for every parameter and buffer: as PyTorch's state_dict, a module's own tensors
   * first (in declaration order), then its sub-modules'.
   */
  namedTensors(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const fields = Object.entries(this);
    for (const [name, v] of fields) {
      if (v instanceof Tensor && (parameters.has(v) || buffers.has(v))) out.push([prefix + name, v]);
    }
    for (const [name, v] of fields) {
      const key = prefix + name;
      if (v instanceof Module) {
        out.push(...v.namedTensors(key + '.'));
      } else if (Array.isArray(v) && v.length > 0 && v.every((m) => m instanceof Module)) {
        v.forEach((m: Module, i) => out.push(...m.namedTensors(`${key}.${i}.`)));
      }
    }
    return out;
  }

  /** [key, tensor] of trainable parameters. */
  namedParameters(): [string, Tensor][] {
    return this.namedTensors().filter(([, t]) => parameters.has(t));
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Sub-modules (this one included), depth first. */
  modules(): Module[] {
    const out: Module[] = [this];
    for (const v of Object.values(this)) {
      if (v instanceof Module) out.push(...v.modules());
      else if (Array.isArray(v)) for (const m of v) if (m instanceof Module) out.push(...m.modules());
    }
    return out;
  }

  train(on = true): this {
    for (const m of this.modules()) m.training = on;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** The state dict as host records (float32 or the tensor's dtype), keys in PyTorch order. */
  stateDict(): Map<string, TensorRecord> {
    const out = new Map<string, TensorRecord>();
    for (const [k, t] of this.namedTensors()) {
      const host = t.toTypedArray();
      out.set(k, { dtype: t.dtype, shape: t.shape.slice(), data: new Uint8Array(host.buffer, host.byteOffset, host.byteLength) });
    }
    return out;
  }

  /**
   * Copies tensors by key into this module's parameters and buffers (converting dtype). With
   * strict (the default), any missing or unexpected key or shape mismatch throws; otherwise the
   * report lists them and matching keys are loaded.
   */
  loadStateDict(sd: Map<string, TensorRecord>, opts: { strict?: boolean } = {}): LoadReport {
    if (!(sd instanceof Map)) throw new TypeError('loadStateDict: expected a Map of tensor records for `sd`');
    const strict = opts.strict ?? true;
    const own = new Map(this.namedTensors());
    const report: LoadReport = { missing: [], unexpected: [], mismatched: [] };
    for (const k of own.keys()) if (!sd.has(k)) report.missing.push(k);
    for (const [k, r] of sd) {
      const t = own.get(k);
      if (!t) {
        report.unexpected.push(k);
        continue;
      }
      const same = r.shape.length === t.shape.length && r.shape.every((d, i) => d === t.shape[i]);
      if (!same) report.mismatched.push({ key: k, expected: t.shape.slice(), got: r.shape.slice() });
    }
    if (strict && (report.missing.length || report.unexpected.length || report.mismatched.length)) {
      throw new Error(`loadStateDict: ${formatReport(report)}`);
    }
    const mismatched = new Set(report.mismatched.map((m) => m.key));
    for (const [k, r] of sd) {
      const t = own.get(k);
      if (!t || mismatched.has(k)) continue;
      copyRecordInto(t, r);
    }
    return report;
  }

  /** Moves every parameter and buffer to a device (and/or float dtype), in place. */
  to(device: Device, dtype?: DType): this {
    for (const m of this.modules()) {
      for (const [name, v] of Object.entries(m)) {
        if (!(v instanceof Tensor) || !(parameters.has(v) || buffers.has(v))) continue;
        if (v.device === device && (dtype === undefined || v.dtype === dtype)) continue;
        const moved = dtype !== undefined && v.dtype !== dtype ? v.cast(dtype) : v;
        const next = moved.device === device ? (moved === v ? v.clone() : moved) : moved.to(device);
        if (moved !== v && moved !== next) moved.dispose();
        if (parameters.has(v)) param(next);
        else buffer(next);
        (m as unknown as Record<string, Tensor>)[name] = keep(next);
        v.dispose();
      }
    }
    return this;
  }

  /** Frees every parameter, buffer and gradient. */
  dispose(): void {
    for (const [, t] of this.namedTensors()) {
      t.grad?.dispose();
      t.grad = null;
      t.dispose();
    }
  }

  /** Drops accumulated gradients. */
  zeroGrad(): void {
    for (const t of this.parameters()) {
      t.grad?.dispose();
      t.grad = null;
    }
  }
}

export function formatReport(r: LoadReport): string {
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing keys: ${r.missing.join(', ')}`);
  if (r.unexpected.length) parts.push(`unexpected keys: ${r.unexpected.join(', ')}`);
  for (const m of r.mismatched) parts.push(`shape mismatch for ${m.key}: model [${m.expected.join(', ')}], file [${m.got.join(', ')}]`);
  return parts.join('; ') || 'ok';
}

/** Writes a host record into an existing tensor, converting dtype on the host when needed. */
export function copyRecordInto(t: Tensor, r: TensorRecord): void {
  if (r.dtype === t.dtype && r.data.byteLength === t.numel * DTYPE_BYTES[t.dtype]) {
    native.upload(t.handle('loadStateDict'), r.data);
    return;
  }
  const values = recordToFloat32(r);
  const tmp = tensor(values, t.shape, { dtype: 'float32', device: t.device });
  try {
    if (t.dtype === 'float32') native.copy(t.handle('loadStateDict'), tmp.handle());
    else native.cast(t.handle('loadStateDict'), tmp.handle());
  } finally {
    tmp.dispose();
  }
}
