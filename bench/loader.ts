// Data-loader throughput benchmark (images/s of the loader alone, no model).
//
// Usage, after `npx tsc -p tsconfig.json`:  node dist/bench/loader.js [imageFolderRoot]
// Measures the procedural set at 224 px and 64 px with the pretraining transform (render,
// RandomResizedCrop bicubic, flip, normalise), in-process and with 2 worker threads, and an
// ImageFolder root when one is given (pretraining transform at 224 px, decoded by sharp).

import * as os from 'node:os';
import { performance } from 'node:perf_hooks';
import { DataLoader } from '../lib/data/loader';
import { SyntheticShapes } from '../lib/data/synthetic';
import { ImageFolder } from '../lib/data/image_folder';
import { pretrainTransform } from '../lib/data/augment';
import type { Dataset } from '../lib/data/types';

async function measure(name: string, ds: Dataset, batchSize: number, workers: number, batches: number): Promise<number> {
  const loader = new DataLoader(ds, { batchSize, workers, seed: 0 });
  try {
    await loader.next(); // warm-up: thread start, JIT
    const used = loader.workers;
    const t0 = performance.now();
    let n = 0;
    for (let i = 0; i < batches; i++) n += (await loader.next()).size;
    const rate = n / ((performance.now() - t0) / 1000);
    console.log(`${name.padEnd(34)} batch ${String(batchSize).padStart(3)}  workers ${used}  ${rate.toFixed(1).padStart(8)} images/s`);
    return rate;
  } finally {
    await loader.close();
  }
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'})`);
  const big = new SyntheticShapes({ length: 4096, transform: pretrainTransform(224) });
  const small = new SyntheticShapes({ length: 8192, transform: pretrainTransform(64) });
  for (const workers of [0, 2]) await measure('synthetic 224 px (pretrain aug)', big, 32, workers, 8);
  for (const workers of [0, 2]) await measure('synthetic 64 px (pretrain aug)', small, 128, workers, 10);
  const root = process.argv[2];
  if (root) {
    const folder = await ImageFolder.open(root, { transform: pretrainTransform(224) });
    console.log(`image folder ${folder.index.root}: ${folder.length} images, ${folder.numClasses} classes`);
    const batches = Math.max(1, Math.min(10, Math.floor(folder.length / 32) - 1));
    for (const workers of [0, 2]) await measure('image folder 224 px (pretrain aug)', folder, 32, workers, batches);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
