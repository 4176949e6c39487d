// Picks the fastest of the given gemm kernel families on this card, for bench/gpu-check.sh to time
// the step with: each family runs the MLP cases of bench/op_timings.ts (fc1 with GELU, fc2 with
// the residual, forward and backward: every GEMM form the model uses) and the stage-3 qkv GEMM at
// batch 128, and the lowest total forward+backward time wins.
//   node dist/bench/gemm_pick.js wgmma,mma [--batch N] [--reps N]
// Prints a line per family, then "gemm_pick: NAME" last (the first family where none ran).
import { kernels, setKernel, type KernelChoices } from '../lib/backends';
import { timeOps } from './op_timings';

const CASES = /^(mlp |gemm s3 qkv)/;

function main(): void {
  const arg = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1] : undefined; };
  const families = (process.argv[2] ?? '').split(',').filter(Boolean) as KernelChoices['gemm'][];
  if (!families.length || process.argv[2].startsWith('--')) throw new RangeError('gemm_pick: expected the gemm families to compare, e.g. wgmma,mma');
  const batch = Number(arg('batch') ?? 128), reps = Number(arg('reps') ?? 5);
  const before = kernels().gemm;
  let best: { family: string; seconds: number } | null = null;
  for (const family of families) {
    setKernel('gemm', family);
    const rows = timeOps(batch, 'cuda', reps, () => {}, CASES);
    const failed = rows.find((r) => r.error || r.fwdBwd === null || !Number.isFinite(r.fwdBwd));
    const seconds = failed ? NaN : rows.reduce((s, r) => s + r.fwdBwd!, 0);
    console.log(`  gemm ${family.padEnd(6)} ${failed ? `failed: ${failed.error ?? 'no time'}` : `${(seconds * 1e3).toFixed(3)} ms forward+backward over ${rows.length} cases`}`);
    if (!failed && (!best || seconds < best.seconds)) best = { family, seconds };
  }
  setKernel('gemm', before);
  console.log(`gemm_pick: ${best ? best.family : families[0]}`);
}

if (require.main === module) main();
