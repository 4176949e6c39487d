// castTo: a differentiable dtype conversion. castTo(x, dtype) is x itself when the dtype already
// matches, else a new tensor (native cast, round to nearest even into bfloat16); its backward
// casts the incoming gradient back to x's dtype, so a float32 parameter used in bfloat16 gets a
// float32 gradient. castAllTo(xs, dtype) does the same for many tensors of one device in one
// native call (castMulti), forward and backward, so casting every parameter of a model costs a
// few launches instead of two per parameter.
import { native } from '../binding';
import { needsGrad, record, shouldRecord } from '../autograd/tape';
import { DType } from '../tensor/dtype';
import { checkTensor, Tensor } from '../tensor/tensor';
import { checkDType } from '../util/check';
import { checkFloat } from './common';

export function castTo(x: Tensor, dtype: DType): Tensor {
  checkTensor('castTo', 'x', x);
  checkDType('castTo', 'dtype', dtype);
  if (x.dtype === dtype) return x;
  checkFloat('castTo', 'x', x);
  const y = x.cast(dtype);
  if (shouldRecord([x])) record('castTo', [x], [y], ([dy]) => [dy ? dy.cast(x.dtype) : null]);
  return y;
}

/** [castTo(x, dtype) for x of xs], the casts made in one native call and recorded as one op. */
export function castAllTo(xs: readonly Tensor[], dtype: DType): Tensor[] {
  const op = 'castAllTo';
  checkDType(op, 'dtype', dtype);
  xs.forEach((x, i) => {
    checkTensor(op, `xs[${i}]`, x);
    if (x.device !== xs[0].device) throw new Error(`${op}: \`xs[${i}]\` is on ${x.device} but \`xs[0]\` is on ${xs[0].device}`);
    if (x.dtype !== dtype) checkFloat(op, `xs[${i}]`, x);
  });
  const todo = [...new Set(xs.filter((x) => x.dtype !== dtype))]; // each tensor cast once
  const made = multiCast(op, todo, () => dtype);
  const castOf = new Map(todo.map((x, i) => [x, made[i]]));
  // Only the casts of tensors that need a gradient join the tape, so the others take none.
  const tracked = shouldRecord(todo) ? todo.filter((x) => needsGrad(x)) : [];
  if (tracked.length) {
    record(op, tracked, tracked.map((x) => castOf.get(x)!), (dys) => {
      const back = tracked.map((_, i) => i).filter((i) => dys[i]);
      const grads = multiCast(`${op} backward`, back.map((i) => dys[i]!), (j) => tracked[back[j]].dtype);
      const gradOf = new Map(back.map((i, j) => [i, grads[j]]));
      return tracked.map((_, i) => gradOf.get(i) ?? null);
    });
  }
  return xs.map((x) => castOf.get(x) ?? x);
}

/** New tensors: xs[j] converted to dtypeOf(j), in one castMulti call. */
function multiCast(op: string, xs: readonly Tensor[], dtypeOf: (j: number) => DType): Tensor[] {
  const outs = xs.map((x, j) => Tensor.allocate(x.shape, dtypeOf(j), x.device));
  try {
    if (outs.length) native.castMulti(outs.map((t) => t.handle(op)), xs.map((x) => x.handle(op)));
  } catch (e) {
    outs.forEach((t) => t.dispose());
    throw e;
  }
  return outs;
}
