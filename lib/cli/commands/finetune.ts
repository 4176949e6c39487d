// `convmae finetune`: ConvViT finetuning from a pretraining checkpoint (see lib/train/finetune.ts).
import * as path from 'path';

import { Device } from '../../tensor/device';
import { finetune as runFinetune } from '../../train/finetune';
import { formatEval } from '../../train/loop_utils';
import { FlagSpec, formatHelp, parseArgs } from '../args';
import { COMMON_TRAIN_FLAGS, num, str } from '../train_flags';
import { Precision } from '../../nn/precision';

export const CLASSIFIER_FLAGS: Record<string, FlagSpec> = {
  init: { type: 'string', help: 'start from this checkpoint (.safetensors or official .pth); the architecture comes from it' },
  heads: { type: 'number', help: 'stage-3 attention heads of a .pth whose shapes match no preset' },
  'warmup-epochs': { type: 'number', help: 'linear warmup in epochs (--warmup-steps wins)' },
  'global-pool': { type: 'boolean', help: 'mean of the tokens + fc_norm; --no-global-pool = cls mode (pretrained norm, first token)', default: true },
  'eval-every': { type: 'number', help: 'evaluate every N steps (default: every epoch; always at the end)' },
  'val-limit': { type: 'number', help: 'evaluate on only the first N validation images' },
  'eval-batch-size': { type: 'number', help: 'images per evaluation batch (default: --batch-size)' },
};

const spec: Record<string, FlagSpec> = {
  ...COMMON_TRAIN_FLAGS,
  model: { ...COMMON_TRAIN_FLAGS.model, help: 'preset when training from scratch (without --init): tiny | small | base | base-star | large | huge' },
  'img-size': { type: 'number', help: 'input size (default: the checkpoint\'s; from scratch 224, 64 for tiny)' },
  blr: { type: 'number', help: 'base lr; lr = blr x batch x accum / 256', default: 5e-4 },
  'min-lr': { type: 'number', help: 'final lr of the cosine schedule', default: 1e-6 },
  'warmup-steps': { type: 'number', help: 'linear warmup steps (default 5% of the run)' },
  ...CLASSIFIER_FLAGS,
  'layer-decay': { type: 'number', help: 'layer-wise lr decay (default 0.65 for base, 0.75 otherwise)' },
  'drop-path': { type: 'number', help: 'stochastic depth rate (default 0.1; 0 for tiny)' },
  smoothing: { type: 'number', help: 'label smoothing', default: 0.1 },
  mixup: { type: 'number', help: 'mixup Beta alpha (0 = off)', default: 0.8 },
  cutmix: { type: 'number', help: 'cutmix Beta alpha (0 = off)', default: 1.0 },
  'mixup-prob': { type: 'number', help: 'probability of mixing a batch', default: 1.0 },
  'mixup-switch-prob': { type: 'number', help: 'probability of cutmix when both are on', default: 0.5 },
  reprob: { type: 'number', help: 'random erasing probability', default: 0.25 },
  out: { type: 'string', help: 'run folder for checkpoints, metrics.jsonl and loss.png', default: 'runs/finetune' },
};

export const finetune = {
  summary: 'finetune a ConvViT classifier from a pretraining checkpoint (AdamW, layer decay, mixup)',
  help: () => formatHelp('finetune', '[options]',
    'Finetunes a ConvViT classifier (SPEC 6) from --init (missing keys must be exactly head.* and fc_norm.*), or\n' +
    'from scratch with --model. Evaluates top-1/top-5 on the validation split every epoch and at the end, and\n' +
    'writes best.safetensors, checkpoint-last.safetensors (checkpoint-<step> every --save-every), metrics.jsonl\n' +
    'and loss.png to --out. --resume continues exactly. RandAugment is not implemented.', spec),
  async run(argv: string[]): Promise<number> {
    const { flags: f } = parseArgs(argv, spec, 'finetune');
    const out = str(f.out)!;
    const r = await runFinetune({
      data: str(f.data)!, init: str(f.init), heads: num(f.heads), model: str(f.model), imgSize: num(f['img-size']),
      batchSize: num(f['batch-size']), accum: num(f.accum), epochs: num(f.epochs), steps: num(f.steps), blr: num(f.blr), lr: num(f.lr),
      minLr: num(f['min-lr']), warmupSteps: num(f['warmup-steps']), warmupEpochs: num(f['warmup-epochs']), weightDecay: num(f['weight-decay']),
      layerDecay: num(f['layer-decay']), dropPath: num(f['drop-path']), globalPool: f['global-pool'] as boolean,
      smoothing: num(f.smoothing), mixup: num(f.mixup), cutmix: num(f.cutmix), mixupProb: num(f['mixup-prob']),
      mixupSwitchProb: num(f['mixup-switch-prob']), reprob: num(f.reprob), clipGrad: num(f['clip-grad']), out,
      device: str(f.device) as Device | undefined, precision: str(f.precision) as Precision | undefined, seed: num(f.seed), saveEvery: num(f['save-every']), evalEvery: num(f['eval-every']),
      resume: str(f.resume), limit: num(f.limit), valLimit: num(f['val-limit']), evalBatchSize: num(f['eval-batch-size']), workers: num(f.workers),
    });
    const first = r.losses[0], last = r.losses[r.losses.length - 1];
    console.log(`finetuned ${r.steps} steps; loss ${first?.toFixed(4)} -> ${last?.toFixed(4)}`);
    if (r.lastEval) console.log(`validation: ${formatEval(r.lastEval)}`);
    if (r.best) console.log(`best top-1 ${r.bestAcc1?.toFixed(2)}%: ${r.best}`);
    console.log(`checkpoint: ${r.checkpoint}`);
    for (const name of ['metrics.jsonl', 'loss.png']) console.log(`${name.padEnd(20)} ${path.join(out, name)}`);
    return 0;
  },
};
