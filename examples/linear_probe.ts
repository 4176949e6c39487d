// Linear probing of a frozen pretrained encoder (SPEC 7): BatchNorm1d (no affine) + Linear head
// trained with LARS; only head.1.* changes. With `cacheFeatures` the encoder runs once over the
// (un-augmented) training and validation images and every step trains on the cached features,
// which makes long probes practical on a CPU.
//
//   npx tsc -p tsconfig.json && node dist/examples/linear_probe.js [CHECKPOINT] [DATA] [STEPS]
//
// Without arguments: the tiny official-format fixture checkpoint (224 px) on 64 synthetic images.
import * as path from 'path';

import { evaluate, linprobe, loadClassifier } from '../lib/index';
import { evalTransform } from '../lib/data/augment';
import { openDataset } from '../lib/train/datasets';
import { packageRoot } from '../lib/util/package_root';

async function main(): Promise<void> {
  const init = process.argv[2] ?? path.join(packageRoot, 'test', 'fixtures', 'pth', 'pretrain-tiny-normpix.checkpoint.pth');
  const data = process.argv[3] ?? 'synthetic';
  const steps = Number(process.argv[4] ?? 40);
  const small = process.argv[2] === undefined;
  const out = path.join('runs', 'example-linprobe');
  const r = await linprobe({
    init, data, steps, out, cacheFeatures: true,
    // LARS scales each update by 0.001·|w|/|g|: short probes need a large lr (MAE: blr 0.1 over 90 epochs at batch 4096).
    ...(small ? { batchSize: 16, limit: 64, valLimit: 32, blr: 50, evalEvery: 20, workers: 0 } : {}),
    onEpoch: (e) => console.log(`step ${e.step}: train loss ${e.trainLoss.toFixed(4)}, val top-1 ${e.eval.acc1.toFixed(2)}%`),
  });
  console.log(`best top-1 ${r.bestAcc1?.toFixed(2)}% -> ${r.best}`);
  // The library form of `convmae eval`: load the probe and evaluate it on the validation images.
  const model = loadClassifier(r.best!);
  try {
    const val = openDataset(data, { split: 'val', transform: evalTransform(model.config.imgSize), limit: small ? 32 : undefined });
    const ev = await evaluate(model, val, { batchSize: 16 });
    console.log(`evaluated ${model.constructor.name}: top-1 ${ev.acc1.toFixed(2)}%, top-5 ${ev.acc5.toFixed(2)}%, loss ${ev.loss.toFixed(4)} on ${ev.count} images`);
  } finally {
    model.dispose();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
