// Scalar losses, differentiable in their prediction argument only.
//   maskedMseLoss(pred, target, mask, normPix) (SPEC.md 2.10): pred and target [..., P] of one
//     shape, mask with one element per row (1 = masked). Per row, t̂ is the target or, with
//     normPix, (t − μ)/sqrt(σ² + 1e-6) with the row's mean and unbiased variance; the loss is
//     Σ mask·mean_P (pred − t̂)² / Σ mask (0 when Σ mask is 0). Returns shape [].
//   crossEntropy(logits [N, C], targets [N, C] soft) = mean_n Σ_c −t·log_softmax(logits).
//     Returns shape [].
//   softTargets(labels, C, ε): host soft targets (1 − ε)·onehot + ε/C, so that crossEntropy on
//     them equals timm's LabelSmoothingCrossEntropy, (1 − ε)·nll + ε·mean_c(−log p).
import { native } from '../binding';
import { record, shouldRecord } from '../autograd/tape';
import { checkBool, checkInt, checkNumber, fail } from '../util/check';
import { Tensor } from '../tensor/tensor';
import { checkFloat, sameKind, shapeStr, writeInto } from './common';

export function maskedMseLoss(pred: Tensor, target: Tensor, mask: Tensor, normPix: boolean): Tensor {
  const op = 'maskedMseLoss';
  sameKind(op, { pred, target, mask });
  checkFloat(op, 'pred', pred);
  checkBool(op, 'normPix', normPix);
  if (pred.rank < 1 || pred.shape.length !== target.shape.length || pred.shape.some((d, i) => d !== target.shape[i])) {
    throw new RangeError(`${op}: expected \`target\` of the shape of \`pred\` ${shapeStr(pred.shape)} (at least 1-D) but got ${shapeStr(target.shape)}`);
  }
  const P = pred.shape[pred.rank - 1];
  if (P < (normPix ? 2 : 1)) {
    throw new RangeError(`${op}: expected a last dim of \`pred\` >= ${normPix ? '2 with normPix (unbiased variance)' : 1} but got ${shapeStr(pred.shape)}`);
  }
  const rows = pred.numel / P;
  if (mask.numel !== rows) {
    throw new RangeError(`${op}: expected ${rows} elements (one per row of \`pred\` ${shapeStr(pred.shape)}) for \`mask\` but got ${shapeStr(mask.shape)}`);
  }
  const loss = Tensor.allocate([], pred.dtype, pred.device);
  writeInto(loss, () => native.maskedMseLoss(loss.handle(op), pred.handle(op), target.handle(op), mask.handle(op), rows, P, normPix));
  if (shouldRecord([pred])) {
    record(op, [pred, target, mask], [loss], ([dloss]) => [
      dloss ? maskedMseLossGrad(dloss, pred, target, mask, rows, P, normPix) : null, null, null]);
  }
  return loss;
}

function maskedMseLossGrad(dloss: Tensor, pred: Tensor, target: Tensor, mask: Tensor, rows: number, P: number, normPix: boolean): Tensor {
  const op = 'maskedMseLoss backward';
  const dpred = Tensor.allocate(pred.shape, pred.dtype, pred.device);
  return writeInto(dpred, () => native.maskedMseLossBackward(dpred.handle(op), dloss.handle(op), pred.handle(op),
    target.handle(op), mask.handle(op), rows, P, normPix));
}

export function crossEntropy(logits: Tensor, targets: Tensor): Tensor {
  const op = 'crossEntropy';
  sameKind(op, { logits, targets });
  checkFloat(op, 'logits', logits);
  if (logits.rank !== 2 || logits.shape[0] < 1 || logits.shape[1] < 1) {
    throw new RangeError(`${op}: expected a non-empty [N, C] tensor for \`logits\` but got ${shapeStr(logits.shape)}`);
  }
  if (targets.rank !== 2 || targets.shape[0] !== logits.shape[0] || targets.shape[1] !== logits.shape[1]) {
    throw new RangeError(`${op}: expected \`targets\` of shape ${shapeStr(logits.shape)} (soft targets) but got ${shapeStr(targets.shape)}`);
  }
  const [n, c] = logits.shape;
  const loss = Tensor.allocate([], logits.dtype, logits.device);
  writeInto(loss, () => native.crossEntropy(loss.handle(op), logits.handle(op), targets.handle(op), n, c));
  if (shouldRecord([logits])) {
    record(op, [logits, targets], [loss], ([dloss]) => [dloss ? crossEntropyGrad(dloss, logits, targets) : null, null]);
  }
  return loss;
}

function crossEntropyGrad(dloss: Tensor, logits: Tensor, targets: Tensor): Tensor {
  const op = 'crossEntropy backward';
  const [n, c] = logits.shape;
  const dlogits = Tensor.allocate(logits.shape, logits.dtype, logits.device);
  return writeInto(dlogits, () => native.crossEntropyBackward(dlogits.handle(op), dloss.handle(op), logits.handle(op),
    targets.handle(op), n, c));
}

/** Soft targets [labels.length, numClasses], row n = (1 − smoothing)·onehot(labels[n]) + smoothing/numClasses. */
export function softTargets(labels: ArrayLike<number>, numClasses: number, smoothing = 0): Float32Array {
  const op = 'softTargets';
  if (labels === null || typeof labels !== 'object' || typeof labels.length !== 'number') fail(op, 'an array of integer labels', 'labels', labels);
  checkInt(op, 'numClasses', numClasses, 1, 2 ** 31 - 1);
  checkNumber(op, 'smoothing', smoothing);
  if (!(smoothing >= 0 && smoothing <= 1)) fail(op, 'a number in [0, 1]', 'smoothing', smoothing, RangeError);
  const n = labels.length;
  const out = new Float32Array(n * numClasses).fill(smoothing / numClasses);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (typeof y !== 'number' || !Number.isInteger(y)) fail(op, 'an integer label', `labels[${i}]`, y);
    if (y < 0 || y >= numClasses) fail(op, `a label in [0, ${numClasses})`, `labels[${i}]`, y, RangeError);
    out[i * numClasses + y] += 1 - smoothing;
  }
  return out;
}
