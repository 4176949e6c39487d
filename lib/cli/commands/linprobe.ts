// `convmae linprobe`: linear probing of a frozen encoder (see lib/train/linprobe.ts).
import * as path from 'path';

import { Device } from '../../tensor/device';
import { linprobe as runLinprobe } from '../../train/linprobe';
import { formatEval } from '../../train/loop_utils';
import { FlagSpec, formatHelp, parseArgs } from '../args';
import { COMMON_TRAIN_FLAGS, num, str } from '../train_flags';
import { CLASSIFIER_FLAGS } from './finetune';
import { Precision } from '../../nn/precision';

const spec: Record<string, FlagSpec> = {
  ...COMMON_TRAIN_FLAGS,
  model: { ...COMMON_TRAIN_FLAGS.model, help: 'preset of a randomly initialised encoder when there is no --init' },
  'img-size': { type: 'number', help: 'input size (default: the checkpoint\'s; without --init 224, 64 for tiny)' },
  blr: { type: 'number', help: 'base lr; lr = blr x batch x accum / 256', default: 0.1 },
  'min-lr': { type: 'number', help: 'final lr of the cosine schedule', default: 0 },
  'warmup-steps': { type: 'number', help: 'linear warmup steps (default 1/9 of the run: 10 of 90 epochs)' },
  'weight-decay': { type: 'number', help: 'LARS weight decay', default: 0 },
  ...CLASSIFIER_FLAGS,
  'cache-features': { type: 'boolean', help: 'compute the frozen features of the un-augmented train/val images once and train the head on them (fast on a CPU)' },
  out: { type: 'string', help: 'run folder for checkpoints, metrics.jsonl and loss.png', default: 'runs/linprobe' },
};

export const linprobe = {
  summary: 'linear probe: train BatchNorm + a linear head on a frozen encoder (LARS)',
  help: () => formatHelp('linprobe', '[options]',
    'Trains only a linear classifier (SPEC 7: parameter-free LayerNorm, BatchNorm1d without affine, Linear) on\n' +
    'the frozen encoder of --init, with LARS. Evaluates on the validation split every epoch and at the end and\n' +
    'writes best.safetensors, checkpoint-last.safetensors, metrics.jsonl and loss.png to --out. --cache-features\n' +
    'trades the crop/flip augmentation for one encoder pass over the data (features held in memory: N x C3 floats).', spec),
  async run(argv: string[]): Promise<number> {
    const { flags: f } = parseArgs(argv, spec, 'linprobe');
    const out = str(f.out)!;
    const r = await runLinprobe({
      data: str(f.data)!, init: str(f.init), heads: num(f.heads), model: str(f.model), imgSize: num(f['img-size']),
      batchSize: num(f['batch-size']), accum: num(f.accum), epochs: num(f.epochs), steps: num(f.steps), blr: num(f.blr), lr: num(f.lr),
      minLr: num(f['min-lr']), warmupSteps: num(f['warmup-steps']), warmupEpochs: num(f['warmup-epochs']), weightDecay: num(f['weight-decay']),
      globalPool: f['global-pool'] as boolean, cacheFeatures: f['cache-features'] === true, clipGrad: num(f['clip-grad']), out,
      device: str(f.device) as Device | undefined, precision: str(f.precision) as Precision | undefined, seed: num(f.seed), saveEvery: num(f['save-every']), evalEvery: num(f['eval-every']),
      resume: str(f.resume), limit: num(f.limit), valLimit: num(f['val-limit']), evalBatchSize: num(f['eval-batch-size']), workers: num(f.workers),
    });
    const first = r.losses[0], last = r.losses[r.losses.length - 1];
    console.log(`linear probe: ${r.steps} steps; loss ${first?.toFixed(4)} -> ${last?.toFixed(4)}`);
    if (r.lastEval) console.log(`validation: ${formatEval(r.lastEval)}`);
    if (r.best) console.log(`best top-1 ${r.bestAcc1?.toFixed(2)}%: ${r.best}`);
    console.log(`checkpoint: ${r.checkpoint}`);
    for (const name of ['metrics.jsonl', 'loss.png']) console.log(`${name.padEnd(20)} ${path.join(out, name)}`);
    return 0;
  },
};
