// Linear probing as a library function (and `convmae linprobe`), SPEC.md §7 (MAE protocol): the
// finetuning ConvViT with drop path 0, loaded from a checkpoint with strict = false (§6.2), every
// encoder weight frozen (its forward runs under noGrad), global pool on by default (cls mode: the
// pretrained `norm` and the first token), a parameter-free LayerNorm (fc_norm with weight 1 and
// bias 0, frozen), then BatchNorm1d(C3, affine = False, eps 1e-6, momentum 0.1; batch statistics
// in training, running statistics in evaluation; computed on the host since no gradient needs to
// flow through it) and the head Linear (weight ~ truncated normal std 0.01, bias 0). Checkpoint
// keys head.0.running_mean, head.0.running_var, head.0.num_batches_tracked (int64 scalar),
// head.1.weight, head.1.bias. LARS (momentum 0.9, trust 0.001, weight decay 0) on the head with
// lr = blr·effective batch/256 (blr 0.1), warmup (default 10 of 90 epochs, i.e. 1/9 of the run)
// then cosine to 0; the MAE single-attempt crop + flip augmentation; plain cross-entropy.
// Evaluation and outputs as finetune.ts.
//
// `cacheFeatures`: the encoder is frozen, so its pooled features of a fixed input never change.
// With this option the training split is read once with the evaluation transform (resize +
// centre crop, no augmentation), its features (N × C3 floats in memory) are computed once, and
// every step then runs only BatchNorm + head on them, in the same shuffled order the image loader
// would use; the validation features are cached as well (evaluation is unchanged by that, since
// its transform is deterministic). This trades the augmentation for a probe that costs one encoder
// pass over the data instead of one per epoch: the way to run a long probe on a CPU.
import { backward, noGrad } from '../autograd/tape';
import { defaultDevice } from '../backends';
import { evalTransform, linprobeTransform } from '../data/augment';
import { DataLoader, LoaderState } from '../data/loader';
import { Dataset } from '../data/types';
import { TensorRecord, float32Record } from '../io/record';
import { LoadedCheckpoint, weightsOnly } from '../models/checkpoint';
import { ConvMAEConfig, toFixtureConfig } from '../models/config';
import { ConvViT } from '../models/convvit';
import { Module, buffer, copyRecordInto } from '../nn/module';
import { scale } from '../ops/arith';
import { crossEntropy, softTargets } from '../ops/losses';
import { Device } from '../tensor/device';
import { tidy } from '../tensor/scope';
import { Tensor, ones, tensor, zeros } from '../tensor/tensor';
import { openDataset } from './datasets';
import {
  ClassifierRunOptions, ClassifierRunResult, EvalResult, InitReport, classifierArchitecture, evaluateClassifier, forEachBatch, headKeys,
  loadInitWeights, planSteps, positiveInt, readBest, readCheckpointFlag, reinitHead, resolveWarmup, runTrainLoop, scoreLogits,
  runResult, writeBest,
} from './loop_utils';
import { LARS, clipGradNorm } from './optim';
import { linprobeParamGroups } from './param_groups';
import { Progress } from './progress';
import { RunDir } from './run_dir';
import { absoluteLr, lrAt } from './schedule';
import { TrainState, checkSameSettings, mergeRecords, readTrainState, trainMetadata } from './train_state';
import { resolvePrecision } from '../nn/precision';

/**
 * BatchNorm1d without affine parameters (PyTorch semantics): training normalises with the batch
 * mean and biased variance and updates running_mean/running_var (unbiased) with `momentum`;
 * evaluation uses the running statistics. Buffers live on the model's device; the arithmetic is
 * done on the host in float64 and returns a new tensor that records nothing.
 */
export class BatchNorm1d extends Module {
  running_mean: Tensor;
  running_var: Tensor;
  num_batches_tracked: Tensor;

  constructor(readonly dim: number, readonly eps = 1e-6, readonly momentum = 0.1) {
    super();
    this.running_mean = buffer(zeros([dim]));
    this.running_var = buffer(ones([dim]));
    this.num_batches_tracked = buffer(tensor(new BigInt64Array(1), [], { dtype: 'int64' }));
  }

  forward(x: Tensor): Tensor {
    const [n, c] = x.shape;
    if (x.rank !== 2 || c !== this.dim) throw new RangeError(`BatchNorm1d: expected [N, ${this.dim}] but got [${x.shape.join(', ')}]`);
    const out = this.apply(x.toFloat32Array(), n);
    return tensor(out, [n, c], { device: x.device });
  }

  /** Normalises host rows [n, dim] (updating the running statistics when training). */
  apply(v: Float32Array, n: number): Float32Array {
    const c = this.dim;
    const mean = new Float64Array(c), vr = new Float64Array(c);
    if (this.training) {
      if (n < 2) throw new RangeError('BatchNorm1d: training needs more than one sample per batch');
      for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) mean[j] += v[i * c + j];
      for (let j = 0; j < c; j++) mean[j] /= n;
      for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) vr[j] += (v[i * c + j] - mean[j]) ** 2;
      for (let j = 0; j < c; j++) vr[j] /= n;
      const rm = this.running_mean.toFloat32Array(), rv = this.running_var.toFloat32Array();
      const m = this.momentum;
      for (let j = 0; j < c; j++) {
        rm[j] = (1 - m) * rm[j] + m * mean[j];
        rv[j] = (1 - m) * rv[j] + m * vr[j] * (n / (n - 1));
      }
      copyRecordInto(this.running_mean, float32Record([c], rm));
      copyRecordInto(this.running_var, float32Record([c], rv));
      const tracked = this.num_batches_tracked.toTypedArray() as BigInt64Array;
      tracked[0] += 1n;
      copyRecordInto(this.num_batches_tracked, { dtype: 'int64', shape: [], data: new Uint8Array(tracked.buffer) });
    } else {
      mean.set(this.running_mean.toFloat32Array());
      vr.set(this.running_var.toFloat32Array());
    }
    const inv = vr.map((x) => 1 / Math.sqrt(x + this.eps));
    const out = new Float32Array(n * c);
    for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) out[i * c + j] = (v[i * c + j] - mean[j]) * inv[j];
    return out;
  }
}

/**
 * A ConvViT whose head is Sequential(BatchNorm1d, Linear) (SPEC.md §7) under the official keys:
 * the encoder's keys, fc_norm.* (or norm.* in cls mode), head.0.* (BN buffers) and head.1.* (the
 * ConvViT's own head Linear). Only head.1 is meant to train; `pooled` runs the encoder under noGrad.
 */
export class LinearProbeModel extends Module {
  readonly config: ConvMAEConfig;

  constructor(readonly vit: ConvViT, readonly bn: BatchNorm1d = new BatchNorm1d(vit.config.embedDim[2])) {
    super();
    this.config = vit.config;
  }

  namedTensors(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [k, t] of this.vit.namedTensors(prefix)) {
      if (k === `${prefix}head.weight` || k === `${prefix}head.bias`) continue;
      out.push([k, t]);
    }
    out.push(...this.bn.namedTensors(`${prefix}head.0.`));
    out.push(...this.vit.head.namedTensors(`${prefix}head.1.`));
    return out;
  }

  modules(): Module[] {
    return [this, ...this.vit.modules(), ...this.bn.modules()];
  }

  /** Frozen encoder features [N, C3] (after fc_norm, or norm + first token in cls mode); records nothing. */
  pooled(imgs: Tensor): Tensor {
    return noGrad(() => this.vit.forwardPooled(imgs));
  }

  /** BatchNorm then the head Linear on features [N, C3]. */
  classify(features: Tensor): Tensor {
    return this.vit.head.forward(this.bn.forward(features));
  }

  forward(imgs: Tensor): Tensor {
    return this.classify(this.pooled(imgs));
  }
}

/** Whether a state dict is a linear-probe classifier (head.1.weight). */
export function isLinearProbeStateDict(sd: Map<string, TensorRecord>): boolean {
  return sd.has('head.1.weight');
}

/** Builds a LinearProbeModel from a linear-probe checkpoint and loads it (strict). */
export function linearProbeFromCheckpoint(ck: LoadedCheckpoint, config: ConvMAEConfig): LinearProbeModel {
  const head = ck.stateDict.get('head.1.weight');
  if (!head) throw new Error('linear probe: the checkpoint has no head.1.weight');
  const cfg: ConvMAEConfig = { ...config, numClasses: head.shape[0], globalPool: ck.stateDict.has('fc_norm.weight'), dropPath: 0 };
  const probe = new LinearProbeModel(new ConvViT(cfg));
  try {
    probe.loadStateDict(weightsOnly(ck.stateDict), { strict: true });
  } catch (e) {
    probe.dispose();
    throw e;
  }
  return probe;
}

/**
 * Linear-probe options. Defaults: blr 0.1 (LARS), minLr 0, weightDecay 0, warmup 1/9 of the run.
 */
export interface LinprobeOptions extends ClassifierRunOptions {
  /** Cache the frozen features of the non-augmented training (and validation) images; see the file comment. */
  cacheFeatures?: boolean;
}

export type LinprobeResult = ClassifierRunResult;

const CMD = 'linprobe';

/** Frozen features of every sample of a dataset, in index order. */
async function computeFeatures(probe: LinearProbeModel, ds: Dataset, o: { batchSize: number; workers: number; device: Device }):
    Promise<{ features: Float32Array; labels: Int32Array }> {
  const c3 = probe.config.embedDim[2];
  const s = ds.imageSize;
  const features = new Float32Array(ds.length * c3);
  const labels = new Int32Array(ds.length);
  const was = probe.training;
  probe.train(false);
  try {
    await forEachBatch(ds, o, (b) => {
      const f = tidy(() => probe.pooled(tensor(b.images, [b.size, 3, s, s], { device: o.device })).toFloat32Array());
      b.indices.forEach((idx, k) => {
        features.set(f.subarray(k * c3, (k + 1) * c3), idx * c3);
        labels[idx] = b.labels[k];
      });
    });
  } finally {
    probe.train(was);
  }
  return { features, labels };
}

/** Cached features batched in the image loader's order (its batchIndices), with a loader-compatible state. */
class FeatureBatches {
  private epoch: number;
  private position: number;

  constructor(private readonly order: DataLoader, private readonly features: Float32Array, private readonly labels: Int32Array,
              private readonly dim: number, state?: LoaderState) {
    const s = state ?? order.state();
    if (s.length !== labels.length || s.batchSize !== order.batchSize) {
      throw new Error(`linprobe: the resume state was saved with ${s.length} samples and batch ${s.batchSize}, this run has ${labels.length} and ${order.batchSize}`);
    }
    this.epoch = s.epoch;
    this.position = s.position;
  }

  next(): { features: Float32Array; labels: Int32Array; epoch: number; size: number } {
    const idx = this.order.batchIndices(this.epoch, this.position);
    const d = this.dim;
    const features = new Float32Array(idx.length * d);
    const labels = new Int32Array(idx.length);
    idx.forEach((i, k) => {
      features.set(this.features.subarray(i * d, (i + 1) * d), k * d);
      labels[k] = this.labels[i];
    });
    const epoch = this.epoch;
    if (++this.position === this.order.batchesPerEpoch) {
      this.epoch++;
      this.position = 0;
    }
    return { features, labels, epoch, size: idx.length };
  }

  state(): LoaderState {
    return { ...this.order.state(), epoch: this.epoch, position: this.position };
  }
}

/** Evaluation on cached validation features (same numbers as evaluateClassifier on the images). */
function evaluateFeatures(probe: LinearProbeModel, f: { features: Float32Array; labels: Int32Array }, batchSize: number, device: Device): EvalResult {
  const c = probe.config.numClasses, d = probe.config.embedDim[2], n = f.labels.length;
  const was = probe.training;
  probe.train(false);
  let lossSum = 0, correct1 = 0, correct5 = 0;
  try {
    for (let i = 0; i < n; i += batchSize) {
      const m = Math.min(batchSize, n - i);
      const logits = noGrad(() => tidy(() => probe.classify(tensor(f.features.subarray(i * d, (i + m) * d), [m, d], { device })).toFloat32Array()));
      const r = scoreLogits(logits, f.labels.subarray(i, i + m), c);
      lossSum += r.lossSum;
      correct1 += r.top1;
      correct5 += r.topk;
    }
  } finally {
    probe.train(was);
  }
  return { acc1: (100 * correct1) / n, acc5: (100 * correct5) / n, loss: lossSum / n, correct1, correct5, count: n };
}

export async function linprobe(o: LinprobeOptions): Promise<LinprobeResult> {
  const device = o.device ?? defaultDevice();
  const seed = o.seed ?? 0;
  const batchSize = positiveInt(CMD, 'batchSize', o.batchSize ?? 64);
  const accum = positiveInt(CMD, 'accum', o.accum ?? 1);
  if (batchSize < 2) throw new RangeError(`${CMD}: BatchNorm needs a batch size of at least 2 but got ${batchSize}`);
  const resumed = o.resume !== undefined ? readCheckpointFlag(CMD, '--resume', o.resume) : null;
  const state: TrainState | null = resumed ? readTrainState(resumed.metadata, o.resume!) : null;
  const initCk = !resumed && o.init !== undefined ? readCheckpointFlag(CMD, '--init', o.init) : null;
  const arch = classifierArchitecture(CMD, { ck: resumed ?? initCk ?? undefined, file: o.resume ?? o.init, model: o.model, imgSize: o.imgSize, heads: o.heads });
  const imgSize = arch.imgSize;
  const cache = o.cacheFeatures ?? false;
  const dataset = openDataset(o.data, { split: 'train', transform: cache ? evalTransform(imgSize) : linprobeTransform(imgSize), limit: o.limit, seed });
  const valSet = openDataset(o.data, { split: 'val', transform: evalTransform(imgSize), limit: o.valLimit, seed });
  const globalPool = o.globalPool ?? (resumed ? arch.globalPool : true);
  const config: ConvMAEConfig = { ...arch, numClasses: dataset.numClasses, globalPool, dropPath: 0, ...o.config };
  const plan = planSteps(CMD, dataset.length, { batchSize, accum, epochs: o.epochs, steps: o.steps });
  const lr = o.lr ?? absoluteLr(o.blr ?? 0.1, batchSize * accum);
  const warmup = resolveWarmup(o, plan, 1 / 9);
  const minLr = o.minLr ?? 0;
  const weightDecay = o.weightDecay ?? 0;
  const settings = JSON.parse(JSON.stringify({
    data: o.data, config: toFixtureConfig(config), batchSize, accum, totalSteps: plan.totalSteps, lr, minLr, warmup, weightDecay, cacheFeatures: cache, seed, limit: o.limit ?? null,
  })) as Record<string, unknown>;
  if (state) checkSameSettings(state.settings, settings, o.resume!);

  const vit = new ConvViT(config, { seed });
  vit.precision = resolvePrecision(device, o.precision);
  const probe = new LinearProbeModel(vit);
  let optimizer: LARS | null = null;
  let loader: DataLoader | null = null;
  const progress = o.progress === false ? null : new Progress({ total: plan.totalSteps, stream: o.progress ?? process.stderr, label: CMD });
  try {
    let init: InitReport | undefined;
    if (resumed) {
      probe.loadStateDict(weightsOnly(resumed.stateDict), { strict: true });
    } else {
      if (initCk) {
        init = loadInitWeights(vit, initCk, o.init!, { headStd: 0.01, seed, reinit: 'always', cmd: CMD });
        progress?.log(`${CMD}: loaded ${o.init}; ignored ${init.ignored.length} checkpoint keys; the encoder is frozen`);
      } else {
        reinitHead(vit, headKeys(vit), { std: 0.01, seed });
      }
    }
    probe.to(device);
    probe.train(true);
    const groups = linprobeParamGroups(probe.namedParameters().map(([n, t]) => ({ name: n, shape: t.shape })));
    for (const g of groups) g.weightDecay = weightDecay;
    optimizer = new LARS(new Map(probe.namedParameters()), groups);
    if (resumed && state) optimizer.loadState(resumed.stateDict, state.optimizerSteps);
    const run = new RunDir(o.out, { append: resumed !== null });
    const startStep = state?.step ?? 0;
    if (resumed) run.truncateAfter(startStep);
    const workers = o.workers ?? 2;
    const evalBatch = o.evalBatchSize ?? batchSize;
    loader = new DataLoader(dataset, { batchSize, seed, workers: cache ? 0 : workers, state: state?.loader });
    let cached: FeatureBatches | null = null;
    let valFeatures: { features: Float32Array; labels: Int32Array } | null = null;
    if (cache) {
      const t0 = Date.now();
      progress?.log(`${CMD}: caching the frozen features of ${dataset.length} training and ${valSet.length} validation images ...`);
      const train = await computeFeatures(probe, dataset, { batchSize: evalBatch, workers, device });
      valFeatures = await computeFeatures(probe, valSet, { batchSize: evalBatch, workers, device });
      progress?.log(`${CMD}: cached features in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      cached = new FeatureBatches(loader, train.features, train.labels, config.embedDim[2], state?.loader);
    }
    const opt = optimizer, ld = loader, c = config.numClasses, d = config.embedDim[2];

    const result = await runTrainLoop({
      cmd: CMD, run, plan, accum, imagesPerStep: batchSize * accum, startStep, startEpoch: state?.epoch ?? 0,
      evalEvery: o.evalEvery ?? plan.perEpoch, saveEvery: o.saveEvery, best: resumed ? readBest(resumed.metadata) : null, progress,
      onStep: o.onStep, onEpoch: o.onEpoch,
      lr: (step) => lrAt(step, { baseLr: lr, minLr, warmupIters: warmup, totalIters: plan.totalSteps }),
      async micro() {
        let logitsOf: () => Tensor, labels: Int32Array, epoch: number, n: number;
        if (cached) {
          const b = cached.next();
          ({ labels, epoch, size: n } = b);
          logitsOf = () => probe.classify(tensor(b.features, [b.size, d], { device }));
        } else {
          const b = await ld.next();
          ({ labels, epoch, size: n } = b);
          logitsOf = () => probe.forward(tensor(b.images, [b.size, 3, imgSize, imgSize], { device }));
        }
        const loss = tidy(() => {
          const l = crossEntropy(logitsOf(), tensor(softTargets(labels, c, 0), [n, c], { device }));
          const v = l.item();
          if (Number.isFinite(v)) backward(accum > 1 ? scale(l, 1 / accum) : l);
          return v;
        });
        return { loss, epoch };
      },
      update(stepLr) {
        if (o.clipGrad !== undefined) clipGradNorm(probe.parameters(), o.clipGrad);
        opt.step(stepLr);
        probe.zeroGrad();
      },
      evaluate: async () => valFeatures
        ? evaluateFeatures(probe, valFeatures, evalBatch, device)
        : evaluateClassifier(probe, valSet, { batchSize: evalBatch, workers, device }),
      saveTrain(file, step, epoch, best) {
        const saved: TrainState = {
          step, epoch, loader: cached ? cached.state() : ld.state(), rng: {}, optimizerSteps: opt.steps, settings,
        };
        return run.writeCheckpoint(file, mergeRecords(probe.stateDict(), opt.stateRecords()),
          trainMetadata('convvit-classifier', config, saved, { head: 'linear-probe', ...(best ? { best: JSON.stringify(best) } : {}) }));
      },
      saveBest(step, r) {
        writeBest(run, probe.stateDict(), config, step, r, { head: 'linear-probe' });
      },
    });
    run.plotLoss();
    return runResult(run, plan.totalSteps, result, config, init);
  } finally {
    progress?.finish();
    await loader?.close();
    optimizer?.dispose();
    probe.dispose();
  }
}
