// Checks shared by the TS op wrappers: live tensors, one device and dtype per op call, float dtypes.
import { checkTensor, Tensor } from '../tensor/tensor';

export function sameKind(op: string, named: Record<string, unknown>): Tensor[] {
  const entries = Object.entries(named);
  const ts = entries.map(([name, v]) => checkTensor(op, name, v));
  const [n0] = entries[0];
  const t0 = ts[0];
  for (let i = 1; i < ts.length; i++) {
    const [n] = entries[i];
    if (ts[i].device !== t0.device) {
      throw new Error(`${op}: \`${n}\` is on ${ts[i].device} but \`${n0}\` is on ${t0.device}; move one with .to()`);
    }
    if (ts[i].dtype !== t0.dtype) {
      throw new TypeError(`${op}: \`${n}\` is ${ts[i].dtype} but \`${n0}\` is ${t0.dtype}; convert one with .cast()`);
    }
  }
  return ts;
}

export function checkFloat(op: string, name: string, t: Tensor): void {
  const ok = t.device === 'cpu' ? t.dtype === 'float32' || t.dtype === 'float64' : t.dtype === 'float32' || t.dtype === 'bfloat16';
  if (!ok) {
    throw new TypeError(`${op}: expected float32 or ${t.device === 'cpu' ? 'float64' : 'bfloat16'} for \`${name}\` on ${t.device} but got ${t.dtype}`);
  }
}

/** Runs a native call that writes `out` and returns `out`, disposing it if the call throws. */
export function writeInto(out: Tensor, call: () => void): Tensor {
  try {
    call();
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}

export function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}
