// Flags shared by the training commands (pretrain, finetune, linprobe, eval, visualize), so their
// help and parsing stay in step.
import { FlagSpec } from './args';

export const DATA_FLAG: FlagSpec = { type: 'string', help: 'synthetic | fashion-mnist | PATH (an image folder with class sub-folders)', default: 'synthetic' };
export const MODEL_FLAG: FlagSpec = { type: 'string', help: 'tiny | small | base | base-star | large | huge (aliases s, b, l, h)', default: 'tiny' };

export const COMMON_TRAIN_FLAGS: Record<string, FlagSpec> = {
  data: DATA_FLAG,
  model: MODEL_FLAG,
  'img-size': { type: 'number', help: 'input size, a multiple of 16 (default 224; 64 for tiny)' },
  'batch-size': { type: 'number', help: 'images per step', default: 64 },
  accum: { type: 'number', help: 'gradient accumulation steps', default: 1 },
  epochs: { type: 'number', help: 'epochs to train (--steps wins)', default: 1 },
  steps: { type: 'number', help: 'optimizer steps to train' },
  blr: { type: 'number', help: 'base lr; lr = blr x batch x accum / 256' },
  lr: { type: 'number', help: 'absolute lr (wins over --blr)' },
  'min-lr': { type: 'number', help: 'final lr of the cosine schedule' },
  'warmup-steps': { type: 'number', help: 'linear warmup steps (default 5% of the run)' },
  'weight-decay': { type: 'number', help: 'AdamW weight decay', default: 0.05 },
  'clip-grad': { type: 'number', help: 'clip the global gradient norm to this value' },
  out: { type: 'string', help: 'run folder for checkpoints, metrics.jsonl and pictures' },
  device: { type: 'string', help: 'cpu or cuda (default: cuda when usable)', choices: ['cpu', 'cuda'] },
  precision: { type: 'string', help: 'bf16 (float32 weights, bfloat16 activations; cuda only) or float32 (default: bf16 on cuda, float32 on cpu)', choices: ['bf16', 'float32'] },
  seed: { type: 'number', help: 'random seed (data order, masking, init)', default: 0 },
  'save-every': { type: 'number', help: 'also keep checkpoint-<step>.safetensors every N steps' },
  resume: { type: 'string', help: 'continue a run exactly from one of its checkpoints' },
  limit: { type: 'number', help: 'use only the first N images of the data' },
  workers: { type: 'number', help: 'data loading worker threads (0 = in-process)', default: 2 },
};

export function num(v: unknown): number | undefined {
  return v === undefined ? undefined : (v as number);
}

export function str(v: unknown): string | undefined {
  return v === undefined ? undefined : (v as string);
}
