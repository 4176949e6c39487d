// unshuffleTokens: the MAE decoder's input in one native pass, differentiable.
//   unshuffleTokens(x [R, C] | [..., C], maskToken (C elements), pos (T·C elements), src Int32Array [N·T])
//     -> [N, T, C],   out[b, l] = (src[b·T + l] >= 0 ? x[src[b·T + l]] : maskToken) + pos[l]
// src puts every row of x at exactly one position (sample b's kept token j, row b·K + j, where
// the shuffle took it from) and -1 at the masked positions, which take the mask token; it is the
// gather, the concatenation with the mask token and the position add of the official decoder in
// one (native/ops/unshuffle.h). Backward, with no atomics (deterministic): dx = the rows of dout
// at each x row's position (a row gather), dmaskToken = the column sums of dout's masked rows,
// dpos = the column sums of dout over the batch.
import { native } from '../binding';
import { needsGrad, record, shouldRecord } from '../autograd/tape';
import { Tensor, tensor } from '../tensor/tensor';
import { checkFloat, sameKind, shapeStr } from './common';

export function unshuffleTokens(x: Tensor, maskToken: Tensor, pos: Tensor, src: Int32Array): Tensor {
  const op = 'unshuffleTokens';
  sameKind(op, { x, maskToken, pos });
  checkFloat(op, 'x', x);
  if (!(src instanceof Int32Array)) throw new TypeError(`${op}: expected an Int32Array for \`src\``);
  const c = x.rank === 0 ? 0 : x.shape[x.rank - 1];
  if (c === 0) throw new RangeError(`${op}: expected \`x\` of shape [..., C] with C >= 1 but got ${shapeStr(x.shape)}`);
  const r = x.numel / c;
  if (maskToken.numel !== c) throw new RangeError(`${op}: expected ${c} elements for \`maskToken\` but got ${shapeStr(maskToken.shape)}`);
  if (pos.numel % c !== 0 || pos.numel === 0) {
    throw new RangeError(`${op}: expected \`pos\` of T·${c} elements but got ${shapeStr(pos.shape)}`);
  }
  const t = pos.numel / c;
  if (src.length % t !== 0) throw new RangeError(`${op}: \`src\` has ${src.length} entries, not a multiple of T = ${t}`);
  const n = src.length / t;
  // Each row of x at exactly one position: inv[row] = its position; the rest take the mask token.
  const inv = new Int32Array(r).fill(-1);
  const maskedAt = new Int32Array(src.length);
  let maskedCount = 0;
  for (let o = 0; o < src.length; o++) {
    const s = src[o];
    if (s === -1) maskedAt[maskedCount++] = o;
    else if (s < 0 || s >= r) throw new RangeError(`${op}: \`src\`[${o}] = ${s} is outside [-1, ${r})`);
    else if (inv[s] !== -1) throw new RangeError(`${op}: row ${s} of \`x\` is placed twice (\`src\`[${inv[s]}] and [${o}])`);
    else inv[s] = o;
  }
  const missing = inv.indexOf(-1);
  if (missing >= 0) throw new RangeError(`${op}: row ${missing} of \`x\` is placed nowhere in \`src\``);

  const device = x.device;
  const recording = shouldRecord([x, maskToken, pos]);
  // The backward's index tables are uploaded with the forward's (queued like it), so the backward
  // makes no upload of its own.
  const srcT = tensor(src, [src.length], { dtype: 'int32', device });
  const invT = recording ? tensor(inv, [r], { dtype: 'int32', device }) : null;
  const masked = maskedAt.subarray(0, maskedCount);
  const maskedT = recording && masked.length ? tensor(masked, [masked.length], { dtype: 'int32', device }) : null;
  const out = Tensor.allocate([n, t, c], x.dtype, device);
  try {
    native.unshuffleTokens(out.handle(op), x.handle(op), maskToken.handle(op), pos.handle(op), srcT.handle(op), n, t, r, c);
  } catch (e) {
    [out, invT, maskedT].forEach((tt) => tt?.dispose());
    throw e;
  } finally {
    srcT.dispose();
  }
  if (invT === null) return out;
  record(op, [x, maskToken, pos], [out], ([dout]) => {
    if (!dout) return [null, null, null];
    const bop = `${op} backward`;
    const made: Tensor[] = [];
    const alloc = (shape: readonly number[]) => {
      const g = Tensor.allocate(shape, dout.dtype, device);
      made.push(g);
      return g;
    };
    try {
      let dx: Tensor | null = null, dmask: Tensor | null = null, dpos: Tensor | null = null;
      if (needsGrad(x)) {
        dx = alloc(x.shape);
        native.gatherRows(dx.handle(bop), dout.handle(bop), invT.handle(bop), r, n * t, c);
      }
      if (needsGrad(maskToken)) {
        dmask = alloc(maskToken.shape);
        if (maskedT === null) native.fill(dmask.handle(bop), 0);
        else {
          const rows = Tensor.allocate([masked.length, c], dout.dtype, device);
          try {
            native.gatherRows(rows.handle(bop), dout.handle(bop), maskedT.handle(bop), masked.length, n * t, c);
            native.sum(dmask.handle(bop), rows.handle(bop), masked.length, c, 0, 1, false);
          } finally {
            rows.dispose();
          }
        }
      }
      if (needsGrad(pos)) {
        dpos = alloc(pos.shape);
        native.sum(dpos.handle(bop), dout.handle(bop), n, t * c, 0, 1, false);
      }
      return [dx, dmask, dpos];
    } catch (e) {
      made.forEach((g) => g.dispose());
      throw e;
    }
  }, maskedT ? [invT, maskedT] : [invT]);
  return out;
}
