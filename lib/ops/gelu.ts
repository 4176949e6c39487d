// gelu: the exact erf GELU, y = 0.5·x·(1 + erf(x/√2)) elementwise (SPEC.md 2.1; not the tanh
// form), differentiable. geluGrad (dx = dy·gelu'(x)) is exported for linear's fused epilogue.
// Native gelu / geluBackward, contract in native/ops/gelu.h.
import { native } from '../binding';
import { record, shouldRecord } from '../autograd/tape';
import { checkTensor, Tensor } from '../tensor/tensor';
import { checkFloat } from './common';

export function gelu(x: Tensor): Tensor {
  const op = 'gelu';
  checkTensor(op, 'x', x);
  checkFloat(op, 'x', x);
  const y = Tensor.allocate(x.shape, x.dtype, x.device);
  try {
    native.gelu(y.handle(op), x.handle(op));
  } catch (e) {
    y.dispose();
    throw e;
  }
  if (shouldRecord([x])) record(op, [x], [y], ([dy]) => [dy ? geluGrad(dy, x) : null]);
  return y;
}

/** dx = dy · gelu'(x), a new tensor of x's shape (dy has x's element count). */
export function geluGrad(dy: Tensor, x: Tensor): Tensor {
  const op = 'gelu backward';
  const dx = Tensor.allocate(x.shape, x.dtype, x.device);
  try {
    native.geluBackward(dx.handle(op), dy.handle(op), x.handle(op));
  } catch (e) {
    dx.dispose();
    throw e;
  }
  return dx;
}
