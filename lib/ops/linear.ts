// linear: y = x·Wᵀ + b, optionally followed by the exact GELU or plus a residual, both done in
// the GEMM's epilogue, differentiable.
//   linear(x [..., in], weight [out, in] | [out, cin, kh, kw], bias [out] | null, { gelu, residual })
//     -> [..., out]
// A 4-D conv weight is read as the 2-D [out, cin·kh·kw] it is laid out as, so 1x1 convs and patch
// convs on gathered tiles (the tile flattened in [cin, kh, kw] order) reuse this op. The rows of x
// (all leading dims together) form one GEMM (native gemm with transB and the bias). With gelu the
// GEMM writes the pre-activation H and G = gelu(H) in one pass and H is kept on the tape for the
// backward; with residual (a tensor shaped like the output) y = x·Wᵀ + b + residual.
// Backward: dH = gelu'(H)·dY (with gelu, else dY); dX = dH·W, dW = dHᵀ·X (shaped like weight),
// db = column sums of dH, dresidual = dY; each computed only for inputs that need a gradient.
import { native } from '../binding';
import { needsGrad, record, shouldRecord } from '../autograd/tape';
import { checkBool } from '../util/check';
import { Tensor } from '../tensor/tensor';
import { checkFloat, sameKind, shapeStr } from './common';
import { geluGrad } from './gelu';

export interface LinearOptions {
  /** Apply the exact GELU to the output (default false). */
  gelu?: boolean;
  /** Add this tensor (the output's shape, dtype and device) to the output; not with gelu. */
  residual?: Tensor | null;
}

/** The GEMM sizes of x·Wᵀ: rows of x, in and out features, and the output shape. */
export interface LinearShape {
  rows: number;
  inF: number;
  outF: number;
  outShape: number[];
}

/** Checks x, weight and bias as a linear layer takes them (errors name `op` and the argument). */
export function linearShape(op: string, x: Tensor, weight: Tensor, bias: Tensor | null, names = { weight: 'weight', bias: 'bias' }): LinearShape {
  sameKind(op, bias === null ? { x, [names.weight]: weight } : { x, [names.weight]: weight, [names.bias]: bias });
  checkFloat(op, 'x', x);
  if ((weight.rank !== 2 && weight.rank !== 4) || weight.numel === 0) {
    throw new RangeError(`${op}: expected a non-empty [out, in] or [out, in, kh, kw] tensor for \`${names.weight}\` but got ${shapeStr(weight.shape)}`);
  }
  const outF = weight.shape[0];
  const inF = weight.numel / outF;
  if (x.rank === 0 || x.shape[x.rank - 1] !== inF) {
    throw new RangeError(`${op}: expected \`x\` of shape [..., ${inF}] for \`${names.weight}\` ${shapeStr(weight.shape)} but got ${shapeStr(x.shape)}`);
  }
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== outF)) {
    throw new RangeError(`${op}: expected shape [${outF}] for \`${names.bias}\` but got ${shapeStr(bias.shape)}`);
  }
  return { rows: x.numel / inF, inF, outF, outShape: [...x.shape.slice(0, -1), outF] };
}

/** Checks an optional residual against the output of a layer; returns it or null. */
export function checkResidual(op: string, residual: Tensor | null | undefined, like: Tensor, outShape: readonly number[]): Tensor | null {
  if (residual === undefined || residual === null) return null;
  sameKind(op, { x: like, 'opts.residual': residual });
  if (residual.dtype !== like.dtype) {
    throw new TypeError(`${op}: \`opts.residual\` is ${residual.dtype} but \`x\` is ${like.dtype}`);
  }
  if (residual.shape.length !== outShape.length || residual.shape.some((d, i) => d !== outShape[i])) {
    throw new RangeError(`${op}: expected \`opts.residual\` of the output's shape ${shapeStr(outShape)} but got ${shapeStr(residual.shape)}`);
  }
  return residual;
}

export function linear(x: Tensor, weight: Tensor, bias: Tensor | null, opts: LinearOptions = {}): Tensor {
  const op = 'linear';
  const { rows, inF, outF, outShape } = linearShape(op, x, weight, bias);
  const withGelu = opts.gelu === undefined ? false : checkBool(op, 'opts.gelu', opts.gelu);
  const residual = checkResidual(op, opts.residual, x, outShape);
  if (withGelu && residual) throw new RangeError(`${op}: \`opts.gelu\` and \`opts.residual\` cannot be combined`);
  const h = Tensor.allocate(outShape, x.dtype, x.device);
  let y = h;
  try {
    if (withGelu) y = Tensor.allocate(outShape, x.dtype, x.device);
    native.gemm(h.handle(op), x.handle(op), weight.handle(op), bias === null ? null : bias.handle(op), rows, outF, inF,
      false, true, 1, 0, 1, 0, 0, 0, residual ? residual.handle(op) : null, withGelu ? y.handle(op) : null, null);
  } catch (e) {
    h.dispose();
    y.dispose();
    throw e;
  }
  if (shouldRecord([x, weight, bias, residual])) {
    record(op, [x, weight, bias, residual], [y], ([dy]) => {
      if (!dy) return [null, null, null, null];
      const dh = withGelu ? geluGrad(dy, h) : dy;
      try {
        // A view is safe as the residual's gradient: dy is dropped after this rule.
        return [...linearGrads(dh, x, weight, bias), residual && needsGrad(residual) ? dy.reshape(residual.shape) : null];
      } finally {
        if (dh !== dy) dh.dispose();
      }
    }, withGelu ? [h] : []);
  } else if (withGelu) {
    h.dispose();
  }
  return y;
}

/**
 * [dx, dweight, dbias] of y = x·Wᵀ + b given dH (the gradient at the GEMM's output), each only
 * where that input needs a gradient.
 */
export function linearGrads(dh: Tensor, x: Tensor, weight: Tensor, bias: Tensor | null): (Tensor | null)[] {
  const op = 'linear backward';
  const outF = weight.shape[0];
  const inF = weight.numel / outF;
  const rows = x.numel / inF;
  const made: Tensor[] = [];
  const alloc = (shape: readonly number[]) => {
    const t = Tensor.allocate(shape, x.dtype, x.device);
    made.push(t);
    return t;
  };
  try {
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (needsGrad(x)) {
      dx = alloc(x.shape);
      native.gemm(dx.handle(op), dh.handle(op), weight.handle(op), null, rows, inF, outF, false, false, 1, 0, 1, 0, 0, 0);
    }
    if (needsGrad(weight)) {
      dw = alloc(weight.shape);
      native.gemm(dw.handle(op), dh.handle(op), x.handle(op), null, outF, inF, rows, true, false, 1, 0, 1, 0, 0, 0);
    }
    if (bias !== null && needsGrad(bias)) {
      db = alloc([outF]);
      native.sum(db.handle(op), dh.handle(op), rows, outF, 0, 1, false);
    }
    return [dx, dw, db];
  } catch (e) {
    made.forEach((t) => t.dispose());
    throw e;
  }
}
