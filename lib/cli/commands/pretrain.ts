// `convmae pretrain`: masked-autoencoder pretraining (see lib/train/pretrain.ts).
import * as path from 'path';

import { pretrain as runPretrain } from '../../train/pretrain';
import { FlagSpec, formatHelp, parseArgs } from '../args';
import { COMMON_TRAIN_FLAGS, num, str } from '../train_flags';
import { Precision } from '../../nn/precision';

const spec: Record<string, FlagSpec> = {
  ...COMMON_TRAIN_FLAGS,
  blr: { type: 'number', help: 'base lr; lr = blr x batch x accum / 256', default: 1.5e-4 },
  'mask-ratio': { type: 'number', help: 'fraction of tokens removed', default: 0.75 },
  'norm-pix': { type: 'boolean', help: 'normalise each target patch (--no-norm-pix to turn off)', default: true },
  reconstructions: { type: 'number', help: 'images in reconstructions.png (0 to skip)', default: 4 },
  out: { type: 'string', help: 'run folder for checkpoints, metrics.jsonl and pictures', default: 'runs/pretrain' },
};

export const pretrain = {
  summary: 'pretrain a ConvMAE (masked autoencoder) and write checkpoints, metrics and pictures',
  help: () => formatHelp('pretrain', '[options]',
    'Pretrains a ConvMAE on unlabelled images. Writes checkpoint-last.safetensors (and checkpoint-<step> every\n' +
    '--save-every steps), metrics.jsonl, loss.png and reconstructions.png to --out. --resume continues exactly.', spec),
  async run(argv: string[]): Promise<number> {
    const { flags: f } = parseArgs(argv, spec, 'pretrain');
    const out = str(f.out)!;
    const result = await runPretrain({
      data: str(f.data)!, model: str(f.model), imgSize: num(f['img-size']), batchSize: num(f['batch-size']), accum: num(f.accum),
      epochs: num(f.epochs), steps: num(f.steps), blr: num(f.blr), lr: num(f.lr), minLr: num(f['min-lr']),
      warmupSteps: num(f['warmup-steps']), weightDecay: num(f['weight-decay']), maskRatio: num(f['mask-ratio']),
      normPix: f['norm-pix'] as boolean, clipGrad: num(f['clip-grad']), out, device: str(f.device) as 'cpu' | 'cuda' | undefined, precision: str(f.precision) as Precision | undefined,
      seed: num(f.seed), saveEvery: num(f['save-every']), resume: str(f.resume), limit: num(f.limit), workers: num(f.workers),
      reconstructions: num(f.reconstructions),
    });
    const first = result.losses[0], last = result.losses[result.losses.length - 1];
    console.log(`pretrained ${result.steps} steps; loss ${first?.toFixed(4)} -> ${last?.toFixed(4)}`);
    console.log(`checkpoint: ${result.checkpoint}`);
    for (const f2 of ['metrics.jsonl', 'loss.png', 'reconstructions.png']) console.log(`${f2.padEnd(20)} ${path.join(out, f2)}`);
    return 0;
  },
};
