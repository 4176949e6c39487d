// Tile rearrangements between visible-block rows and dense tensors (contract in
// native/ops/patches.h; row layout in visible_layout.ts).
//   rowsToPatches(x [B*t*t, C], t, k) -> [B*(t/k)², C*k*k]: the aligned k×k patches of each t×t
//     tile, columns in PyTorch conv-weight order (c, a, b), so linear(patches, W.reshape(Cout,
//     C*k*k), bias) is the kernel = stride = k conv. Differentiable.
//   imageToRows(img [N, C, H, W], layout, t) -> [N*K*t*t, C*k*k] with k = H/(G*t): the pixel
//     patches under each visible row (the input of the first patch conv). Not differentiable.
//   patchify(img [N, C, H, W], p) -> [N, (H/p)*(W/p), p*p*C], channel fastest (SPEC.md §2.10,
//     the reconstruction target). Not differentiable.
//   rowsToMap(x [N*K*t*t, C], layout, t) -> [N, C, G*t, G*t], zero where cells are masked.
//     Differentiable.
import { native } from '../binding';
import { record, shouldRecord } from '../autograd/tape';
import { checkInt } from '../util/check';
import { checkTensor, Tensor } from '../tensor/tensor';
import { checkFloat, shapeStr, writeInto } from './common';
import { checkLayout, VisibleLayout } from './visible_layout';

export function rowsToPatches(x: Tensor, t: number, k: number): Tensor {
  const op = 'rowsToPatches';
  checkTensor(op, 'x', x);
  checkFloat(op, 'x', x);
  checkInt(op, 't', t, 1);
  checkInt(op, 'k', k, 1, t);
  if (t % k !== 0) throw new RangeError(`${op}: expected a divisor of t = ${t} for \`k\` but got ${k}`);
  if (x.rank !== 2 || x.shape[0] % (t * t) !== 0) {
    throw new RangeError(`${op}: expected a [blocks*${t * t}, C] tensor for \`x\` but got ${shapeStr(x.shape)}`);
  }
  const [rows, c] = x.shape;
  const blocks = rows / (t * t);
  const out = Tensor.allocate([rows / (k * k), c * k * k], x.dtype, x.device);
  writeInto(out, () => native.rowsToPatches(out.handle(op), x.handle(op), blocks, t, k, c));
  if (shouldRecord([x])) {
    record(op, [x], [out], ([dout]) => {
      if (dout === null) return [null];
      const dx = Tensor.allocate(x.shape, x.dtype, x.device);
      return [writeInto(dx, () => native.patchesToRows(dx.handle(op), dout.handle(op), blocks, t, k, c))];
    });
  }
  return out;
}

/** [N, C, H, W] sizes of an image argument. */
function imageShape(op: string, img: Tensor): [number, number, number, number] {
  checkTensor(op, 'img', img);
  checkFloat(op, 'img', img);
  if (img.rank !== 4) throw new RangeError(`${op}: expected an [N, C, H, W] tensor for \`img\` but got ${shapeStr(img.shape)}`);
  return img.shape as [number, number, number, number];
}

export function imageToRows(img: Tensor, layout: VisibleLayout, t: number): Tensor {
  const op = 'imageToRows';
  const [n, c, h, w] = imageShape(op, img);
  const l = checkLayout(op, layout, img);
  checkInt(op, 't', t, 1);
  const side = l.g * t;
  if (n !== l.n || h !== w || h % side !== 0 || h === 0) {
    throw new RangeError(`${op}: expected an [${l.n}, C, S, S] image with S a multiple of G*t = ${side} for \`img\` but got ${shapeStr(img.shape)}`);
  }
  const k = h / side;
  const out = Tensor.allocate([l.n * l.k * t * t, c * k * k], img.dtype, img.device);
  return writeInto(out, () => native.imageToRows(out.handle(op), img.handle(op), l.cells.handle(op), l.n, l.k, l.g, t, c, h, w));
}

export function patchify(img: Tensor, p: number): Tensor {
  const op = 'patchify';
  const [n, c, h, w] = imageShape(op, img);
  checkInt(op, 'p', p, 1);
  if (h % p !== 0 || w % p !== 0) {
    throw new RangeError(`${op}: expected an image whose sides are multiples of p = ${p} for \`img\` but got ${shapeStr(img.shape)}`);
  }
  const out = Tensor.allocate([n, (h / p) * (w / p), p * p * c], img.dtype, img.device);
  return writeInto(out, () => native.patchify(out.handle(op), img.handle(op), n, c, h, w, p));
}

export function rowsToMap(x: Tensor, layout: VisibleLayout, t: number): Tensor {
  const op = 'rowsToMap';
  checkTensor(op, 'x', x);
  checkFloat(op, 'x', x);
  const l = checkLayout(op, layout, x);
  checkInt(op, 't', t, 1);
  const rows = l.n * l.k * t * t;
  if (x.rank !== 2 || x.shape[0] !== rows) {
    throw new RangeError(`${op}: expected a [N*K*t*t, C] = [${rows}, C] tensor for \`x\` but got ${shapeStr(x.shape)}`);
  }
  const c = x.shape[1], side = l.g * t;
  const out = Tensor.allocate([l.n, c, side, side], x.dtype, x.device);
  writeInto(out, () => native.rowsToMap(out.handle(op), x.handle(op), l.cells.handle(op), l.n, l.k, l.g, t, c));
  if (shouldRecord([x])) {
    record(op, [x], [out], ([dout]) => {
      if (dout === null) return [null];
      const lb = checkLayout(`${op} backward`, l, x);
      const dx = Tensor.allocate(x.shape, x.dtype, x.device);
      return [writeInto(dx, () => native.mapToRows(dx.handle(op), dout.handle(op), lb.cells.handle(op), lb.n, lb.k, lb.g, t, c))];
    });
  }
  return out;
}
