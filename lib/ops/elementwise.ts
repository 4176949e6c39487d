// Elementwise ops without autograd: add, sub, mul, div (b may tile a's trailing dims), scale
// (alpha*x + beta), fill. Outputs are new tensors unless `out` is given.
import { native } from '../binding';
import { checkNumber } from '../util/check';
import { checkTensor, Tensor } from '../tensor/tensor';
import { checkFloat, sameKind, shapeStr } from './common';

type BinaryName = 'add' | 'sub' | 'mul' | 'div';
const KIND: Record<BinaryName, number> = { add: 0, sub: 1, mul: 2, div: 3 };

function trailingMatch(a: readonly number[], b: readonly number[]): boolean {
  if (b.length > a.length) return false;
  for (let i = 1; i <= b.length; i++) if (a[a.length - i] !== b[b.length - i]) return false;
  return true;
}

function binary(op: BinaryName, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  sameKind(op, { a, b });
  checkFloat(op, 'a', a);
  if (!trailingMatch(a.shape, b.shape)) {
    throw new RangeError(`${op}: \`b\` of shape ${shapeStr(b.shape)} does not match the trailing dims of \`a\` ${shapeStr(a.shape)}`);
  }
  const o = out ?? Tensor.allocate(a.shape, a.dtype, a.device);
  if (out !== undefined) {
    sameKind(op, { a, out });
    if (out.numel !== a.numel) throw new RangeError(`${op}: \`out\` has shape ${shapeStr(out.shape)}, not ${shapeStr(a.shape)}`);
  }
  native.binary(KIND[op], o.handle(op), a.handle(op), b.handle(op));
  return o;
}

export const add = (a: Tensor, b: Tensor, out?: Tensor): Tensor => binary('add', a, b, out);
export const sub = (a: Tensor, b: Tensor, out?: Tensor): Tensor => binary('sub', a, b, out);
export const mul = (a: Tensor, b: Tensor, out?: Tensor): Tensor => binary('mul', a, b, out);
export const div = (a: Tensor, b: Tensor, out?: Tensor): Tensor => binary('div', a, b, out);

/** alpha * x + beta. */
export function scale(x: Tensor, alpha: number, beta = 0, out?: Tensor): Tensor {
  checkTensor('scale', 'x', x);
  checkFloat('scale', 'x', x);
  checkNumber('scale', 'alpha', alpha);
  checkNumber('scale', 'beta', beta);
  const o = out ?? Tensor.allocate(x.shape, x.dtype, x.device);
  if (out !== undefined) {
    sameKind('scale', { x, out });
    if (out.numel !== x.numel) throw new RangeError(`scale: \`out\` has shape ${shapeStr(out.shape)}, not ${shapeStr(x.shape)}`);
  }
  native.scale(o.handle('scale'), x.handle('scale'), alpha, beta);
  return o;
}

/** Sets every element of t to value, in place. */
export function fill_(t: Tensor, value: number): Tensor {
  checkTensor('fill', 't', t);
  checkNumber('fill', 'value', value);
  native.fill(t.handle('fill'), value);
  return t;
}
