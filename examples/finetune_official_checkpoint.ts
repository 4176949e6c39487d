// Finetunes a classifier from an official ConvMAE pretraining checkpoint (.pth, read without
// running code from it) or from one of this package's .safetensors checkpoints, as SPEC 6:
// strict = false loading (decoder, fusion convs, mask token and `norm` ignored; exactly head.* and
// fc_norm.* missing, then re-initialised), AdamW with layer-wise lr decay, mixup/cutmix, label
// smoothing, drop path; evaluation on the validation split every epoch; best.safetensors.
//
//   npx tsc -p tsconfig.json && node dist/examples/finetune_official_checkpoint.js [CHECKPOINT] [DATA] [STEPS]
//
// Without arguments it uses the tiny official-format fixture test/fixtures/pth/pretrain-tiny-normpix.checkpoint.pth
// (224 px) on the synthetic shapes for a few steps. With ConvMAE-B (convmae_base.pth) give a GPU
// (device 'cuda' is picked when usable), an ImageNet-style folder as DATA and many more steps.
import * as path from 'path';

import { evaluateCheckpoint, finetune } from '../lib/index';
import { packageRoot } from '../lib/util/package_root';

async function main(): Promise<void> {
  const init = process.argv[2] ?? path.join(packageRoot, 'test', 'fixtures', 'pth', 'pretrain-tiny-normpix.checkpoint.pth');
  const data = process.argv[3] ?? 'synthetic';
  const steps = Number(process.argv[4] ?? 4);
  const small = process.argv[2] === undefined;
  const out = path.join('runs', 'example-finetune');
  const r = await finetune({
    init, data, steps, out,
    // Short settings for the fixture; the library defaults (batch 64, blr 5e-4, ...) otherwise.
    ...(small ? { batchSize: 4, limit: 16, valLimit: 8, evalEvery: 2, workers: 0 } : {}),
    onEpoch: (e) => console.log(`step ${e.step}: train loss ${e.trainLoss.toFixed(4)}, val top-1 ${e.eval.acc1.toFixed(2)}%, top-5 ${e.eval.acc5.toFixed(2)}%`),
  });
  console.log(`loaded ${init}: re-initialised ${r.init?.reinitialised.join(', ')}; ignored ${r.init?.ignored.length} keys`);
  console.log(`model: widths ${r.config.embedDim.join('/')}, depths ${r.config.depth.join('/')}, ${r.config.imgSize} px, ${r.config.numClasses} classes`);
  console.log(`best top-1 ${r.bestAcc1?.toFixed(2)}% -> ${r.best}`);
  // The best checkpoint is a standalone classifier: evaluate it again (eval.json in `out`).
  const ev = await evaluateCheckpoint({ init: r.best!, data, limit: small ? 8 : undefined, out });
  console.log(`re-evaluated: top-1 ${ev.acc1.toFixed(2)}% (${ev.correct1}/${ev.count}), loss ${ev.loss.toFixed(4)} -> ${ev.file}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
