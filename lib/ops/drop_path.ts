// Stochastic depth (SPEC.md §2.1): each sample's residual branch is kept with probability 1 - p
// and then divided by 1 - p, or zeroed. x is [N, ...] with each sample's values contiguous (true of
// visible-block rows and of token tensors). out[n] = s[n]·x[n], as a batched 1x1 GEMM; the
// gradient is the same scaling of the output gradient.
import { native } from '../binding';
import { Rng } from '../data/rng';
import { record, shouldRecord } from '../autograd/tape';
import { checkFinite, checkInt } from '../util/check';
import { Tensor, checkTensor, tensor } from '../tensor/tensor';
import { checkFloat } from './common';

function scaleSamples(x: Tensor, s: Tensor, samples: number): Tensor {
  const per = x.numel / samples;
  const out = Tensor.allocate(x.shape, x.dtype, x.device);
  native.gemm(out.handle('dropPath'), s.handle('dropPath'), x.handle('dropPath'), null, 1, per, 1, false, false, 1, 0,
    samples, 1, per, per);
  return out;
}

export function dropPath(x: Tensor, rate: number, samples: number, rng: Rng): Tensor {
  checkTensor('dropPath', 'x', x);
  checkFloat('dropPath', 'x', x);
  checkFinite('dropPath', 'rate', rate);
  if (rate < 0 || rate >= 1) throw new RangeError(`dropPath: expected a rate in [0, 1) for \`rate\` but got ${rate}`);
  checkInt('dropPath', 'samples', samples, 1);
  if (x.numel % samples !== 0) throw new RangeError(`dropPath: ${x.numel} elements do not split into ${samples} samples`);
  const keep = new Float64Array(samples);
  for (let n = 0; n < samples; n++) keep[n] = rng.uniform() < 1 - rate ? 1 / (1 - rate) : 0;
  const s = tensor(keep, [samples], { dtype: x.dtype, device: x.device });
  const out = scaleSamples(x, s, samples);
  if (shouldRecord([x])) {
    record('dropPath', [x], [out], ([g]) => [g ? scaleSamples(g, s, samples) : null], [s]);
  } else {
    s.dispose();
  }
  return out;
}
