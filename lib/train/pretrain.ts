// ConvMAE pretraining as a library function (and `convmae pretrain`): data with the pretraining
// augmentation, AdamW (betas 0.9/0.95, weight decay 0.05 except 1-D tensors and biases, SPEC.md
// §8), lr = blr·effective batch/256 with per-step linear warmup then cosine to min_lr, gradient
// accumulation, optional clipping, checkpoints (last, every --save-every, resumable exactly),
// metrics.jsonl, loss.png and reconstructions.png. A non-finite loss stops the run with an error
// naming the step; the last checkpoint on disk stays the last good one.
import * as fs from 'fs';

import { backward, clearTape } from '../autograd/tape';
import { defaultDevice } from '../backends';
import { pretrainTransform } from '../data/augment';
import { DataLoader } from '../data/loader';
import { Dataset } from '../data/types';
import { readCheckpoint, weightsOnly } from '../models/checkpoint';
import { ConvMAEConfig, preset } from '../models/config';
import { ConvMAE } from '../models/convmae';
import { scale } from '../ops/arith';
import { tidy } from '../tensor/scope';
import { tensor } from '../tensor/tensor';
import { openDataset } from './datasets';
import { firstSamples, nonFiniteLoss, planSteps, positiveInt } from './loop_utils';
import { AdamW, clipGradNorm } from './optim';
import { pretrainParamGroups } from './param_groups';
import { Progress } from './progress';
import { writeReconstructions } from './reconstruct';
import { RunDir } from './run_dir';
import { absoluteLr, lrAt } from './schedule';
import { TrainState, checkSameSettings, mergeRecords, readTrainState, trainMetadata } from './train_state';
import { resolvePrecision } from '../nn/precision';
import { StepLog, TrainRunOptions } from './run_options';

export interface PretrainOptions extends TrainRunOptions {
  maskRatio?: number;
  normPix?: boolean;
  /** Images in reconstructions.png (0 to skip). */
  reconstructions?: number;
  /** Called after every optimizer step (the model is live: read it, do not dispose it). */
  onStep?: (row: StepLog, model: ConvMAE) => void;
}

export type { StepLog } from './run_options';

export interface PretrainResult {
  steps: number;
  losses: number[];
  out: string;
  checkpoint: string;
}

function settingsOf(o: PretrainOptions, config: ConvMAEConfig, batchSize: number, accum: number, totalSteps: number, lr: number) {
  return { data: o.data, config, batchSize, accum, totalSteps, lr, seed: o.seed ?? 0, limit: o.limit ?? null };
}

export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const device = o.device ?? defaultDevice();
  const seed = o.seed ?? 0;
  const modelName = o.model ?? 'tiny';
  const imgSize = o.imgSize ?? (modelName === 'tiny' ? 64 : 224);
  const config = preset(modelName, { imgSize, ...(o.maskRatio !== undefined ? { maskRatio: o.maskRatio } : {}), ...(o.normPix !== undefined ? { normPixLoss: o.normPix } : {}), ...o.config });
  const batchSize = positiveInt('pretrain', 'batchSize', o.batchSize ?? 64);
  const accum = positiveInt('pretrain', 'accum', o.accum ?? 1);
  const dataset: Dataset = openDataset(o.data, { split: 'train', transform: pretrainTransform(imgSize), limit: o.limit, seed });
  const { totalSteps } = planSteps('pretrain', dataset.length, { batchSize, accum, epochs: o.epochs, steps: o.steps });
  const lr = o.lr ?? absoluteLr(o.blr ?? 1.5e-4, batchSize * accum);
  const warmup = o.warmupSteps ?? Math.round(0.05 * totalSteps);
  const minLr = o.minLr ?? 0;
  const settings = settingsOf(o, config, batchSize, accum, totalSteps, lr);

  const model = new ConvMAE(config, { seed });
  model.precision = resolvePrecision(device, o.precision);
  const run = new RunDir(o.out, { append: o.resume !== undefined });
  let startStep = 0;
  let loaderState;
  const resumed = o.resume !== undefined ? readCheckpoint(o.resume) : null;
  let state: TrainState | null = null;
  if (resumed) {
    state = readTrainState(resumed.metadata, o.resume!);
    checkSameSettings(state.settings, JSON.parse(JSON.stringify(settings)), o.resume!);
    model.loadStateDict(weightsOnly(resumed.stateDict), { strict: true });
    model.rng.setState(state.rng.dropPath);
    model.maskRng.setState(state.rng.mask);
    loaderState = state.loader;
    startStep = state.step;
    run.truncateAfter(startStep);
  }
  model.to(device);
  const named = model.namedParameters();
  const optimizer = new AdamW(new Map(named), pretrainParamGroups(named.map(([name, t]) => ({ name, shape: t.shape })), o.weightDecay ?? 0.05), { beta1: 0.9, beta2: 0.95 });
  if (resumed && state) optimizer.loadState(resumed.stateDict, state.optimizerSteps);
  const loader = new DataLoader(dataset, { batchSize, seed, workers: o.workers ?? 2, state: loaderState });
  const progress = o.progress === false ? null : new Progress({ total: totalSteps, stream: o.progress ?? process.stderr, label: 'pretrain' });
  const losses: number[] = [];
  let checkpoint = run.file('checkpoint-last.safetensors');
  const t0 = Date.now();
  let epoch = loaderState?.epoch ?? 0;
  const save = (step: number) => {
    const saved: TrainState = {
      step, epoch, loader: loader.state(), rng: { dropPath: model.rng.state(), mask: model.maskRng.state() },
      optimizerSteps: optimizer.steps, settings: JSON.parse(JSON.stringify(settings)),
    };
    const tensors = mergeRecords(model.stateDict(), optimizer.stateRecords());
    const meta = trainMetadata('convmae-pretrain', config, saved);
    if (o.saveEvery && step % o.saveEvery === 0) run.writeCheckpoint(`checkpoint-${step}.safetensors`, tensors, meta);
    checkpoint = run.writeCheckpoint('checkpoint-last.safetensors', tensors, meta);
  };
  try {
    for (let step = startStep; step < totalSteps; step++) {
      const stepStart = Date.now();
      let stepLoss = 0;
      for (let a = 0; a < accum; a++) {
        const batch = await loader.next();
        epoch = batch.epoch;
        const value = tidy(() => {
          const imgs = tensor(batch.images, [batch.size, 3, imgSize, imgSize], { device });
          const out = model.forward({ imgs });
          const v = out.loss.item();
          if (!Number.isFinite(v)) return v;
          backward(accum > 1 ? scale(out.loss, 1 / accum) : out.loss);
          return v;
        });
        if (!Number.isFinite(value)) {
          clearTape();
          throw nonFiniteLoss('pretrain', value, step + 1, fs.existsSync(checkpoint) ? checkpoint : null);
        }
        stepLoss += value / accum;
      }
      if (o.clipGrad !== undefined) clipGradNorm(model.parameters(), o.clipGrad);
      const stepLr = lrAt(step, { baseLr: lr, minLr, warmupIters: warmup, totalIters: totalSteps });
      optimizer.step(stepLr);
      model.zeroGrad();
      losses.push(stepLoss);
      const done = step + 1;
      const row: StepLog = {
        step: done, epoch, loss: stepLoss, lr: stepLr,
        imagesPerSec: (batchSize * accum) / Math.max(1e-3, (Date.now() - stepStart) / 1000), elapsedSec: (Date.now() - t0) / 1000,
      };
      run.log({ ...row });
      progress?.update({ step: done, loss: stepLoss, lr: stepLr, images: batchSize * accum });
      if ((o.saveEvery && done % o.saveEvery === 0) || done === totalSteps) save(done);
      o.onStep?.(row, model);
    }
  } finally {
    progress?.finish();
    await loader.close();
  }
  run.plotLoss();
  const pictures = o.reconstructions ?? 4;
  if (pictures > 0) {
    const show = openDataset(o.data, { split: 'val', transform: { kind: 'resize', size: imgSize, interpolation: 'bicubic' }, seed, limit: o.data === 'synthetic' ? pictures : undefined });
    const { images, n } = await firstSamples(show, pictures);
    writeReconstructions(run.file('reconstructions.png'), model, images, n, seed);
  }
  model.dispose();
  optimizer.dispose();
  return { steps: totalSteps, losses, out: o.out, checkpoint };
}
