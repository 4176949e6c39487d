// Row gather, differentiable in x:
//   gatherRows(x [R, C] (or [..., C], viewed as rows), idx int32 [M]) -> [M, C], out[m] = x[idx[m]].
// Every index must lie in [0, R) (checked natively; a bad one raises a RangeError). The gradient
// scatter-adds dy into a zeroed dx, so repeated indices sum. idx must stay alive until backward.
import { native } from '../binding';
import { record, shouldRecord } from '../autograd/tape';
import { checkTensor, Tensor } from '../tensor/tensor';
import { checkFloat, shapeStr, writeInto } from './common';
import { fill_ } from './elementwise';

export function gatherRows(x: Tensor, idx: Tensor): Tensor {
  const op = 'gatherRows';
  checkTensor(op, 'x', x);
  checkTensor(op, 'idx', idx);
  checkFloat(op, 'x', x);
  if (idx.dtype !== 'int32') throw new TypeError(`${op}: expected int32 for \`idx\` but got ${idx.dtype}`);
  if (idx.device !== x.device) throw new Error(`${op}: \`idx\` is on ${idx.device} but \`x\` is on ${x.device}; move one with .to()`);
  if (x.rank < 1) throw new RangeError(`${op}: expected a [R, C] tensor for \`x\` but got ${shapeStr(x.shape)}`);
  if (idx.rank !== 1) throw new RangeError(`${op}: expected a 1-D tensor for \`idx\` but got ${shapeStr(idx.shape)}`);
  const c = x.shape[x.rank - 1];
  const r = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const m = idx.numel;
  const out = Tensor.allocate([m, c], x.dtype, x.device);
  writeInto(out, () => native.gatherRows(out.handle(op), x.handle(op), idx.handle(op), m, r, c));
  if (shouldRecord([x])) {
    record(op, [x], [out], ([dy]) => {
      if (dy === null) return [null];
      const dx = fill_(Tensor.allocate(x.shape, x.dtype, x.device), 0);
      try {
        native.scatterAddRows(dx.handle(op), dy.handle(op), idx.handle(op), m, r, c);
      } catch (e) {
        dx.dispose();
        throw e;
      }
      return [dx];
    });
  }
  return out;
}
