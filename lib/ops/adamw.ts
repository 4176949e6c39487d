// One AdamW step over one parameter tensor, in place (torch.optim.AdamW semantics, decoupled
// weight decay). With t = opts.step >= 1, elementwise:
//   p ← p − lr·wd·p;  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
//   p ← p − lr·(m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + eps)
// param, grad, m and v are float32 tensors of one size on one device (parameters and optimizer
// state are float32, ARCHITECTURE.md decision 4); m and v start at zero and are owned by the
// caller. Not recorded on the tape.
import { native } from '../binding';
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
  sameKind(op, { param, grad, m, v });
  if (param.dtype !== 'float32') fail(op, 'a float32 tensor', 'param', param.dtype);
  for (const [name, t] of [['grad', grad], ['m', m], ['v', v]] as const) {
    if (t.numel !== param.numel) {
      throw new RangeError(`${op}: expected ${param.numel} elements (like \`param\` ${shapeStr(param.shape)}) for \`${name}\` but got ${shapeStr(t.shape)}`);
    }
  }
  if (opts === null || typeof opts !== 'object') fail(op, 'an options object', 'opts', opts);
  const nonNegative = (name: keyof AdamwOptions): number => {
    const x = checkFinite(op, `opts.${name}`, opts[name]);
    if (x < 0) fail(op, 'a number >= 0', `opts.${name}`, x, RangeError);
    return x;
  };
  const beta = (name: 'beta1' | 'beta2'): number => {
    const x = checkFinite(op, `opts.${name}`, opts[name]);
    if (!(x >= 0 && x < 1)) fail(op, 'a number in [0, 1)', `opts.${name}`, x, RangeError);
    return x;
  };
  const lr = nonNegative('lr');
  const beta1 = beta('beta1');
  const beta2 = beta('beta2');
  const eps = nonNegative('eps');
  const weightDecay = nonNegative('weightDecay');
  const step = checkInt(op, 'opts.step', opts.step, 1, 2 ** 52);
  native.adamw(param.handle(op), grad.handle(op), m.handle(op), v.handle(op), lr, beta1, beta2, eps, weightDecay, step);
}
