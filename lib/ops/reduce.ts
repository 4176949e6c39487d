// Reductions without autograd: sum/mean over everything, or over one axis of a tensor viewed as
// [prod(dims before axis ... ), ...] where the axis is the first or the last dim.
import { native } from '../binding';
import { checkInt } from '../util/check';
import { checkTensor, Tensor } from '../tensor/tensor';
import { checkFloat } from './common';

function reduce(op: string, x: Tensor, axis: number | undefined, mean: boolean): Tensor {
  checkTensor(op, 'x', x);
  checkFloat(op, 'x', x);
  if (axis === undefined) {
    const out = Tensor.allocate([], x.dtype, x.device);
    native.sum(out.handle(op), x.handle(op), 1, x.numel, 1, mean ? 1 / Math.max(1, x.numel) : 1, false);
    return out;
  }
  const rank = Math.max(1, x.rank);
  checkInt(op, 'axis', axis, -rank, rank - 1);
  const ax = axis < 0 ? axis + rank : axis;
  if (ax !== 0 && ax !== rank - 1) throw new RangeError(`${op}: \`axis\` must be the first or the last dim, got ${axis}`);
  const lead = x.shape[0] ?? 1;
  const last = x.shape[rank - 1] ?? 1;
  if (ax === 0 && rank > 1) {
    const cols = x.numel / lead;
    const out = Tensor.allocate(x.shape.slice(1), x.dtype, x.device);
    native.sum(out.handle(op), x.handle(op), lead, cols, 0, mean ? 1 / Math.max(1, lead) : 1, false);
    return out;
  }
  const rows = x.numel / Math.max(1, last);
  const out = Tensor.allocate(x.shape.slice(0, -1), x.dtype, x.device);
  native.sum(out.handle(op), x.handle(op), rows, last, 1, mean ? 1 / Math.max(1, last) : 1, false);
  return out;
}

export const sum = (x: Tensor, axis?: number): Tensor => reduce('sum', x, axis, false);
export const mean = (x: Tensor, axis?: number): Tensor => reduce('mean', x, axis, true);
