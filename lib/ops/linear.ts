// linear: y = x·Wᵀ + b, optionally followed by the exact GELU (the fused MLP epilogue),
// differentiable.
//   linear(x [..., in], weight [out, in] | [out, cin, kh, kw], bias [out] | null, { gelu }) -> [..., out]
// A 4-D conv weight is read as the 2-D [out, cin·kh·kw] it is laid out as, so 1x1 convs and patch
// convs on gathered tiles (the tile flattened in [cin, kh, kw] order) reuse this op. The rows of x
// (all leading dims together) form one GEMM (native gemm with transB and the bias). With gelu the
// pre-activation H is kept on the tape for the backward.
// Backward: dH = gelu'(H)·dY (with gelu, else dY); dX = dH·W, dW = dHᵀ·X (shaped like weight),
// db = column sums of dH; each computed only for inputs that need a gradient.
import { native } from '../binding';
import { needsGrad, record, shouldRecord } from '../autograd/tape';
import { checkBool } from '../util/check';
import { Tensor } from '../tensor/tensor';
import { checkFloat, sameKind, shapeStr } from './common';
import { geluGrad } from './gelu';

export interface LinearOptions {
  /** Apply the exact GELU to the output (default false). */
  gelu?: boolean;
}

export function linear(x: Tensor, weight: Tensor, bias: Tensor | null, opts: LinearOptions = {}): Tensor {
  const op = 'linear';
  sameKind(op, bias === null ? { x, weight } : { x, weight, bias });
  checkFloat(op, 'x', x);
  const withGelu = opts.gelu === undefined ? false : checkBool(op, 'opts.gelu', opts.gelu);
  if ((weight.rank !== 2 && weight.rank !== 4) || weight.numel === 0) {
    throw new RangeError(`${op}: expected a non-empty [out, in] or [out, in, kh, kw] tensor for \`weight\` but got ${shapeStr(weight.shape)}`);
  }
  const outF = weight.shape[0];
  const inF = weight.numel / outF;
  if (x.rank === 0 || x.shape[x.rank - 1] !== inF) {
    throw new RangeError(`${op}: expected \`x\` of shape [..., ${inF}] for \`weight\` ${shapeStr(weight.shape)} but got ${shapeStr(x.shape)}`);
  }
  if (bias !== null && (bias.rank !== 1 || bias.shape[0] !== outF)) {
    throw new RangeError(`${op}: expected shape [${outF}] for \`bias\` but got ${shapeStr(bias.shape)}`);
  }
  const rows = x.numel / inF;
  const outShape = [...x.shape.slice(0, -1), outF];
  const h = Tensor.allocate(outShape, x.dtype, x.device);
  let y = h;
  try {
    native.gemm(h.handle(op), x.handle(op), weight.handle(op), bias === null ? null : bias.handle(op), rows, outF, inF,
      false, true, 1, 0, 1, 0, 0, 0);
    if (withGelu) {
      y = Tensor.allocate(outShape, x.dtype, x.device);
      native.gelu(y.handle(op), h.handle(op));
    }
  } catch (e) {
    h.dispose();
    y.dispose();
    throw e;
  }
  if (shouldRecord([x, weight, bias])) {
    record(op, [x, weight, bias], [y], ([dy]) => (dy ? linearGrad(dy, x, weight, bias, withGelu ? h : null) : [null, null, null]),
      withGelu ? [h] : []);
  } else if (withGelu) {
    h.dispose();
  }
  return y;
}

/** [dx, dweight, dbias]; preAct is the saved H when the GELU epilogue was on. */
function linearGrad(dy: Tensor, x: Tensor, weight: Tensor, bias: Tensor | null, preAct: Tensor | null): (Tensor | null)[] {
  const op = 'linear backward';
  const outF = weight.shape[0];
  const inF = weight.numel / outF;
  const rows = x.numel / inF;
  const dh = preAct === null ? dy : geluGrad(dy, preAct);
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
  } finally {
    if (dh !== dy) dh.dispose();
  }
}
