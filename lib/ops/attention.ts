// Multi-head self-attention over a token set (SPEC.md 2.4), differentiable.
//   attention(qkv [N, L, 3D], heads) -> out [N, L, D], D = heads·Dh.
// The last dim of qkv is [3 (q, k, v)] x [heads] x [Dh] (q first, head-major inside each), as the
// qkv Linear produces it. Scores (Q·Kᵀ)·Dh^-0.5, softmax over keys, O = softmax·V, heads
// concatenated in head order. No mask. The forward also yields the float32 log-sum-exp of each
// score row, lse [N, heads, L]; while recording, the tape keeps lse and a view of out (so the
// storage of out outlives a dispose of out itself; out must not be written in place before the
// backward), from which the backward recomputes the probabilities. Otherwise lse is freed at once.
import { native } from '../binding';
import { record, shouldRecord } from '../autograd/tape';
import { checkInt } from '../util/check';
import { checkTensor, Tensor } from '../tensor/tensor';
import { checkFloat, shapeStr, writeInto } from './common';

export function attention(qkv: Tensor, heads: number): Tensor {
  const op = 'attention';
  checkTensor(op, 'qkv', qkv);
  checkFloat(op, 'qkv', qkv);
  checkInt(op, 'heads', heads, 1);
  if (qkv.rank !== 3) throw new RangeError(`${op}: expected a [N, L, 3*D] tensor for \`qkv\` but got ${shapeStr(qkv.shape)}`);
  const [n, l, width] = qkv.shape;
  if (width === 0 || width % (3 * heads) !== 0) {
    throw new RangeError(`${op}: expected a last dim of \`qkv\` divisible by 3*heads = ${3 * heads} but got ${shapeStr(qkv.shape)}`);
  }
  const headDim = width / (3 * heads);
  const scale = 1 / Math.sqrt(headDim);
  const out = Tensor.allocate([n, l, heads * headDim], qkv.dtype, qkv.device);
  const lse = Tensor.allocate([n, heads, l], 'float32', qkv.device);
  try {
    native.attention(out.handle(op), lse.handle(op), qkv.handle(op), n, l, heads, headDim, scale);
  } catch (e) {
    out.dispose();
    lse.dispose();
    throw e;
  }
  if (shouldRecord([qkv])) {
    const saved = out.reshape(out.shape);
    record(op, [qkv], [out], ([dout]) => [dout ? attentionGrad(dout, qkv, saved, lse, heads, headDim, scale) : null], [saved, lse]);
  } else {
    lse.dispose();
  }
  return out;
}

/** dqkv [N, L, 3D] from dout [N, L, D], the forward's input, its output and its lse. */
function attentionGrad(dout: Tensor, qkv: Tensor, out: Tensor, lse: Tensor, heads: number, headDim: number, scale: number): Tensor {
  const op = 'attention backward';
  const [n, l] = qkv.shape;
  const dqkv = Tensor.allocate(qkv.shape, qkv.dtype, qkv.device);
  return writeInto(dqkv, () => native.attentionBackward(dqkv.handle(op), dout.handle(op), qkv.handle(op), out.handle(op),
    lse.handle(op), n, l, heads, headDim, scale));
}
