// ConvViT finetuning as a library function (and `convmae finetune`), SPEC.md §6: a classifier
// initialised from a pretraining (or finetuning) checkpoint by name with strict = false (§6.2,
// loop_utils.loadInitWeights) or built from a preset, trained with AdamW (betas 0.9/0.999,
// eps 1e-8) over layer-wise lr-decay groups (§6.4; decay 0.65 for base, 0.75 otherwise; weight
// decay 0.05 except 1-D tensors and pos_embed), lr = blr·effective batch/256 (blr 5e-4) with a
// per-step linear warmup then cosine to min_lr 1e-6, drop path (0.1; 0 for tiny), the finetuning
// augmentation (RandomResizedCrop 0.08-1, flip, RandomErasing 0.25; no RandAugment), Mixup 0.8 /
// CutMix 1.0 with label smoothing 0.1 (soft-target cross-entropy), gradient accumulation and
// optional clipping. Evaluates top-1/top-5/loss on the validation split every epoch (or every
// `evalEvery` steps) and at the end, keeps best.safetensors by top-1, checkpoint-last (and
// checkpoint-<step> every `saveEvery`), metrics.jsonl and loss.png. `resume` continues exactly:
// the data order, augmentation, mixup draws (Rng.forKey(seed, MIX_KEY, step, k)), drop path and
// optimizer state are those of an uninterrupted run.
import { backward } from '../autograd/tape';
import { defaultDevice } from '../backends';
import { evalTransform, finetuneTransform } from '../data/augment';
import { DataLoader } from '../data/loader';
import { mixBatch } from '../data/mixup';
import { Rng } from '../data/rng';
import { weightsOnly } from '../models/checkpoint';
import { ConvMAEConfig, toFixtureConfig } from '../models/config';
import { ConvViT } from '../models/convvit';
import { scale } from '../ops/arith';
import { crossEntropy, softTargets } from '../ops/losses';
import { tidy } from '../tensor/scope';
import { tensor } from '../tensor/tensor';
import { openDataset } from './datasets';
import {
  ClassifierRunOptions, ClassifierRunResult, InitReport, MIX_KEY, classifierArchitecture, evaluateClassifier, loadInitWeights,
  planSteps, positiveInt, presetOf, readBest, readCheckpointFlag, resolveWarmup, runTrainLoop,
  runResult, writeBest,
} from './loop_utils';
import { AdamW, clipGradNorm } from './optim';
import { finetuneParamGroups } from './param_groups';
import { Progress } from './progress';
import { RunDir } from './run_dir';
import { absoluteLr, lrAt } from './schedule';
import { TrainState, checkSameSettings, mergeRecords, readTrainState, trainMetadata } from './train_state';
import { resolvePrecision } from '../nn/precision';

/**
 * Finetuning options. Defaults: blr 5e-4, minLr 1e-6, weightDecay 0.05, warmup 5% of the run.
 */
export interface FinetuneOptions extends ClassifierRunOptions {
  /** Default 0.65 for base (and base-star), 0.75 otherwise. */
  layerDecay?: number;
  /** Default 0.1, 0 for tiny. */
  dropPath?: number;
  /** Label smoothing; default 0.1. */
  smoothing?: number;
  /** Mixup Beta α (0 = off); default 0.8. */
  mixup?: number;
  /** CutMix Beta α (0 = off); default 1.0. */
  cutmix?: number;
  /** Probability of mixing a batch; default 1. */
  mixupProb?: number;
  /** Probability of CutMix when both are on; default 0.5. */
  mixupSwitchProb?: number;
  /** RandomErasing probability; default 0.25. */
  reprob?: number;
}

export type FinetuneResult = ClassifierRunResult;

const CMD = 'finetune';

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const device = o.device ?? defaultDevice();
  const seed = o.seed ?? 0;
  const batchSize = positiveInt(CMD, 'batchSize', o.batchSize ?? 64);
  const accum = positiveInt(CMD, 'accum', o.accum ?? 1);
  const resumed = o.resume !== undefined ? readCheckpointFlag(CMD, '--resume', o.resume) : null;
  const state: TrainState | null = resumed ? readTrainState(resumed.metadata, o.resume!) : null;
  const initCk = !resumed && o.init !== undefined ? readCheckpointFlag(CMD, '--init', o.init) : null;
  const arch = classifierArchitecture(CMD, { ck: resumed ?? initCk ?? undefined, file: o.resume ?? o.init, model: o.model, imgSize: o.imgSize, heads: o.heads });
  const imgSize = arch.imgSize;
  const name = presetOf(arch);

  const mixupAlpha = o.mixup ?? 0.8, cutmixAlpha = o.cutmix ?? 1.0;
  const mixOpts = { mixupAlpha, cutmixAlpha, prob: o.mixupProb ?? 1, switchProb: o.mixupSwitchProb ?? 0.5, labelSmoothing: o.smoothing ?? 0.1 };
  const mixing = (mixupAlpha > 0 || cutmixAlpha > 0) && mixOpts.prob > 0;
  if (mixing && batchSize % 2 !== 0) {
    throw new RangeError(`${CMD}: mixup/cutmix need an even batch size but got ${batchSize}; change --batch-size or turn them off with --mixup 0 --cutmix 0`);
  }
  const transform = { ...finetuneTransform(imgSize), reprob: o.reprob ?? 0.25 };
  const dataset = openDataset(o.data, { split: 'train', transform, limit: o.limit, seed });
  const valSet = openDataset(o.data, { split: 'val', transform: evalTransform(imgSize), limit: o.valLimit, seed });
  const config: ConvMAEConfig = {
    ...arch,
    numClasses: dataset.numClasses,
    globalPool: o.globalPool ?? (resumed ? arch.globalPool : true),
    dropPath: o.dropPath ?? (resumed ? arch.dropPath : name === 'tiny' ? 0 : 0.1),
    ...o.config,
  };
  const plan = planSteps(CMD, dataset.length, { batchSize, accum, epochs: o.epochs, steps: o.steps });
  const lr = o.lr ?? absoluteLr(o.blr ?? 5e-4, batchSize * accum);
  const warmup = resolveWarmup(o, plan, 0.05);
  const minLr = o.minLr ?? 1e-6;
  const layerDecay = o.layerDecay ?? (name === 'base' || name === 'base-star' ? 0.65 : 0.75);
  const weightDecay = o.weightDecay ?? 0.05;
  const settings = JSON.parse(JSON.stringify({
    data: o.data, config: toFixtureConfig(config), batchSize, accum, totalSteps: plan.totalSteps, lr, minLr, warmup, layerDecay, weightDecay,
    mixup: mixing ? mixOpts : { labelSmoothing: mixOpts.labelSmoothing }, reprob: transform.reprob, seed, limit: o.limit ?? null,
  })) as Record<string, unknown>;
  if (state) checkSameSettings(state.settings, settings, o.resume!);

  const model = new ConvViT(config, { seed });
  model.precision = resolvePrecision(device, o.precision);
  let optimizer: AdamW | null = null;
  let loader: DataLoader | null = null;
  const progress = o.progress === false ? null : new Progress({ total: plan.totalSteps, stream: o.progress ?? process.stderr, label: CMD });
  try {
    let init: InitReport | undefined;
    if (resumed && state) {
      model.loadStateDict(weightsOnly(resumed.stateDict), { strict: true });
      model.rng.setState(state.rng.dropPath);
    } else if (initCk) {
      init = loadInitWeights(model, initCk, o.init!, { headStd: 2e-5, seed, reinit: 'missing', cmd: CMD });
      progress?.log(`${CMD}: loaded ${o.init}; re-initialised ${init.reinitialised.join(', ') || 'nothing'}; ` +
        `ignored ${init.ignored.length} checkpoint keys${init.dropped.length ? `; dropped ${init.dropped.join(', ')} (other class count)` : ''}`);
    }
    model.to(device);
    const named = model.namedParameters();
    optimizer = new AdamW(new Map(named), finetuneParamGroups(named.map(([n, t]) => ({ name: n, shape: t.shape })),
      { depths: config.depth, layerDecay, weightDecay }), { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    if (resumed && state) optimizer.loadState(resumed.stateDict, state.optimizerSteps);
    const run = new RunDir(o.out, { append: resumed !== null });
    const startStep = state?.step ?? 0;
    if (resumed) run.truncateAfter(startStep);
    loader = new DataLoader(dataset, { batchSize, seed, workers: o.workers ?? 2, state: state?.loader });
    const opt = optimizer, ld = loader;
    const c = config.numClasses;

    const result = await runTrainLoop({
      cmd: CMD, run, plan, accum, imagesPerStep: batchSize * accum, startStep, startEpoch: state?.epoch ?? 0,
      evalEvery: o.evalEvery ?? plan.perEpoch, saveEvery: o.saveEvery, best: resumed ? readBest(resumed.metadata) : null, progress,
      onStep: o.onStep, onEpoch: o.onEpoch,
      lr: (step) => lrAt(step, { baseLr: lr, minLr, warmupIters: warmup, totalIters: plan.totalSteps }),
      async micro(step, k) {
        const batch = await ld.next();
        const n = batch.size;
        const targets = mixing
          ? mixBatch(batch.images, batch.labels, [n, 3, imgSize, imgSize], Rng.forKey(seed, MIX_KEY, step, k), { numClasses: c, ...mixOpts }).targets
          : softTargets(batch.labels, c, mixOpts.labelSmoothing);
        const loss = tidy(() => {
          const logits = model.forward(tensor(batch.images, [n, 3, imgSize, imgSize], { device }));
          const l = crossEntropy(logits, tensor(targets, [n, c], { device }));
          const v = l.item();
          if (Number.isFinite(v)) backward(accum > 1 ? scale(l, 1 / accum) : l);
          return v;
        });
        return { loss, epoch: batch.epoch };
      },
      update(stepLr) {
        if (o.clipGrad !== undefined) clipGradNorm(model.parameters(), o.clipGrad);
        opt.step(stepLr);
        model.zeroGrad();
      },
      evaluate: () => evaluateClassifier(model, valSet, { batchSize: o.evalBatchSize ?? batchSize, workers: o.workers ?? 2, device }),
      saveTrain(file, step, epoch, best) {
        const saved: TrainState = {
          step, epoch, loader: ld.state(), rng: { dropPath: model.rng.state() }, optimizerSteps: opt.steps, settings,
        };
        return run.writeCheckpoint(file, mergeRecords(model.stateDict(), opt.stateRecords()),
          trainMetadata('convvit-classifier', config, saved, best ? { best: JSON.stringify(best) } : {}));
      },
      saveBest(step, r) {
        writeBest(run, model.stateDict(), config, step, r);
      },
    });
    run.plotLoss();
    return runResult(run, plan.totalSteps, result, config, init);
  } finally {
    progress?.finish();
    await loader?.close();
    optimizer?.dispose();
    model.dispose();
  }
}
