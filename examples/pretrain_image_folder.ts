// Pretrains a ConvMAE on an image folder (class sub-folders, or train/ and val/ inside it; labels
// are not used), or, without an argument, runs a tiny pretraining on the built-in synthetic shapes.
//
//   npx tsc -p tsconfig.json && node dist/examples/pretrain_image_folder.js [FOLDER] [OUT] [EPOCHS]
//
// The tiny preset at 64 px is what a CPU trains in minutes; for the paper's ConvMAE-B use
// model: 'base', imgSize: 224, blr 1.5e-4, an effective batch of 1024+ and a GPU (device: 'cuda').
import * as path from 'path';

import { pretrain } from '../lib/index';

async function main(): Promise<void> {
  const folder = process.argv[2];
  const out = process.argv[3] ?? path.join('runs', 'example-pretrain');
  const common = { model: 'tiny', imgSize: 64, out, seed: 0, reconstructions: 4 } as const;
  const result = folder
    ? await pretrain({ ...common, data: folder, epochs: Number(process.argv[4] ?? 1), batchSize: 32, blr: 1.5e-4, saveEvery: 500 })
    // No folder: a few steps on 320 synthetic images, in-process data loading.
    : await pretrain({ ...common, data: 'synthetic', steps: 20, batchSize: 16, limit: 320, lr: 1.5e-3, workers: 0 });
  const [first, last] = [result.losses[0], result.losses[result.losses.length - 1]];
  console.log(`pretrained ${result.steps} steps on ${folder ?? 'synthetic shapes'}: loss ${first.toFixed(4)} -> ${last.toFixed(4)}`);
  console.log(`checkpoint: ${result.checkpoint}`);
  console.log(`pictures:   ${path.join(out, 'reconstructions.png')}, ${path.join(out, 'loss.png')}`);
  console.log(`next:       node dist/lib/cli/main.js finetune --init ${result.checkpoint} --data ${folder ?? 'synthetic'}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
