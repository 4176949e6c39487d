// `convmae eval`: top-1 / top-5 accuracy and loss of a classifier checkpoint on the validation split.
import { Device } from '../../tensor/device';
import { evaluateCheckpoint } from '../../train/evaluate';
import { formatEval } from '../../train/loop_utils';
import { FlagSpec, UsageError, formatHelp, parseArgs } from '../args';
import { COMMON_TRAIN_FLAGS, num, str } from '../train_flags';
import { Precision } from '../../nn/precision';

const spec: Record<string, FlagSpec> = {
  init: { type: 'string', help: 'classifier checkpoint: finetuned or linear probe (.safetensors or .pth); required' },
  data: COMMON_TRAIN_FLAGS.data,
  heads: { type: 'number', help: 'stage-3 attention heads of a .pth whose shapes match no preset' },
  'img-size': { type: 'number', help: 'input size (default and only choice: the checkpoint\'s)' },
  'batch-size': { type: 'number', help: 'images per batch', default: 64 },
  limit: { type: 'number', help: 'use only the first N validation images' },
  workers: { type: 'number', help: 'data loading worker threads (0 = in-process)', default: 0 },
  device: COMMON_TRAIN_FLAGS.device,
  precision: COMMON_TRAIN_FLAGS.precision,
  seed: { type: 'number', help: 'seed of the synthetic validation scenes', default: 0 },
  out: { type: 'string', help: 'folder for eval.json', default: 'runs/eval' },
};

export const evalCommand = {
  summary: 'evaluate a classifier checkpoint on the validation split (top-1, top-5, loss)',
  help: () => formatHelp('eval', '--init <checkpoint> [options]',
    'Evaluates a finetuned or linear-probe classifier on the validation split of --data (resize to size/0.875,\n' +
    'centre crop) and prints top-1 / top-5 accuracy, the mean cross-entropy and the counts; writes eval.json to --out.', spec),
  async run(argv: string[]): Promise<number> {
    const { flags: f } = parseArgs(argv, spec, 'eval');
    const init = str(f.init);
    if (!init) throw new UsageError('eval: --init <classifier checkpoint> is required (see `convmae eval --help`)');
    const r = await evaluateCheckpoint({
      init, data: str(f.data)!, heads: num(f.heads), imgSize: num(f['img-size']), batchSize: num(f['batch-size']), limit: num(f.limit),
      workers: num(f.workers), device: str(f.device) as Device | undefined, precision: str(f.precision) as Precision | undefined, seed: num(f.seed), out: str(f.out),
    });
    console.log(`${r.classifier} classifier, ${r.numClasses} classes, ${r.imgSize} px; ${r.count} validation images of ${r.data}`);
    console.log(formatEval(r));
    console.log(`eval.json: ${r.file}`);
    return 0;
  },
};
