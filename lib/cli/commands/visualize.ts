// `convmae visualize`: reconstructions.png of a pretraining checkpoint (see lib/train/reconstruct.ts).
import * as fs from 'fs';
import * as path from 'path';

import { defaultDevice } from '../../backends';
import { ConvMAE } from '../../models/convmae';
import { checkpointConfig, inferKind, weightsOnly } from '../../models/checkpoint';
import { Device } from '../../tensor/device';
import { openDataset } from '../../train/datasets';
import { firstSamples, readCheckpointFlag } from '../../train/loop_utils';
import { writeReconstructions } from '../../train/reconstruct';
import { FlagSpec, UsageError, formatHelp, parseArgs } from '../args';
import { COMMON_TRAIN_FLAGS, num, str } from '../train_flags';

const spec: Record<string, FlagSpec> = {
  init: { type: 'string', help: 'pretraining checkpoint (.safetensors or official .pth); required' },
  data: COMMON_TRAIN_FLAGS.data,
  images: { type: 'number', help: 'images (rows) in the picture', default: 4 },
  seed: { type: 'number', help: 'seed of the masks', default: 0 },
  heads: { type: 'number', help: 'stage-3 attention heads of a .pth whose shapes match no preset' },
  'decoder-heads': { type: 'number', help: 'decoder attention heads of a .pth whose shapes match no preset' },
  device: COMMON_TRAIN_FLAGS.device,
  out: { type: 'string', help: 'folder for reconstructions.png', default: 'runs/visualize' },
};

export const visualize = {
  summary: 'write reconstructions.png (original | masked | reconstruction) of a pretraining checkpoint',
  help: () => formatHelp('visualize', '--init <checkpoint> [options]',
    'Masks the first --images validation images of --data with the checkpoint\'s mask ratio (masks drawn from --seed)\n' +
    'and writes rows of original, masked input and reconstruction to --out/reconstructions.png.', spec),
  async run(argv: string[]): Promise<number> {
    const { flags: f } = parseArgs(argv, spec, 'visualize');
    const init = str(f.init);
    if (!init) throw new UsageError('visualize: --init <pretraining checkpoint> is required (see `convmae visualize --help`)');
    const images = num(f.images)!;
    if (!Number.isInteger(images) || images < 1) throw new UsageError(`visualize: --images expects a positive integer but got ${images}`);
    const ck = readCheckpointFlag('visualize', '--init', init);
    if ((ck.metadata.kind ?? inferKind(ck.stateDict)) !== 'convmae-pretrain' || !ck.stateDict.has('decoder_pred.weight')) {
      throw new Error(`visualize: ${init} is not a pretraining checkpoint (it has no decoder); reconstructions need one`);
    }
    const model = new ConvMAE(checkpointConfig(ck, { heads: num(f.heads), decoderHeads: num(f['decoder-heads']) }));
    try {
      model.loadStateDict(weightsOnly(ck.stateDict), { strict: true });
      const device = (str(f.device) as Device | undefined) ?? defaultDevice();
      model.to(device);
      const size = model.config.imgSize;
      const data = str(f.data)!;
      const ds = openDataset(data, { split: 'val', transform: { kind: 'resize', size, interpolation: 'bicubic' }, seed: 0, limit: data === 'synthetic' ? images : undefined });
      const s = await firstSamples(ds, images);
      const out = str(f.out)!;
      const file = path.join(out, 'reconstructions.png');
      fs.mkdirSync(out, { recursive: true });
      const grid = writeReconstructions(file, model, s.images, s.n, num(f.seed) ?? 0);
      console.log(`wrote ${file} (${s.n} images, ${grid.width}x${grid.height}, mask ratio ${model.config.maskRatio})`);
    } finally {
      model.dispose();
    }
    return 0;
  },
};
