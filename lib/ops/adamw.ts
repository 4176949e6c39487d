// One AdamW step over one parameter tensor, in place (torch.optim.AdamW semantics, decoupled
// weight decay). With t = opts.step >= 1, elementwise:
//   p ← p − lr·wd·p;  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
//   p ← p − lr·(m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + eps)
// param, grad, m and v are float32 tensors of one size on one device (parameters and optimizer
// state are float32, ARCHITECTURE.md decision 4); m and v start at zero and are owned by the
// caller. Not recorded on the tape.
// adamwMultiStep: the same step over many parameters at once (each with its own lr and weight
// decay), in one native call and on CUDA a few launches; each tensor ends as adamwStep leaves it.
import { NativeBuffer, native } from '../binding';
import { checkFinite, checkInt, fail } from '../util/check';
import { Tensor } from '../tensor/tensor';
import { sameKind, shapeStr } from './common';

export interface AdamwOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 on the first step. */
  step: number;
}

export function adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, opts: AdamwOptions): void {
  const op = 'adamwStep';
  checkState(op, () => '', { param, grad, m, v });
  const h = hyperparameters(op, opts);
  const lr = nonNegative(op, 'opts.lr', opts.lr);
  const weightDecay = nonNegative(op, 'opts.weightDecay', opts.weightDecay);
  native.adamw(param.handle(op), grad.handle(op), m.handle(op), v.handle(op), lr, h.beta1, h.beta2, h.eps, weightDecay, h.step);
}

/** One parameter of adamwMultiStep: float32 param, grad, m, v of one size, and its lr and decay. */
export interface AdamwTensor {
  param: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
  lr: number;
  weightDecay: number;
}

export function adamwMultiStep(tensors: readonly AdamwTensor[], opts: Omit<AdamwOptions, 'lr' | 'weightDecay'>): void {
  const op = 'adamwMultiStep';
  if (!Array.isArray(tensors)) fail(op, 'an array of { param, grad, m, v, lr, weightDecay }', 'tensors', tensors);
  const h = hyperparameters(op, opts);
  if (tensors.length === 0) return;
  const lists = { params: [] as NativeBuffer[], grads: [] as NativeBuffer[], ms: [] as NativeBuffer[], vs: [] as NativeBuffer[] };
  const lrs: number[] = [], wds: number[] = [];
  tensors.forEach((t, i) => {
    const at = () => `tensors[${i}]`;
    if (t === null || typeof t !== 'object') fail(op, 'an object { param, grad, m, v, lr, weightDecay }', at(), t);
    checkState(op, () => `${at()}.`, t, i > 0 ? tensors[0].param : undefined);
    lists.params.push(t.param.handle(op));
    lists.grads.push(t.grad.handle(op));
    lists.ms.push(t.m.handle(op));
    lists.vs.push(t.v.handle(op));
    lrs.push(nonNegative(op, () => `${at()}.lr`, t.lr));
    wds.push(nonNegative(op, () => `${at()}.weightDecay`, t.weightDecay));
  });
  native.adamwMulti(lists.params, lists.grads, lists.ms, lists.vs, lrs, wds, h.beta1, h.beta2, h.eps, h.step);
}

/**
 * One parameter's float32 param and its grad, m, v: live, one device, one size, and on the device
 * of `first` when given. A quick test first; the named checks (and the strings of their names,
 * from `prefix`) only where it fails, since AdamW checks every parameter every step.
 */
function checkState(op: string, prefix: () => string, t: { param: Tensor; grad: Tensor; m: Tensor; v: Tensor }, first?: Tensor): void {
  const { param, grad, m, v } = t;
  const like = (x: unknown) => x instanceof Tensor && !x.disposed && x.device === param.device && x.dtype === 'float32';
  const sized = (x: Tensor) => like(x) && x.numel === param.numel;
  if (like(param) && sized(grad) && sized(m) && sized(v) && (first === undefined || like(first))) return;
  const p = prefix();
  sameKind(op, { [`${p}param`]: param, [`${p}grad`]: grad, [`${p}m`]: m, [`${p}v`]: v });
  if (param.dtype !== 'float32') fail(op, 'a float32 tensor', `${p}param`, param.dtype);
  for (const name of ['grad', 'm', 'v'] as const) {
    if (t[name].numel !== param.numel) {
      throw new RangeError(`${op}: expected ${param.numel} elements (like \`${p}param\` ${shapeStr(param.shape)}) for \`${p}${name}\` but got ${shapeStr(t[name].shape)}`);
    }
  }
  if (first !== undefined) sameKind(op, { [`${p}param`]: param, 'tensors[0].param': first });
}

/** A finite number >= 0; the name (or the function giving it) is only read for the error. */
function nonNegative(op: string, name: string | (() => string), value: unknown): number {
  if (typeof value === 'number' && value >= 0 && Number.isFinite(value)) return value;
  const n = typeof name === 'string' ? name : name();
  const x = checkFinite(op, n, value);
  if (x < 0) fail(op, 'a number >= 0', n, x, RangeError);
  return x;
}

/** The shared hyperparameters, checked as torch.optim.AdamW checks them. */
function hyperparameters(op: string, opts: Omit<AdamwOptions, 'lr' | 'weightDecay'>): { beta1: number; beta2: number; eps: number; step: number } {
  if (opts === null || typeof opts !== 'object') fail(op, 'an options object', 'opts', opts);
  const beta = (name: 'beta1' | 'beta2'): number => {
    const x = checkFinite(op, `opts.${name}`, opts[name]);
    if (!(x >= 0 && x < 1)) fail(op, 'a number in [0, 1)', `opts.${name}`, x, RangeError);
    return x;
  };
  return { beta1: beta('beta1'), beta2: beta('beta2'), eps: nonNegative(op, 'opts.eps', opts.eps), step: checkInt(op, 'opts.step', opts.step, 1, 2 ** 52) };
}
