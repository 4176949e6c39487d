// Pieces shared by the training loops (pretrain.ts uses the first group; finetune.ts and
// linprobe.ts all of it) and the evaluation entry points (evaluate.ts, `convmae visualize`):
//  * argument checks, the step plan (optimizer steps per epoch, total steps, warmup), the
//    non-finite loss error and the first samples of a dataset (pictures);
//  * the classifier architecture: from a checkpoint (its config metadata, or inferred from the
//    shapes of an official .pth) or from a preset, with the run's overrides;
//  * SPEC.md §6.2 loading of a pretraining (or finetuning) checkpoint into a ConvViT by name with
//    strict = false: the known pretraining-only keys are ignored, the missing keys must be a
//    subset of head.weight, head.bias, fc_norm.weight, fc_norm.bias (all four for a pretraining
//    checkpoint with global pool), and those are then re-initialised (head weight truncated
//    normal, bias 0, fc_norm 1/0);
//  * the optimizer-step loop of a classifier run (runTrainLoop): gradient accumulation, the lr
//    schedule, a non-finite loss stop, metrics rows, evaluation every `evalEvery` steps and at
//    the end with best.safetensors by top-1, resumable checkpoints (checkpoint-last and
//    checkpoint-<step> every `saveEvery`), progress and callbacks;
//  * classifier evaluation over a dataset in order: mean plain cross-entropy, top-1 and top-5
//    accuracy (percent) and counts, computed on the host from the logits (float64).
import * as fs from 'fs';

import { clearTape, noGrad } from '../autograd/tape';
import { Batch, DataLoader } from '../data/loader';
import { Rng } from '../data/rng';
import { Dataset } from '../data/types';
import { TensorRecord } from '../io/record';
import { LoadedCheckpoint, checkpointConfig, checkpointMetadata, readCheckpoint, weightsOnly } from '../models/checkpoint';
import { ConvMAEConfig, PRESET_NAMES, PresetName, preset, resolvePresetName } from '../models/config';
import { ConvViT } from '../models/convvit';
import { InitContext, constant, truncNormal } from '../nn/init';
import { Device } from '../tensor/device';
import { tidy } from '../tensor/scope';
import { Tensor, tensor } from '../tensor/tensor';
import { Progress } from './progress';
import { RunDir } from './run_dir';
import { StepLog as BaseStepLog, TrainRunOptions } from './run_options';

/** Key of the per-(step, micro-batch) mixup/cutmix random stream: Rng.forKey(seed, MIX_KEY, step, k). */
export const MIX_KEY = 0x4d495855; // "MIXU"
/** Key of the head re-initialisation stream: Rng.forKey(seed, HEAD_INIT_KEY). */
export const HEAD_INIT_KEY = 0x48454144; // "HEAD"

/** One logged optimizer step of a classifier run (evaluation steps add the acc/val fields). */
export interface StepLog extends BaseStepLog {
  /** Present on the steps after which the validation split was evaluated. */
  acc1?: number;
  acc5?: number;
  val_loss?: number;
  val_count?: number;
}

/** What onEpoch receives after each evaluation (every epoch and at the end). */
export interface EpochLog {
  /** Epoch (0-based) of the last batch trained. */
  epoch: number;
  step: number;
  /** Mean training loss of the steps since the previous evaluation. */
  trainLoss: number;
  lr: number;
  eval: EvalResult;
  /** Best top-1 so far (this evaluation included) and its step. */
  best: { acc1: number; step: number };
}

export function positiveInt(cmd: string, name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${cmd}: expected a positive integer for \`${name}\` but got ${v}`);
  return v;
}

export interface StepPlan {
  /** Optimizer steps per epoch (the loader drops the last incomplete batch). */
  perEpoch: number;
  totalSteps: number;
}

export function planSteps(cmd: string, datasetLength: number, o: { batchSize: number; accum: number; epochs?: number; steps?: number }): StepPlan {
  const perEpoch = Math.floor(datasetLength / (o.batchSize * o.accum));
  if (perEpoch < 1) throw new RangeError(`${cmd}: the dataset has ${datasetLength} images, fewer than one step of ${o.batchSize * o.accum}`);
  const totalSteps = o.steps ?? Math.round((o.epochs ?? 1) * perEpoch);
  if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new RangeError(`${cmd}: expected at least one step but got ${totalSteps}`);
  return { perEpoch, totalSteps };
}

/** warmupSteps wins, then warmupEpochs (× steps per epoch), else `fraction` of the run. */
export function resolveWarmup(o: { warmupSteps?: number; warmupEpochs?: number }, plan: StepPlan, fraction: number): number {
  if (o.warmupSteps !== undefined) return o.warmupSteps;
  if (o.warmupEpochs !== undefined) return Math.round(o.warmupEpochs * plan.perEpoch);
  return Math.round(fraction * plan.totalSteps);
}

/** The preset with these widths, depths and MLP ratios, if any. */
export function presetOf(c: ConvMAEConfig): PresetName | undefined {
  return PRESET_NAMES.find((n) => {
    const p = preset(n);
    return p.embedDim.every((v, i) => v === c.embedDim[i]) && p.depth.every((v, i) => v === c.depth[i]) &&
      p.mlpRatio.every((v, i) => v === c.mlpRatio[i]);
  });
}

/** Reads a checkpoint named by a flag (`--init`, `--resume`), with errors that name the flag and the file. */
export function readCheckpointFlag(cmd: string, flag: string, file: string): LoadedCheckpoint {
  if (typeof file !== 'string' || file.length === 0) throw new TypeError(`${cmd}: expected a checkpoint path for \`${flag}\``);
  if (!fs.existsSync(file)) throw new Error(`${cmd}: ${flag} ${file}: no such file`);
  if (fs.statSync(file).isDirectory()) throw new Error(`${cmd}: ${flag} ${file} is a folder, not a checkpoint file`);
  try {
    return readCheckpoint(file);
  } catch (e) {
    throw new Error(`${cmd}: cannot read ${flag} ${file} as a .safetensors or PyTorch .pth checkpoint: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export function nonFiniteLoss(cmd: string, value: number, step: number, checkpoint: string | null): Error {
  return new Error(`${cmd}: the loss became ${value} at step ${step}; stopping. ` +
    `The last good checkpoint (${checkpoint ?? 'none yet'}) is unchanged; try a lower --lr or --clip-grad.`);
}

/**
 * The classifier architecture of a run: from `ck` (a checkpoint to resume or initialise from),
 * else the preset `model` at `imgSize` (64 for tiny, else 224). Position-embedding interpolation
 * is not supported (SPEC.md §6.2), so an `imgSize` other than the checkpoint's is an error.
 */
export function classifierArchitecture(cmd: string, o: { ck?: LoadedCheckpoint; file?: string; model?: string; imgSize?: number; heads?: number }):
    ConvMAEConfig {
  if (o.ck) {
    // A classifier has no decoder: leave its keys out so that an unusual decoder needs no --decoder-heads.
    const sd = o.ck.metadata.config ? o.ck.stateDict : new Map([...o.ck.stateDict].filter(([k]) => !k.startsWith('decoder_')));
    const config = checkpointConfig({ ...o.ck, stateDict: sd }, { heads: o.heads });
    if (o.imgSize !== undefined && o.imgSize !== config.imgSize) {
      throw new RangeError(`${cmd}: ${o.file} holds a ${config.imgSize} px model (pos_embed of ${(config.imgSize / 16) ** 2} tokens); ` +
        `position-embedding interpolation is not supported, so use --img-size ${config.imgSize}`);
    }
    return config;
  }
  const name = o.model ?? 'tiny';
  return preset(name, { imgSize: o.imgSize ?? (resolvePresetName(name) === 'tiny' ? 64 : 224) });
}

export interface InitReport {
  /** Keys of the model the checkpoint did not provide (then re-initialised). */
  missing: string[];
  /** Checkpoint keys the classifier has no use for (decoder, fusion convs, mask token ...). */
  ignored: string[];
  /** head.* keys dropped because their class count differs from the run's. */
  dropped: string[];
  /** Keys set to their fresh values after loading. */
  reinitialised: string[];
}

const IGNORED = [/^stage[12]_output_decode\./, /^mask_token$/, /^decoder_/, /^head\.\d+\./];

/**
 * SPEC.md §6.2: loads `ck` into `model` by name with strict = false. Throws, naming the keys, when
 * a tensor has another shape, when the checkpoint has keys no ConvMAE/ConvViT has, or when a key
 * other than head.weight, head.bias, fc_norm.* (global pool) is missing. Then re-initialises
 * the head (weight ~ truncated normal `headStd`, bias 0) and fc_norm (1/0): those that were
 * missing with `reinit: 'missing'` (finetuning: a pretraining checkpoint lacks all four, a
 * finetuned one with the same classes keeps its head), all of them with 'always' (linear probe).
 */
export function loadInitWeights(model: ConvViT, ck: LoadedCheckpoint, file: string,
                                o: { headStd: number; seed: number; reinit: 'missing' | 'always'; cmd: string }): InitReport {
  const sd = new Map(weightsOnly(ck.stateDict));
  const own = new Map(model.namedTensors());
  const globalPool = model.config.globalPool;
  const dropped: string[] = [];
  for (const k of ['head.weight', 'head.bias']) {
    const r = sd.get(k), t = own.get(k);
    if (r && t && (r.shape.length !== t.shape.length || r.shape.some((d, i) => d !== t.shape[i]))) {
      sd.delete(k);
      dropped.push(k);
    }
  }
  const report = model.loadStateDict(sd, { strict: false });
  if (report.mismatched.length) {
    const pos = report.mismatched.find((m) => m.key === 'pos_embed');
    const detail = report.mismatched.map((m) => `${m.key}: model [${m.expected.join(', ')}], file [${m.got.join(', ')}]`).join('; ');
    throw new Error(`${o.cmd}: --init ${file} does not fit the model (${detail})` +
      (pos ? '; position-embedding interpolation is not supported: use the image size the checkpoint was trained at' : ''));
  }
  const allowedUnexpected = (k: string) => IGNORED.some((re) => re.test(k)) || (globalPool ? /^norm\./.test(k) : /^fc_norm\./.test(k));
  const unknown = report.unexpected.filter((k) => !allowedUnexpected(k));
  if (unknown.length) {
    throw new Error(`${o.cmd}: --init ${file} has keys that are not part of a ConvMAE/ConvViT model: ${unknown.slice(0, 8).join(', ')}` +
      `${unknown.length > 8 ? ` (+${unknown.length - 8} more)` : ''}`);
  }
  const heads = headKeys(model);
  const extra = report.missing.filter((k) => !heads.includes(k));
  if (extra.length) {
    throw new Error(`${o.cmd}: --init ${file} is not a matching pretraining or finetuning checkpoint: the missing keys must be exactly ` +
      `${heads.join(', ')} (SPEC 6.2), but ${extra.length} more are missing: ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', ...' : ''}`);
  }
  const reinit = o.reinit === 'always' ? heads : report.missing;
  reinitHead(model, reinit, { std: o.headStd, seed: o.seed });
  return { missing: report.missing, ignored: report.unexpected, dropped, reinitialised: reinit.slice() };
}

/** The classifier's head and fc_norm keys (fc_norm with global pool only). */
export function headKeys(model: ConvViT): string[] {
  return ['head.weight', 'head.bias', ...(model.config.globalPool ? ['fc_norm.weight', 'fc_norm.bias'] : [])];
}

/**
 * Sets the named head tensors to their fresh values: head.weight ~ truncated normal `std` (drawn
 * from Rng.forKey(seed, HEAD_INIT_KEY)), head.bias 0, fc_norm.weight 1, fc_norm.bias 0.
 */
export function reinitHead(model: ConvViT, keys: readonly string[], o: { std: number; seed: number }): void {
  const own = new Map(model.namedTensors());
  const ctx: InitContext = { rng: Rng.forKey(o.seed, HEAD_INIT_KEY), dtype: 'float32' };
  const fresh = new Map<string, TensorRecord>();
  tidy(() => {
    for (const k of keys) {
      const t = own.get(k);
      if (!t) throw new Error(`reinitHead: the model has no '${k}'`);
      const shape = t.shape.slice();
      const v = k === 'head.weight' ? truncNormal(ctx, shape, o.std) : constant(ctx, shape, k === 'fc_norm.weight' ? 1 : 0);
      const host = v.toTypedArray();
      fresh.set(k, { dtype: v.dtype, shape, data: new Uint8Array(host.buffer, host.byteOffset, host.byteLength) });
    }
  });
  model.loadStateDict(fresh, { strict: false });
}

/** Anything that maps a normalised image batch to class logits (ConvViT, LinearProbeModel). */
export interface Classifier {
  readonly config: ConvMAEConfig;
  training: boolean;
  forward(imgs: Tensor): Tensor;
  train(on?: boolean): unknown;
}

export interface EvalResult {
  /** Top-1 accuracy in percent. */
  acc1: number;
  /** Top-5 accuracy in percent (top-k with k = min(5, classes)). */
  acc5: number;
  /** Mean plain cross-entropy. */
  loss: number;
  correct1: number;
  correct5: number;
  count: number;
}

/** Visits `dataset` once in index order (no shuffling, last partial batch kept). */
export async function forEachBatch(dataset: Dataset, o: { batchSize: number; workers?: number; seed?: number },
                                   fn: (b: Batch) => void | Promise<void>): Promise<void> {
  const loader = new DataLoader(dataset, { batchSize: Math.min(o.batchSize, dataset.length), seed: o.seed ?? 0, shuffle: false, dropLast: false, workers: o.workers ?? 0 });
  try {
    for (let i = 0; i < loader.batchesPerEpoch; i++) await fn(await loader.next());
  } finally {
    await loader.close();
  }
}

/** Per-row cross-entropy and top-1/top-k hits of host logits [n, c]. */
export function scoreLogits(logits: Float32Array, labels: ArrayLike<number>, c: number, k = 5): { lossSum: number; top1: number; topk: number } {
  let lossSum = 0, top1 = 0, topk = 0;
  const kk = Math.min(k, c);
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * c, (i + 1) * c);
    const y = labels[i];
    let max = -Infinity;
    for (let j = 0; j < c; j++) if (row[j] > max) max = row[j];
    let s = 0;
    for (let j = 0; j < c; j++) s += Math.exp(row[j] - max);
    lossSum += max + Math.log(s) - row[y];
    let above = 0;
    for (let j = 0; j < c; j++) if (row[j] > row[y] || (Number.isNaN(row[j]))) above++;
    if (Number.isNaN(row[y])) above = c;
    if (above === 0) top1++;
    if (above < kk) topk++;
  }
  return { lossSum, top1, topk };
}

/**
 * Evaluates a classifier on every sample of `dataset` (in eval mode, without gradients; the
 * model's training flag is restored afterwards).
 */
export async function evaluateClassifier(model: Classifier, dataset: Dataset,
                                         o: { batchSize?: number; workers?: number; device?: Device } = {}): Promise<EvalResult> {
  const c = model.config.numClasses;
  if (dataset.numClasses > c) {
    throw new RangeError(`evaluate: the data has ${dataset.numClasses} classes but the model predicts ${c}`);
  }
  const s = dataset.imageSize;
  const device = o.device ?? 'cpu';
  const was = model.training;
  model.train(false);
  let lossSum = 0, correct1 = 0, correct5 = 0, count = 0;
  try {
    await forEachBatch(dataset, { batchSize: o.batchSize ?? 64, workers: o.workers }, (b) => {
      const logits = noGrad(() => tidy(() => model.forward(tensor(b.images, [b.size, 3, s, s], { device })).toFloat32Array()));
      const r = scoreLogits(logits, b.labels, c);
      lossSum += r.lossSum;
      correct1 += r.top1;
      correct5 += r.topk;
      count += b.size;
    });
  } finally {
    model.train(was);
  }
  return { acc1: (100 * correct1) / count, acc5: (100 * correct5) / count, loss: lossSum / count, correct1, correct5, count };
}

/** The evaluation fields of a metrics.jsonl row. */
export function evalFields(r: EvalResult): Pick<StepLog, 'acc1' | 'acc5' | 'val_loss' | 'val_count'> {
  return { acc1: r.acc1, acc5: r.acc5, val_loss: r.loss, val_count: r.count };
}

export function formatEval(r: EvalResult): string {
  return `top-1 ${r.acc1.toFixed(2)}% (${r.correct1}/${r.count})  top-5 ${r.acc5.toFixed(2)}% (${r.correct5}/${r.count})  loss ${r.loss.toFixed(4)}`;
}

export interface Best {
  acc1: number;
  step: number;
}

/** The best-so-far a classifier checkpoint carries in its `best` metadata entry (not a compared setting). */
export function readBest(meta: Record<string, string>): Best | null {
  try {
    return meta.best ? (JSON.parse(meta.best) as Best) : null;
  } catch {
    return null;
  }
}

/** What a classifier run plugs into runTrainLoop. */
export interface LoopHooks {
  cmd: string;
  run: RunDir;
  plan: StepPlan;
  accum: number;
  /** Images per optimizer step (batch × accum), for the throughput numbers. */
  imagesPerStep: number;
  /** Steps already done (resume). */
  startStep: number;
  /** Epoch of the next batch (resume), for a run that stops before any batch. */
  startEpoch: number;
  evalEvery: number;
  saveEvery?: number;
  best: Best | null;
  lr(step: number): number;
  /**
   * Forward and backward (loss scaled by 1/accum) of micro-batch `k` of optimizer step `step`;
   * returns the unscaled loss and the batch's epoch. Must not run backward on a non-finite loss.
   */
  micro(step: number, k: number): Promise<{ loss: number; epoch: number }>;
  /** Optional clipping, the optimizer step at `lr`, zeroing the gradients. */
  update(lr: number): void;
  evaluate(): Promise<EvalResult>;
  /** Writes a resumable checkpoint (state after `step`, `best` so far) and returns its path. */
  saveTrain(name: string, step: number, epoch: number, best: Best | null): string;
  /** Writes best.safetensors (weights and the evaluation in its metadata). */
  saveBest(step: number, r: EvalResult): void;
  progress: Progress | null;
  onStep?: (row: StepLog) => void;
  onEpoch?: (log: EpochLog) => void;
}

export interface LoopResult {
  losses: number[];
  checkpoint: string | null;
  best: Best | null;
  lastEval: EvalResult | null;
}

export async function runTrainLoop(h: LoopHooks): Promise<LoopResult> {
  const { plan, accum } = h;
  const losses: number[] = [];
  let sinceEval: number[] = [];
  let best = h.best;
  let lastEval: EvalResult | null = null;
  let checkpoint: string | null = null;
  let epoch = h.startEpoch;
  const t0 = Date.now();
  for (let step = h.startStep; step < plan.totalSteps; step++) {
    const stepStart = Date.now();
    const stepLr = h.lr(step);
    let stepLoss = 0;
    for (let k = 0; k < accum; k++) {
      const r = await h.micro(step, k);
      epoch = r.epoch;
      if (!Number.isFinite(r.loss)) {
        clearTape();
        const last = h.run.file('checkpoint-last.safetensors');
        throw nonFiniteLoss(h.cmd, r.loss, step + 1, checkpoint ?? (fs.existsSync(last) ? last : null));
      }
      stepLoss += r.loss / accum;
    }
    h.update(stepLr);
    losses.push(stepLoss);
    sinceEval.push(stepLoss);
    const done = step + 1;
    const row: StepLog = {
      step: done, epoch, loss: stepLoss, lr: stepLr,
      imagesPerSec: h.imagesPerStep / Math.max(1e-3, (Date.now() - stepStart) / 1000), elapsedSec: (Date.now() - t0) / 1000,
    };
    h.progress?.update({ step: done, loss: stepLoss, lr: stepLr, images: h.imagesPerStep });
    const evalNow = done % h.evalEvery === 0 || done === plan.totalSteps;
    let epochLog: EpochLog | null = null;
    if (evalNow) {
      const r = await h.evaluate();
      lastEval = r;
      Object.assign(row, evalFields(r));
      if (best === null || r.acc1 > best.acc1) {
        best = { acc1: r.acc1, step: done };
        h.saveBest(done, r);
      }
      const trainLoss = sinceEval.reduce((a, b) => a + b, 0) / sinceEval.length;
      sinceEval = [];
      h.progress?.log(`${h.cmd} step ${done} (epoch ${epoch}): ${formatEval(r)}  (best top-1 ${best.acc1.toFixed(2)}% at step ${best.step})`);
      epochLog = { epoch, step: done, trainLoss, lr: stepLr, eval: r, best: { ...best } };
    }
    h.run.log({ ...row });
    h.onStep?.(row);
    if (epochLog) h.onEpoch?.(epochLog);
    const periodic = h.saveEvery !== undefined && h.saveEvery > 0 && done % h.saveEvery === 0;
    if (periodic) h.saveTrain(`checkpoint-${done}.safetensors`, done, epoch, best);
    if (periodic || evalNow) checkpoint = h.saveTrain('checkpoint-last.safetensors', done, epoch, best);
  }
  return { losses, checkpoint, best, lastEval };
}

/** The first `n` samples of a dataset (images concatenated, labels). */
export async function firstSamples(dataset: Dataset, n: number): Promise<{ images: Float32Array; labels: Int32Array; n: number }> {
  const count = Math.min(n, dataset.length);
  const per = 3 * dataset.imageSize * dataset.imageSize;
  const images = new Float32Array(count * per);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const s = await dataset.get(i, new Rng(i));
    images.set(s.image, i * per);
    labels[i] = s.label;
  }
  return { images, labels, n: count };
}

/** What a classifier run (finetune, linprobe) returns. */
export interface ClassifierRunResult {
  steps: number;
  /** Training loss of each step this call ran. */
  losses: number[];
  out: string;
  /** checkpoint-last.safetensors. */
  checkpoint: string;
  /** best.safetensors (null when no evaluation ran in this call and none before). */
  best: string | null;
  bestAcc1: number | null;
  /** The last evaluation of this call. */
  lastEval: EvalResult | null;
  config: ConvMAEConfig;
  /** How --init loaded (absent without init and when resuming). */
  init?: InitReport;
}

/**
 * Options shared by the classifier runs (finetune.ts, linprobe.ts); the defaults that differ
 * between them are listed on FinetuneOptions and LinprobeOptions.
 */
export interface ClassifierRunOptions extends TrainRunOptions {
  /** Pretraining (or finetuning) checkpoint (.safetensors or official .pth); without it the preset's random init. */
  init?: string;
  heads?: number;
  warmupEpochs?: number;
  /** Default true; false = cls mode. */
  globalPool?: boolean;
  evalEvery?: number;
  valLimit?: number;
  evalBatchSize?: number;
  onStep?: (row: StepLog) => void;
  onEpoch?: (log: EpochLog) => void;
}

/** Writes best.safetensors: the weights, with the evaluation that made them best in the metadata. */
export function writeBest(run: RunDir, tensors: Map<string, TensorRecord>, config: ConvMAEConfig, step: number, r: EvalResult,
  extra: Record<string, string> = {}): void {
  run.writeCheckpoint('best.safetensors', tensors, checkpointMetadata('convvit-classifier', config, {
    ...extra, step: String(step), acc1: String(r.acc1), acc5: String(r.acc5), val_loss: String(r.loss), val_count: String(r.count),
  }));
}

/** The result of a classifier run from its loop's result. */
export function runResult(run: RunDir, totalSteps: number, result: LoopResult, config: ConvMAEConfig, init?: InitReport): ClassifierRunResult {
  return {
    steps: totalSteps, losses: result.losses, out: run.dir, checkpoint: result.checkpoint ?? run.file('checkpoint-last.safetensors'),
    best: result.best ? run.file('best.safetensors') : null, bestAcc1: result.best?.acc1 ?? null, lastEval: result.lastEval, config, init,
  };
}
