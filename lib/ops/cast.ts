// castTo: a differentiable dtype conversion. castTo(x, dtype) is x itself when the dtype already
// matches, else a new tensor (native cast, round to nearest even into bfloat16); its backward
// casts the incoming gradient back to x's dtype, so a float32 parameter used in bfloat16 gets a
// float32 gradient.
import { record, shouldRecord } from '../autograd/tape';
import { DType } from '../tensor/dtype';
import { checkTensor, Tensor } from '../tensor/tensor';
import { checkDType } from '../util/check';
import { checkFloat } from './common';

export function castTo(x: Tensor, dtype: DType): Tensor {
  checkTensor('castTo', 'x', x);
  checkDType('castTo', 'dtype', dtype);
  if (x.dtype === dtype) return x;
  checkFloat('castTo', 'x', x);
  const y = x.cast(dtype);
  if (shouldRecord([x])) record('castTo', [x], [y], ([dy]) => [dy ? dy.cast(x.dtype) : null]);
  return y;
}
