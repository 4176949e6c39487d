// Classifier evaluation (and `convmae eval`): top-1 / top-5 accuracy (percent), mean plain
// cross-entropy and counts over a dataset, in eval mode without gradients (SPEC.md §6.6
// evaluation: resize the shorter side to size/0.875, centre crop, normalise). `loadClassifier`
// reads a finetuned ConvViT (head.weight; this package's safetensors or an official .pth) or a
// linear-probe classifier (head.0.* BatchNorm + head.1.* Linear) from a checkpoint.
import * as fs from 'fs';
import * as path from 'path';

import { defaultDevice } from '../backends';
import { evalTransform } from '../data/augment';
import { Dataset } from '../data/types';
import { weightsOnly } from '../models/checkpoint';
import { ConvViT } from '../models/convvit';
import { Device } from '../tensor/device';
import { openDataset } from './datasets';
import { Classifier, EvalResult, classifierArchitecture, evaluateClassifier, readCheckpointFlag } from './loop_utils';
import { LinearProbeModel, isLinearProbeStateDict, linearProbeFromCheckpoint } from './linprobe';
import { Precision, resolvePrecision } from '../nn/precision';

export type { Classifier, EvalResult } from './loop_utils';

export interface EvaluateOptions {
  /** Images per forward pass; default 64. */
  batchSize?: number;
  /** Data loading threads; default 0 (in-process). */
  workers?: number;
  /** Device the model is on; default cpu. */
  device?: Device;
}

/** Evaluates `model` on every sample of `dataset` (images of the model's size, normalised). */
export function evaluate(model: Classifier, dataset: Dataset, o: EvaluateOptions = {}): Promise<EvalResult> {
  return evaluateClassifier(model, dataset, o);
}

/** A classifier from a finetuning or linear-probe checkpoint (.safetensors or .pth), on the cpu. */
export function loadClassifier(file: string, o: { heads?: number; cmd?: string } = {}): ConvViT | LinearProbeModel {
  const cmd = o.cmd ?? 'eval';
  const ck = readCheckpointFlag(cmd, '--init', file);
  const sd = ck.stateDict;
  const config = classifierArchitecture(cmd, { ck, file, heads: o.heads });
  if (isLinearProbeStateDict(sd)) return linearProbeFromCheckpoint(ck, config);
  if (!sd.has('head.weight')) {
    throw new Error(`${cmd}: ${file} has no classifier head (head.weight or head.1.weight): it is a pretraining checkpoint; ` +
      'finetune it (convmae finetune --init) or probe it (convmae linprobe --init) first');
  }
  const model = new ConvViT({ ...config, numClasses: sd.get('head.weight')!.shape[0], globalPool: sd.has('fc_norm.weight'), dropPath: 0 });
  try {
    model.loadStateDict(weightsOnly(sd), { strict: true });
  } catch (e) {
    model.dispose();
    throw new Error(`${cmd}: ${file} does not load as a ConvViT classifier: ${e instanceof Error ? e.message : String(e)}`);
  }
  return model;
}

export interface EvaluateCheckpointOptions {
  /** Classifier checkpoint (finetuned or linear probe). */
  init: string;
  /** synthetic | fashion-mnist | an image folder; its validation split is used. */
  data: string;
  heads?: number;
  /** Default: the checkpoint's (a different size is an error). */
  imgSize?: number;
  batchSize?: number;
  /** Use only the first N validation images. */
  limit?: number;
  workers?: number;
  device?: Device;
  /** 'bf16' (float32 weights, bfloat16 activations; cuda only) or 'float32'; default bf16 on cuda, float32 on cpu. */
  precision?: Precision;
  seed?: number;
  /** Folder for eval.json (not written when absent). */
  out?: string;
}

export interface EvaluateCheckpointResult extends EvalResult {
  checkpoint: string;
  data: string;
  split: 'val';
  imgSize: number;
  numClasses: number;
  /** 'finetune' (ConvViT head) or 'linear-probe'. */
  classifier: 'finetune' | 'linear-probe';
  /** eval.json, when `out` was given. */
  file?: string;
}

/** Loads a classifier checkpoint, evaluates it on the validation split, optionally writes eval.json. */
export async function evaluateCheckpoint(o: EvaluateCheckpointOptions): Promise<EvaluateCheckpointResult> {
  const device = o.device ?? defaultDevice();
  const model = loadClassifier(o.init, { heads: o.heads });
  try {
    (model instanceof LinearProbeModel ? model.vit : model).precision = resolvePrecision(device, o.precision);
    const imgSize = model.config.imgSize;
    if (o.imgSize !== undefined && o.imgSize !== imgSize) {
      throw new RangeError(`eval: ${o.init} holds a ${imgSize} px model; position-embedding interpolation is not supported, so use --img-size ${imgSize}`);
    }
    const dataset = openDataset(o.data, { split: 'val', transform: evalTransform(imgSize), limit: o.limit, seed: o.seed ?? 0 });
    if (dataset.numClasses !== model.config.numClasses) {
      throw new RangeError(`eval: ${o.init} predicts ${model.config.numClasses} classes but ${o.data} has ${dataset.numClasses}`);
    }
    model.to(device);
    const r = await evaluateClassifier(model, dataset, { batchSize: o.batchSize ?? 64, workers: o.workers ?? 0, device });
    const result: EvaluateCheckpointResult = {
      ...r, checkpoint: path.resolve(o.init), data: o.data, split: 'val', imgSize, numClasses: model.config.numClasses,
      classifier: model instanceof LinearProbeModel ? 'linear-probe' : 'finetune',
    };
    if (o.out !== undefined) {
      fs.mkdirSync(o.out, { recursive: true });
      result.file = path.join(o.out, 'eval.json');
      fs.writeFileSync(result.file, JSON.stringify({ ...result, file: undefined }, null, 2) + '\n');
    }
    return result;
  } finally {
    model.dispose();
  }
}
