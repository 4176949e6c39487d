// Matrix products without autograd. matmul(a, b) multiplies the last two dims, with optional
// transposes and a bias over the output columns; leading dims of a are batch dims (b is shared
// when it is 2-D, else its leading dims must equal a's).
import { native } from '../binding';
import { checkBool, checkNumber } from '../util/check';
import { Tensor } from '../tensor/tensor';
import { checkFloat, sameKind, shapeStr } from './common';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor | null;
  alpha?: number;
  /** Accumulate into `out` with this weight (needs out). */
  beta?: number;
  out?: Tensor;
}

export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const op = 'matmul';
  sameKind(op, { a, b });
  checkFloat(op, 'a', a);
  const transA = opts.transA === undefined ? false : checkBool(op, 'transA', opts.transA);
  const transB = opts.transB === undefined ? false : checkBool(op, 'transB', opts.transB);
  const alpha = opts.alpha === undefined ? 1 : checkNumber(op, 'alpha', opts.alpha);
  const beta = opts.beta === undefined ? 0 : checkNumber(op, 'beta', opts.beta);
  if (a.rank < 2 || b.rank < 2) throw new RangeError(`${op}: \`a\` ${shapeStr(a.shape)} and \`b\` ${shapeStr(b.shape)} need at least 2 dims`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = transA ? ac : ar, k = transA ? ar : ac;
  const kb = transB ? bc : br, n = transB ? br : bc;
  if (k !== kb) {
    throw new RangeError(`${op}: inner dims differ: op(a) is [${m}, ${k}] and op(b) is [${kb}, ${n}] (a ${shapeStr(a.shape)}, b ${shapeStr(b.shape)})`);
  }
  const batchShape = a.shape.slice(0, -2);
  const batch = batchShape.reduce((x, y) => x * y, 1);
  let strideB = 0;
  if (b.rank > 2) {
    const bb = b.shape.slice(0, -2);
    if (bb.length !== batchShape.length || bb.some((d, i) => d !== batchShape[i])) {
      throw new RangeError(`${op}: batch dims of \`b\` ${shapeStr(b.shape)} differ from those of \`a\` ${shapeStr(a.shape)}`);
    }
    strideB = k * n;
  }
  const outShape = [...batchShape, m, n];
  const bias = opts.bias ?? null;
  if (bias !== null) {
    sameKind(op, { a, bias });
    if (bias.numel !== n) throw new RangeError(`${op}: \`bias\` has ${bias.numel} elements but the output has ${n} columns`);
  }
  let out = opts.out;
  if (out !== undefined) {
    sameKind(op, { a, out });
    if (out.numel !== batch * m * n) throw new RangeError(`${op}: \`out\` has shape ${shapeStr(out.shape)}, expected ${shapeStr(outShape)}`);
  } else {
    if (beta !== 0) throw new RangeError(`${op}: \`beta\` needs \`out\` to accumulate into`);
    out = Tensor.allocate(outShape, a.dtype, a.device);
  }
  native.gemm(out.handle(op), a.handle(op), b.handle(op), bias ? bias.handle(op) : null, m, n, k, transA, transB,
    alpha, beta, batch, m * k, strideB, m * n);
  return out;
}
