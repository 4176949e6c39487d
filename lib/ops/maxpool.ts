// 2×2 max pooling, stride 2, differentiable:
//   maxPool2x2(x [N, C, H, W], H and W even) -> [N, C, H/2, W/2].
// Ties go to the first element of the window in raster order (a NaN wins); the gradient flows
// to that element only. The argmax is kept on the tape for the backward when recording.
import { native } from '../binding';
import { record, shouldRecord } from '../autograd/tape';
import { checkTensor, Tensor } from '../tensor/tensor';
import { checkFloat, shapeStr } from './common';

export function maxPool2x2(x: Tensor): Tensor {
  const op = 'maxPool2x2';
  checkTensor(op, 'x', x);
  checkFloat(op, 'x', x);
  if (x.rank !== 4 || x.shape[2] % 2 !== 0 || x.shape[3] % 2 !== 0) {
    throw new RangeError(`${op}: expected an [N, C, H, W] tensor with H and W even for \`x\` but got ${shapeStr(x.shape)}`);
  }
  const [n, c, h, w] = x.shape;
  const out = Tensor.allocate([n, c, h / 2, w / 2], x.dtype, x.device);
  const argmax = Tensor.allocate([n, c, h / 2, w / 2], 'int32', x.device);
  try {
    native.maxPool2x2(out.handle(op), argmax.handle(op), x.handle(op), n, c, h, w);
  } catch (e) {
    out.dispose();
    argmax.dispose();
    throw e;
  }
  if (shouldRecord([x])) {
    record(op, [x], [out], ([dout]) => {
      if (dout === null) return [null];
      const dx = Tensor.allocate(x.shape, x.dtype, x.device);
      try {
        native.maxPool2x2Backward(dx.handle(op), dout.handle(op), argmax.handle(op), n, c, h, w);
      } catch (e) {
        dx.dispose();
        throw e;
      }
      return [dx];
    }, [argmax]);
  } else {
    argmax.dispose();
  }
  return out;
}
