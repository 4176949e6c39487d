// Representation quality on Fashion-MNIST (issue: training quality study). Pretrains a small
// ConvMAE on the 60k training images without labels, then linear-probes frozen features on the
// 60k training labels and reports top-1 on the 10k test images, beside the same probe on a
// randomly initialised encoder and a logistic regression on the raw 28x28 pixels. Needs the idx
// files of Debian's dataset-fashion-mnist package (or CONVMAE_FASHION_MNIST).
// Run: npx tsc -p tsconfig.json && node dist/bench/fashion_quality.js [--pretrain-steps N] [--out DIR]
import * as fs from 'fs';
import * as path from 'path';

import { backward, requireGrad } from '../lib/autograd/tape';
import { backends, defaultDevice } from '../lib/backends';
import { loadFashionMnistArrays } from '../lib/data/fashion_mnist';
import { Rng } from '../lib/data/rng';
import { ConvMAEConfig } from '../lib/models/config';
import { linear } from '../lib/ops/linear';
import { crossEntropy, softTargets } from '../lib/ops/losses';
import { tidy, keep } from '../lib/tensor/scope';
import { Tensor, tensor, zeros } from '../lib/tensor/tensor';
import { linprobe } from '../lib/train/linprobe';
import { AdamW } from '../lib/train/optim';
import { pretrain } from '../lib/train/pretrain';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const out = (() => {
  const i = process.argv.indexOf('--out');
  return i >= 0 ? process.argv[i + 1] : 'runs/fashion-quality';
})();
const imgSize = flag('img-size', 32);
const pretrainSteps = flag('pretrain-steps', 2000);
const probeEpochs = flag('probe-epochs', 30);
const probeBlr = flag('probe-blr', 4);
const device = defaultDevice();
const config: Partial<ConvMAEConfig> = {
  embedDim: [32, 64, 128], depth: [1, 1, 2], mlpRatio: [4, 4, 4], numHeads: 4,
  decoderDim: 64, decoderDepth: 1, decoderHeads: 4, decoderMlpRatio: 4, dropPath: 0,
};

/** Softmax regression on standardised raw pixels, trained with AdamW through the package's ops. */
function rawPixelLogistic(epochs: number): number {
  const train = loadFashionMnistArrays(undefined, 'train');
  const test = loadFashionMnistArrays(undefined, 'test');
  const d = train.rows * train.cols;
  const toX = (a: typeof train) => Float32Array.from(a.images, (v) => (v / 255 - 0.2860) / 0.3530);
  const xtr = toX(train), xte = toX(test);
  const w = keep(zeros([10, d]));
  const b = keep(zeros([10]));
  requireGrad(w);
  requireGrad(b);
  const opt = new AdamW(new Map([['w', w], ['b', b]]), [{ name: 'all', params: ['w', 'b'], weightDecay: 1e-4, lrScale: 1 }]);
  const bs = 256, steps = Math.floor(train.count / bs);
  const rng = new Rng(0);
  for (let e = 0; e < epochs; e++) {
    const order = rng.permutation(train.count);
    for (let s = 0; s < steps; s++) {
      const xb = new Float32Array(bs * d);
      const yb: number[] = [];
      for (let i = 0; i < bs; i++) {
        const idx = order[s * bs + i];
        xb.set(xtr.subarray(idx * d, (idx + 1) * d), i * d);
        yb.push(train.labels[idx]);
      }
      tidy(() => backward(crossEntropy(linear(tensor(xb, [bs, d]), w, b), tensor(softTargets(yb, 10), [bs, 10]))));
      opt.step(1e-3 * 0.5 * (1 + Math.cos((Math.PI * (e * steps + s)) / (epochs * steps))));
      w.grad?.dispose(); b.grad?.dispose();
      w.grad = null; b.grad = null;
    }
  }
  const logits = tidy(() => linear(tensor(xte, [test.count, d]), w, b).toFloat32Array());
  let correct = 0;
  for (let i = 0; i < test.count; i++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
    if (best === test.labels[i]) correct++;
  }
  [w, b].forEach((t: Tensor) => t.dispose());
  opt.dispose();
  return (100 * correct) / test.count;
}

async function main(): Promise<void> {
  fs.mkdirSync(out, { recursive: true });
  const b = backends();
  const where = device === 'cuda' ? `cuda (${b.cuda.name})` : `cpu (${b.cpu.threads} threads)`;
  console.log(`Fashion-MNIST quality study on ${where}; images ${imgSize} px; model ${JSON.stringify(config)}`);
  const times: Record<string, number> = {};
  let t = Date.now();
  const pre = await pretrain({
    data: 'fashion-mnist', model: 'tiny', imgSize, config, batchSize: 128, steps: pretrainSteps, lr: 1.5e-3,
    warmupSteps: Math.round(pretrainSteps / 20), out: path.join(out, 'pretrain'), device, seed: 0, workers: 2, reconstructions: 8,
  });
  times.pretrain = (Date.now() - t) / 1000;
  const probe = { data: 'fashion-mnist', imgSize, batchSize: 256, epochs: probeEpochs, blr: probeBlr, cacheFeatures: true, device, seed: 0, workers: 2, evalEvery: 0 };
  t = Date.now();
  const pretrained = await linprobe({ ...probe, init: pre.checkpoint, out: path.join(out, 'probe-pretrained') });
  times.probePretrained = (Date.now() - t) / 1000;
  t = Date.now();
  const random = await linprobe({ ...probe, model: 'tiny', config, out: path.join(out, 'probe-random') });
  times.probeRandom = (Date.now() - t) / 1000;
  t = Date.now();
  const pixels = rawPixelLogistic(10);
  times.pixels = (Date.now() - t) / 1000;
  const acc = (r: { lastEval: { acc1: number } | null }) => r.lastEval?.acc1 ?? NaN;
  const rows = [
    ['ConvMAE pretrained encoder, linear probe', acc(pretrained)],
    ['random encoder, same probe', acc(random)],
    ['logistic regression on raw pixels', pixels],
  ] as const;
  console.log(`\npretraining: ${pretrainSteps} steps x 128 images, loss ${pre.losses[0].toFixed(3)} -> ${pre.losses[pre.losses.length - 1].toFixed(3)}`);
  console.log(`probes: ${probeEpochs} epochs of LARS (blr ${probeBlr}, batch 256) on cached features of the 60k training images\n`);
  console.log(`${'method'.padEnd(44)} test top-1 (10k)`);
  for (const [name, a] of rows) console.log(`${name.padEnd(44)} ${a.toFixed(2)}%`);
  console.log(`\npretrained - random: ${(acc(pretrained) - acc(random)).toFixed(2)} points`);
  console.log(`time (s): ${Object.entries(times).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}; total ${Object.values(times).reduce((x, y) => x + y, 0).toFixed(0)}`);
  fs.writeFileSync(path.join(out, 'results.json'), JSON.stringify({ device: where, imgSize, config, pretrainSteps, probeEpochs, probeBlr, results: Object.fromEntries(rows), times }, null, 2));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
