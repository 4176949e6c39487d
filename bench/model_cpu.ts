// CPU model benchmark (issue targets): forward + backward of the tiny fixture model at batch 2,
// and of ConvMAE-B at batch 1 (224 px, mask ratio 0.75), with time and peak memory.
// Run: npx tsc -p tsconfig.json && node dist/bench/model_cpu.js [--skip-base]
import { backward } from '../lib/autograd/tape';
import { backends } from '../lib/backends';
import { preset } from '../lib/models/config';
import { ConvMAE } from '../lib/models/convmae';
import { memory, resetPeakMemory } from '../lib/tensor/memory';
import { tidy } from '../lib/tensor/scope';
import { tensor } from '../lib/tensor/tensor';

function step(model: ConvMAE, n: number, size: number, reps: number): { ms: number[]; peakMiB: number; loss: number } {
  const imgs = Float32Array.from({ length: n * 3 * size * size }, (_, i) => Math.sin(i * 0.37));
  const ms: number[] = [];
  let loss = 0;
  resetPeakMemory('cpu');
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    loss = tidy(() => {
      const out = model.forward({ imgs: tensor(imgs, [n, 3, size, size]) });
      backward(out.loss);
      return out.loss.item();
    });
    model.zeroGrad();
    ms.push(performance.now() - t0);
  }
  return { ms, peakMiB: memory().cpu.peakBytes / 2 ** 20, loss };
}

function main(): void {
  const b = backends();
  console.log(`CPU: ${b.cpu.threads} threads`);
  const rows: string[][] = [];
  const tiny = new ConvMAE(preset('tiny', { imgSize: 224 }));
  const t = step(tiny, 2, 224, 5);
  rows.push(['tiny (fixture config), 224 px', '2', `${Math.min(...t.ms).toFixed(0)} ms`, `${t.peakMiB.toFixed(1)} MiB`]);
  tiny.dispose();
  if (!process.argv.includes('--skip-base')) {
    const base = new ConvMAE(preset('base'));
    const weights = memory().cpu.bytes / 2 ** 20;
    const r = step(base, 1, 224, 2);
    rows.push(['ConvMAE-B, 224 px', '1', `${Math.min(...r.ms).toFixed(0)} ms`, `${r.peakMiB.toFixed(0)} MiB (weights ${weights.toFixed(0)} MiB)`]);
    base.dispose();
  }
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log('\nforward + backward, float32 on the CPU');
  console.log(`${'model'.padEnd(32)} ${'batch'.padEnd(6)} ${'best time'.padEnd(10)} peak tensor memory`);
  for (const row of rows) console.log(`${row[0].padEnd(32)} ${row[1].padEnd(6)} ${row[2].padEnd(10)} ${row[3]}`);
  console.log(`process peak RSS: ${rss.toFixed(0)} MiB`);
}

main();
