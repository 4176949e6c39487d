// mlp: the transformer MLP z = fc2(gelu(fc1(x))) (+ residual) as one differentiable op, so that
// each GELU pass rides in a GEMM epilogue:
//   forward:  H = x·W1ᵀ + b1 and G = gelu(H) in one GEMM; z = G·W2ᵀ + b2 (+ residual) in another.
//   backward: dH = (dz·W2) ⊙ gelu'(H) in one GEMM (dG never stored); dW2 = dzᵀ·G, db2 = Σ dz,
//             dx = dH·W1, dW1 = dHᵀ·x, db1 = Σ dH, dresidual = dz.
//   mlp(x [..., in], w1 [hidden, in] | [hidden, in, 1, 1], b1 [hidden], w2 [out, hidden] |
//       [out, hidden, 1, 1], b2 [out], { residual }) -> [..., out]
// Same function and gradients as linear(linear(x, w1, b1, { gelu: true }), w2, b2) (+ residual);
// H and G are kept on the tape for the backward, as those two linears keep them.
import { native } from '../binding';
import { needsGrad, record, shouldRecord } from '../autograd/tape';
import { checkTensor, Tensor } from '../tensor/tensor';
import { shapeStr } from './common';
import { checkResidual, linearGrads, linearShape } from './linear';

export interface MlpOptions {
  /** Add this tensor (the output's shape, dtype and device) to the output. */
  residual?: Tensor | null;
}

export function mlp(x: Tensor, w1: Tensor, b1: Tensor | null, w2: Tensor, b2: Tensor | null, opts: MlpOptions = {}): Tensor {
  const op = 'mlp';
  const s1 = linearShape(op, x, w1, b1, { weight: 'w1', bias: 'b1' });
  checkTensor(op, 'w2', w2);
  if (w2.rank >= 1 && w2.numel !== 0 && w2.numel / w2.shape[0] !== s1.outF) {
    throw new RangeError(`${op}: expected \`w2\` with ${s1.outF} inputs (the rows of \`w1\`) but got ${shapeStr(w2.shape)}`);
  }
  const h = Tensor.allocate(s1.outShape, x.dtype, x.device), g = Tensor.allocate(s1.outShape, x.dtype, x.device);
  let z: Tensor | null = null, ownsHg = true;
  try {
    const s2 = linearShape(op, g, w2, b2, { weight: 'w2', bias: 'b2' });
    const residual = checkResidual(op, opts.residual, x, s2.outShape);
    z = Tensor.allocate(s2.outShape, x.dtype, x.device);
    native.gemm(h.handle(op), x.handle(op), w1.handle(op), b1 === null ? null : b1.handle(op), s1.rows, s1.outF, s1.inF,
      false, true, 1, 0, 1, 0, 0, 0, null, g.handle(op), null);
    native.gemm(z.handle(op), g.handle(op), w2.handle(op), b2 === null ? null : b2.handle(op), s2.rows, s2.outF, s2.inF,
      false, true, 1, 0, 1, 0, 0, 0, residual ? residual.handle(op) : null, null, null);
    if (shouldRecord([x, w1, b1, w2, b2, residual])) {
      record(op, [x, w1, b1, w2, b2, residual], [z], ([dz]) => (dz ? mlpGrads(dz, x, w1, b1, w2, b2, residual, h, g) : [null, null, null, null, null, null]), [h, g]);
      ownsHg = false; // the tape frees H and G
    }
    return z;
  } catch (e) {
    z?.dispose();
    throw e;
  } finally {
    if (ownsHg) {
      h.dispose();
      g.dispose();
    }
  }
}

/** [dx, dw1, db1, dw2, db2, dresidual], each only where that input needs a gradient. */
function mlpGrads(dz: Tensor, x: Tensor, w1: Tensor, b1: Tensor | null, w2: Tensor, b2: Tensor | null, residual: Tensor | null,
  h: Tensor, g: Tensor): (Tensor | null)[] {
  const op = 'mlp backward';
  const [, dw2, db2] = linearGrads(dz, g, w2, b2);
  let first: (Tensor | null)[] = [null, null, null];
  if (needsGrad(x) || needsGrad(w1) || (b1 !== null && needsGrad(b1))) {
    const outF = w2.shape[0], hiddenF = w1.shape[0], rows = x.numel / (w1.numel / hiddenF);
    const dh = Tensor.allocate(h.shape, h.dtype, h.device);
    try {
      native.gemm(dh.handle(op), dz.handle(op), w2.handle(op), null, rows, hiddenF, outF, false, false, 1, 0, 1, 0, 0, 0,
        null, null, h.handle(op));
      first = linearGrads(dh, x, w1, b1);
    } catch (e) {
      dw2?.dispose();
      db2?.dispose();
      throw e;
    } finally {
      dh.dispose();
    }
  }
  // A view is safe as the residual's gradient: dz is dropped after this rule.
  return [...first, dw2, db2, residual && needsGrad(residual) ? dz.reshape(residual.shape) : null];
}
