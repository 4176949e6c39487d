// layerNorm: LayerNorm over the last dim (SPEC.md 2.1), differentiable.
//   layerNorm(x [..., C], weight [C], bias [C], eps) -> y [..., C]
//   y = (x - mean) / sqrt(var + eps) · weight + bias, biased variance, eps inside the root (the
//   model uses eps 1e-5 and 1e-6, so it is an argument). The forward saves the per-row mean and
//   rstd [rows] for the backward (native layernorm / layernormBackward, native/ops/layernorm.h),
//   in float32 (float64 for float64 x) whatever x's dtype; without recording they are freed at
//   once. The backward adds dx into the gradient already collected for x when there is one (the
//   residual stream's), in the same pass.
import { native } from '../binding';
import { record, shouldRecord } from '../autograd/tape';
import { checkFinite, fail } from '../util/check';
import { DType } from '../tensor/dtype';
import { Tensor } from '../tensor/tensor';
import { checkFloat, sameKind, shapeStr } from './common';

export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  const op = 'layerNorm';
  sameKind(op, { x, weight, bias });
  checkFloat(op, 'x', x);
  if (checkFinite(op, 'eps', eps) < 0) fail(op, 'a number >= 0', 'eps', eps, RangeError);
  const c = x.rank === 0 ? 0 : x.shape[x.rank - 1];
  if (c === 0) throw new RangeError(`${op}: expected \`x\` of shape [..., C] with C >= 1 but got ${shapeStr(x.shape)}`);
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t.rank !== 1 || t.shape[0] !== c) {
      throw new RangeError(`${op}: expected shape [${c}] for \`${name}\` but got ${shapeStr(t.shape)}`);
    }
  }
  const rows = x.numel / c;
  const y = Tensor.allocate(x.shape, x.dtype, x.device);
  const mean = Tensor.allocate([rows], statsDType(x.dtype), x.device);
  const rstd = Tensor.allocate([rows], statsDType(x.dtype), x.device);
  try {
    native.layernorm(y.handle(op), mean.handle(op), rstd.handle(op), x.handle(op), weight.handle(op), bias.handle(op),
      rows, c, eps);
  } catch (e) {
    [y, mean, rstd].forEach((t) => t.dispose());
    throw e;
  }
  if (shouldRecord([x, weight, bias])) {
    record(op, [x, weight, bias], [y], ([dy], [dxCollected]) => (dy ? layerNormGrad(dy, x, weight, mean, rstd, dxCollected) : [null, null, null]),
      [mean, rstd]);
  } else {
    mean.dispose();
    rstd.dispose();
  }
  return y;
}

/** The dtype of the saved mean and rstd for inputs of dtype d. */
export function statsDType(d: DType): DType {
  return d === 'float64' ? 'float64' : 'float32';
}

/**
 * [dx, dweight, dbias] from dy and the forward's inputs and saved statistics. With `into` (a
 * gradient already collected for x, of x's size, dtype and device) dx is added into it and `into`
 * is returned as dx.
 */
function layerNormGrad(dy: Tensor, x: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor, into: Tensor | null = null): Tensor[] {
  const op = 'layerNorm backward';
  const c = weight.numel;
  // (never into a view of dy's storage: the kernel reads dy while it writes dx)
  const accumulate = into !== null && into.numel === x.numel && into.dtype === x.dtype && into.device === x.device &&
    into.handle(op) !== dy.handle(op);
  const dx = accumulate ? into : Tensor.allocate(x.shape, x.dtype, x.device);
  const dw = Tensor.allocate([c], x.dtype, x.device);
  const db = Tensor.allocate([c], x.dtype, x.device);
  try {
    native.layernormBackward(dx.handle(op), dw.handle(op), db.handle(op), dy.handle(op), x.handle(op), mean.handle(op),
      rstd.handle(op), weight.handle(op), x.numel / c, c, accumulate);
  } catch (e) {
    [accumulate ? null : dx, dw, db].forEach((t) => t?.dispose());
    throw e;
  }
  return [dx, dw, db];
}
