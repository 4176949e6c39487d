// Gradient checks by central finite differences in float64 on the CPU. fn maps float64 input
// tensors to one output; the check backpropagates a fixed random cotangent R from the output and
// compares each input's gradient with (f(x+h) - f(x-h)) / 2h of Σ out·R.
import { backward, clearTape, requireGrad } from '../../lib/autograd/tape';
import { Tensor, tensor } from '../../lib/tensor/tensor';
import { expectClose } from './close';

export function randn(n: number, seed: number, scale = 1): Float64Array {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

export interface GradInput {
  data: Float64Array;
  shape: number[];
  /** false for inputs without gradients (indices, targets). */
  grad?: boolean;
}

export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: GradInput[], opts: { h?: number; atol?: number; rtol?: number; seed?: number } = {}): void {
  const h = opts.h ?? 1e-6;
  const tol = { atol: opts.atol ?? 1e-7, rtol: opts.rtol ?? 1e-5 };
  const make = (datas: Float64Array[]) => inputs.map((inp, i) => tensor(datas[i], inp.shape, { dtype: 'float64' }));
  const evalSum = (datas: Float64Array[], R: Float64Array): number => {
    const ts = make(datas);
    const out = fn(...ts);
    const o = out.toTypedArray() as Float64Array;
    let s = 0;
    for (let i = 0; i < o.length; i++) s += o[i] * R[i];
    clearTape();
    out.dispose();
    ts.forEach((t) => t.dispose());
    return s;
  };
  const base = inputs.map((i) => i.data.slice());
  // Analytical gradients.
  const ts = make(base);
  inputs.forEach((inp, i) => { if (inp.grad !== false) requireGrad(ts[i]); });
  const out = fn(...ts);
  const R = randn(out.numel, opts.seed ?? 7);
  const Rt = tensor(R, out.shape, { dtype: 'float64' });
  backward(out, Rt);
  Rt.dispose();
  out.dispose();
  inputs.forEach((inp, i) => {
    if (inp.grad === false) return;
    const g = ts[i].grad;
    if (!g) throw new Error(`gradcheck: input ${i} received no gradient`);
    const analytic = g.toTypedArray() as Float64Array;
    const numeric = new Float64Array(inp.data.length);
    for (let j = 0; j < inp.data.length; j++) {
      const plus = base.map((b) => b.slice());
      const minus = base.map((b) => b.slice());
      plus[i][j] += h;
      minus[i][j] -= h;
      numeric[j] = (evalSum(plus, R) - evalSum(minus, R)) / (2 * h);
    }
    expectClose(analytic, numeric, tol, `gradient of input ${i}`);
    g.dispose();
  });
  ts.forEach((t) => t.dispose());
}
