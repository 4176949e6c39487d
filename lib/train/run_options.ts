// Options every training run takes (pretrain, finetune, linprobe) and the step log every run
// writes; each run's own types extend these with what only it has.
import { ConvMAEConfig } from '../models/config';
import { Precision } from '../nn/precision';
import { Device } from '../tensor/device';
import { ProgressStream } from './progress';

export interface TrainRunOptions {
  /** synthetic | fashion-mnist | an image folder. */
  data: string;
  /** Preset name (default tiny). */
  model?: string;
  /** Overrides of the preset's config. */
  config?: Partial<ConvMAEConfig>;
  /** Default 224, or 64 for tiny (a classifier run from a checkpoint: the checkpoint's). */
  imgSize?: number;
  /** Default 64. */
  batchSize?: number;
  accum?: number;
  epochs?: number;
  /** Optimizer steps; wins over epochs. */
  steps?: number;
  blr?: number;
  /** Absolute lr; wins over blr. */
  lr?: number;
  minLr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this value (off by default). */
  clipGrad?: number;
  out: string;
  device?: Device;
  /** 'bf16' (float32 weights, bfloat16 activations; cuda only) or 'float32'; default bf16 on cuda, float32 on cpu. */
  precision?: Precision;
  seed?: number;
  saveEvery?: number;
  resume?: string;
  /** Limit the dataset to its first N samples. */
  limit?: number;
  workers?: number;
  /** Progress output; false for none. Default: stderr. */
  progress?: ProgressStream | false;
}

/** One logged optimizer step (a row of metrics.jsonl). */
export interface StepLog {
  step: number;
  /** Epoch (0-based) of the last batch of the step. */
  epoch: number;
  loss: number;
  lr: number;
  imagesPerSec: number;
  elapsedSec: number;
}
