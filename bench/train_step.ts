// One training step of a base-size model (forward, backward, AdamW, zero grads), built once and
// run many times: the ConvMAE-B pretraining step (random images, uploaded once, and masks) or the
// ConvViT-B finetuning step (soft targets, drop path 0.1). Used by the step timings in gpu_check.ts and the
// per-op profile in step_profile.ts, so both measure the same step.
import { backward } from '../lib/autograd/tape';
import { Rng } from '../lib/data/rng';
import { ConvMAEConfig, preset } from '../lib/models/config';
import { ConvMAE } from '../lib/models/convmae';
import { ConvViT } from '../lib/models/convvit';
import { uniformNoise } from '../lib/models/masking';
import { Precision } from '../lib/nn/precision';
import * as ops from '../lib/ops';
import { Device } from '../lib/tensor/device';
import { tidy } from '../lib/tensor/scope';
import { Tensor, tensor } from '../lib/tensor/tensor';
import { AdamW } from '../lib/train/optim';
import { pretrainParamGroups } from '../lib/train/param_groups';

export type StepKind = 'pretrain' | 'finetune';
/** The parts of a step, in order; `mark` is told when each begins. */
export type StepPhase = 'forward' | 'backward' | 'optimizer';

export interface TrainStep {
  /** Runs step i (i picks the mask noise); returns the loss when `withLoss` (one device read). */
  run(i: number, mark?: (phase: StepPhase) => void, withLoss?: boolean): number | null;
  dispose(): void;
}

export function randn(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Builds the step of `kind` on `device`; `model` is a preset name, `imgSize` its image size unless
 *  given (a small one keeps the model's sequence of ops with little work in each: host overhead). */
export function makeTrainStep(kind: StepKind, device: Device, precision: Precision, batch: number, model = 'base', imgSize?: number): TrainStep {
  const size0 = imgSize === undefined ? {} : { imgSize };
  const cfg: ConvMAEConfig = kind === 'pretrain' ? preset(model, size0) : preset(model, { numClasses: 1000, dropPath: 0.1, ...size0 });
  const size = cfg.imgSize;
  const imgs = randn(batch * 3 * size * size, 3);
  const tokens = (size / 16) ** 2; // patch sizes 4, 2, 2
  const mae = kind === 'pretrain' ? new ConvMAE(cfg, { seed: 1 }) : null;
  const vit = kind === 'finetune' ? new ConvViT(cfg, { seed: 1 }) : null;
  const m = (mae ?? vit)!;
  let opt: AdamW | null = null, targets: Tensor | null = null, x: Tensor | null = null;
  try {
    m.to(device);
    m.precision = precision;
    const named = m.namedParameters();
    opt = new AdamW(new Map(named), pretrainParamGroups(named.map(([name, t]) => ({ name, shape: t.shape }))), { beta1: 0.9, beta2: 0.95 });
    const labels = Array.from({ length: batch }, (_, i) => i % cfg.numClasses);
    targets = kind === 'finetune' ? tensor(ops.softTargets(labels, cfg.numClasses, 0.1), [batch, cfg.numClasses], { device }) : null;
    // Kept on the device like the images of bench/torch_convmae.py, so both time the same work.
    x = tensor(imgs, [batch, 3, size, size], { device });
  } catch (e) {
    targets?.dispose();
    opt?.dispose();
    m.dispose();
    throw e;
  }
  const optimizer = opt, images = x;
  return {
    run(i, mark = () => {}, withLoss = false) {
      const loss = tidy(() => {
        mark('forward');
        const l = mae ? mae.forward({ imgs: images, noise: uniformNoise(batch * tokens, new Rng(100 + i)) }).loss : ops.crossEntropy(vit!.forward(images), targets!);
        mark('backward');
        backward(l);
        return withLoss ? l.item() : null;
      });
      mark('optimizer');
      optimizer.step(1e-4);
      m.zeroGrad();
      return loss;
    },
    dispose() {
      images.dispose();
      targets?.dispose();
      optimizer.dispose();
      m.dispose();
    },
  };
}
