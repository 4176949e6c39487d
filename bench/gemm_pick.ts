// Picks the fastest of the given gemm kernel families on this card, for bench/gpu-check.sh to time
// the step with: each family runs the MLP cases of bench/op_timings.ts (fc1 with GELU, fc2 with
// the residual, forward and backward: every GEMM form the model uses) and the stage-3 qkv GEMM at
// batch 128, and the lowest total forward+backward time wins. A candidate `family:N` is that
// family's tiling N of a sweep build (bench/gemm_tilings.ts: e.g. tma:4, the persistent
// ping-pong kernel); `auto` is the gemm family auto (each GEMM on the fastest of the kernels
// CONVMAE_GEMM_AUTO lists, timed on its first call, which timeOps' warm-up call makes).
//   node dist/bench/gemm_pick.js wgmma,tma,tma:4,mma,auto [--batch N] [--reps N]
// Prints a line per candidate, then "gemm_pick: NAME" last (the first candidate where none ran).
import { backends, kernels, setKernel, type KernelChoices } from '../lib/backends';
import { withTiling } from './gemm_sweep';
import { type GemmFamily, TILINGS } from './gemm_tilings';
import { timeOps } from './op_timings';

const CASES = /^(mlp |gemm s3 qkv)/;

/** A candidate's family and tiling (0 where none is named; auto has none), or a RangeError naming it. */
export function parseCandidate(name: string): { family: KernelChoices['gemm']; tiling: number } {
  if (name === 'auto') return { family: 'auto', tiling: 0 };
  const [family, tiling = '0', ...rest] = name.split(':');
  const known = TILINGS[family as GemmFamily];
  const t = Number(tiling);
  if (!known || rest.length || !/^\d+$/.test(tiling) || t >= known.count) {
    throw new RangeError(`gemm_pick: expected a gemm family (${Object.keys(TILINGS).join(', ')}), family:tiling or auto, but got ${name}`);
  }
  if (t > 0 && !backends().cuda.gemmSweep) throw new RangeError(`gemm_pick: ${name} needs an addon built with CONVMAE_GEMM_SWEEP=1`);
  return { family: family as KernelChoices['gemm'], tiling: t };
}

/** Runs `fn` on the gemm family auto, restoring the family. */
export function withAuto<T>(fn: () => T): T {
  const before = kernels().gemm;
  setKernel('gemm', 'auto');
  try {
    return fn();
  } finally {
    setKernel('gemm', before);
  }
}

function main(): void {
  const arg = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1] : undefined; };
  const names = (process.argv[2] ?? '').split(',').filter(Boolean);
  if (!names.length || process.argv[2].startsWith('--')) throw new RangeError('gemm_pick: expected the gemm families to compare, e.g. wgmma,mma');
  const candidates = names.map((name) => ({ name, ...parseCandidate(name) }));
  const batch = Number(arg('batch') ?? 128), reps = Number(arg('reps') ?? 5);
  let best: { name: string; seconds: number } | null = null;
  for (const { name, family, tiling } of candidates) {
    const time = () => timeOps(batch, 'cuda', reps, () => {}, CASES);
    const rows = family === 'auto' ? withAuto(time) : withTiling(family, tiling, time);
    const failed = rows.find((r) => r.error || r.fwdBwd === null || !Number.isFinite(r.fwdBwd));
    const seconds = failed ? NaN : rows.reduce((s, r) => s + r.fwdBwd!, 0);
    console.log(`  gemm ${name.padEnd(6)} ${failed ? `failed: ${failed.error ?? 'no time'}` : `${(seconds * 1e3).toFixed(3)} ms forward+backward over ${rows.length} cases`}`);
    if (!failed && (!best || seconds < best.seconds)) best = { name, seconds };
  }
  console.log(`gemm_pick: ${best ? best.name : names[0]}`);
}

if (require.main === module) main();
