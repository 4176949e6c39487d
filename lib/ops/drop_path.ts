// Stochastic depth (SPEC.md §2.1): each sample's residual branch is kept with probability 1 - p
// and then divided by 1 - p, or zeroed. Tensors are [N, ...] with each sample's values contiguous
// (true of visible-block rows and of token tensors). One elementwise pass (native sampleScale)
// applies the per-sample factors s[n]; addDropPath folds the residual add into the same pass:
// x + s[n]·branch[n]. The branch's gradient is the same scaling of the output gradient, x's is the
// output gradient itself. The factors are drawn from `rng`, one per sample, in sample order.
import { native } from '../binding';
import { Rng } from '../data/rng';
import { needsGrad, record, shouldRecord } from '../autograd/tape';
import { checkFinite, checkInt } from '../util/check';
import { Tensor, checkTensor, tensor } from '../tensor/tensor';
import { checkFloat, sameKind } from './common';

/** out = base + s[n]·x[n] (base null: s[n]·x[n]), in one native pass. */
function scaleSamples(x: Tensor, s: Tensor, base: Tensor | null, op: string): Tensor {
  const out = Tensor.allocate(x.shape, x.dtype, x.device);
  native.sampleScale(out.handle(op), x.handle(op), s.handle(op), base ? base.handle(op) : null);
  return out;
}

/** The keep factors [samples] (0 or 1/(1 - rate)) in x's dtype on x's device, after checking. */
function keepFactors(op: string, x: Tensor, rate: number, samples: number, rng: Rng): Tensor {
  checkFinite(op, 'rate', rate);
  if (rate < 0 || rate >= 1) throw new RangeError(`${op}: expected a rate in [0, 1) for \`rate\` but got ${rate}`);
  checkInt(op, 'samples', samples, 1);
  if (x.numel % samples !== 0) throw new RangeError(`${op}: ${x.numel} elements do not split into ${samples} samples`);
  const keep = new Float64Array(samples);
  for (let n = 0; n < samples; n++) keep[n] = rng.uniform() < 1 - rate ? 1 / (1 - rate) : 0;
  return tensor(keep, [samples], { dtype: x.dtype, device: x.device });
}

/** base + s[n]·branch[n] (base null: s[n]·branch[n]) with fresh keep factors, and its tape entry. */
function dropPathOp(op: string, base: Tensor | null, branch: Tensor, rate: number, samples: number, rng: Rng): Tensor {
  const s = keepFactors(op, branch, rate, samples, rng);
  const out = scaleSamples(branch, s, base, op);
  const inputs = base ? [base, branch] : [branch];
  if (shouldRecord(inputs)) {
    record(op, inputs, [out], ([g]) => {
      const dBranch = g && needsGrad(branch) ? scaleSamples(g, s, null, `${op} backward`) : null;
      if (!base) return [dBranch];
      // A view is safe as base's gradient: g is dropped after this rule, so the view owns the storage.
      return [g && needsGrad(base) ? g.reshape(base.shape) : null, dBranch];
    }, [s]);
  } else {
    s.dispose();
  }
  return out;
}

/** Each sample of x kept and scaled by 1/(1 - rate), or zeroed. */
export function dropPath(x: Tensor, rate: number, samples: number, rng: Rng): Tensor {
  checkTensor('dropPath', 'x', x);
  checkFloat('dropPath', 'x', x);
  return dropPathOp('dropPath', null, x, rate, samples, rng);
}

/** x + dropPath(branch, rate, samples, rng) in one pass (the same draws from rng). */
export function addDropPath(x: Tensor, branch: Tensor, rate: number, samples: number, rng: Rng): Tensor {
  checkTensor('addDropPath', 'x', x);
  checkTensor('addDropPath', 'branch', branch);
  checkFloat('addDropPath', 'x', x);
  sameKind('addDropPath', { x, branch });
  if (x.shape.length !== branch.shape.length || x.shape.some((d, i) => d !== branch.shape[i])) {
    throw new RangeError(`addDropPath: \`branch\` has shape [${branch.shape.join(', ')}] but \`x\` has [${x.shape.join(', ')}]`);
  }
  return dropPathOp('addDropPath', x, branch, rate, samples, rng);
}
