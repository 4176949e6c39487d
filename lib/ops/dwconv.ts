// Depthwise ksize×ksize convolution on visible-block rows, differentiable (SPEC.md §2.3, §4.5).
//   dwconvRows(x [N*K*t*t, C], weight [C, 1, ksize, ksize], bias [C], layout, t) -> [N*K*t*t, C]
// ksize odd, padding ksize/2, stride 1, cross-correlation, with bias (the CBlock uses 5×5). Each
// output row reads its neighbours through layout.table; a neighbour outside the (G*t)² map or in
// a masked cell counts as 0, which equals the dense conv on the masked map. The backward gives
// dx (the mirrored conv of dy) and dweight, dbias. The layout must stay alive until backward.
import { native } from '../binding';
import { needsGrad, record, shouldRecord } from '../autograd/tape';
import { checkInt } from '../util/check';
import { Tensor } from '../tensor/tensor';
import { checkFloat, sameKind, shapeStr } from './common';
import { checkLayout, VisibleLayout } from './visible_layout';

export function dwconvRows(x: Tensor, weight: Tensor, bias: Tensor, layout: VisibleLayout, t: number): Tensor {
  const op = 'dwconvRows';
  sameKind(op, { x, weight, bias });
  checkFloat(op, 'x', x);
  checkInt(op, 't', t, 1);
  const l = checkLayout(op, layout, x);
  const rows = l.n * l.k * t * t;
  if (x.rank !== 2 || x.shape[0] !== rows) {
    throw new RangeError(`${op}: expected a [N*K*t*t, C] = [${rows}, C] tensor for \`x\` but got ${shapeStr(x.shape)}`);
  }
  const c = x.shape[1];
  const ks = weight.rank === 4 ? weight.shape[3] : 0;
  if (ks % 2 !== 1 || weight.shape[0] !== c || weight.shape[1] !== 1 || weight.shape[2] !== ks) {
    throw new RangeError(`${op}: expected a [${c}, 1, k, k] weight with k odd for \`weight\` but got ${shapeStr(weight.shape)}`);
  }
  if (bias.rank !== 1 || bias.shape[0] !== c) {
    throw new RangeError(`${op}: expected a [${c}] tensor for \`bias\` but got ${shapeStr(bias.shape)}`);
  }
  const geo: Geometry = { layout: l, t, c, ks };
  const y = Tensor.allocate([rows, c], x.dtype, x.device);
  try {
    native.dwconvRows(y.handle(op), x.handle(op), l.cells.handle(op), l.table.handle(op), weight.handle(op),
      bias.handle(op), l.n, l.k, l.g, t, c, ks);
  } catch (e) {
    y.dispose();
    throw e;
  }
  if (shouldRecord([x, weight, bias])) {
    record(op, [x, weight, bias], [y], ([dy]) => dwconvRowsGrad(dy, x, weight, bias, geo));
  }
  return y;
}

interface Geometry {
  layout: VisibleLayout;
  t: number;
  c: number;
  ks: number;
}

/** [dx, dweight, dbias] from dy; only the gradients some input needs are computed. */
function dwconvRowsGrad(dy: Tensor | null, x: Tensor, weight: Tensor, bias: Tensor, g: Geometry): (Tensor | null)[] {
  const op = 'dwconvRows backward';
  if (dy === null) return [null, null, null];
  const l = checkLayout(op, g.layout, x);
  const sizes = [l.n, l.k, l.g, g.t, g.c, g.ks] as const;
  let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
  try {
    if (needsGrad(x)) {
      dx = Tensor.allocate(x.shape, x.dtype, x.device);
      native.dwconvRowsBackwardInput(dx.handle(op), dy.handle(op), l.cells.handle(op), l.table.handle(op),
        weight.handle(op), ...sizes);
    }
    if (needsGrad(weight) || needsGrad(bias)) {
      dw = Tensor.allocate(weight.shape, weight.dtype, weight.device);
      db = Tensor.allocate(bias.shape, bias.dtype, bias.device);
      native.dwconvRowsBackwardWeight(dw.handle(op), db.handle(op), dy.handle(op), x.handle(op), l.cells.handle(op),
        l.table.handle(op), ...sizes);
    }
  } catch (e) {
    for (const g of [dx, dw, db]) g?.dispose();
    throw e;
  }
  return [dx, dw, db];
}
