// Op timings at ConvMAE-B shapes (batch 128 by default, mask ratio 0.75: 49 kept tokens of 196),
// in the compute dtype the training step uses (bf16 on cuda; the loss and AdamW in float32), each
// beside the PyTorch op on the same shapes when a torch timing file is given.
//   node dist/bench/op_timings.js --plan FILE        write the case list (for bench/torch_ops.py)
//   node dist/bench/op_timings.js [--torch FILE]    time our ops, print the table (ratio = torch / ours)
// Options: --batch N (default 128), --device cuda|cpu (default cuda), --reps N (default 10),
// --only REGEX (cases whose name matches). On a sweep build (CONVMAE_GEMM_SWEEP=1, as
// bench/gpu-pack.sh builds it) running attention `mma`, the attention shapes come again with their
// warps a block forced (CONVMAE_ATTENTION_WARPS) to a count an H100 does not choose for both
// directions, so one run compares them.
// Two times per case, each divided by reps (after 2 warm-up calls):
//   wall:   host wall time around `reps` calls with one device synchronize before and after, so it
//           includes our launch and JS overhead (where the host is slower than the kernels, it is
//           the host's time);
//   device: on cuda, the device's own time for the same calls: the stream is held (cuda/timer.cu)
//           while the host queues them, and two events bracket the kernels, which then run back to
//           back. bench/torch_ops.py times PyTorch's ops the same way, so the ratios compare
//           kernels with kernels. A device time marked * was queued more slowly than the hold
//           lasted (the device then waited for the host too). On the CPU, device = wall.
import * as fs from 'fs';

import { backward, clearTape, noGrad, requireGrad } from '../lib/autograd/tape';
import { backends, kernels } from '../lib/backends';
import { native } from '../lib/binding';
import { Rng } from '../lib/data/rng';
import { preset } from '../lib/models/config';
import { ConvMAE } from '../lib/models/convmae';
import * as ops from '../lib/ops';
import { DType, DTYPE_BYTES } from '../lib/tensor/dtype';
import { Device } from '../lib/tensor/device';
import { keep, tidy } from '../lib/tensor/scope';
import { Tensor, tensor } from '../lib/tensor/tensor';
import { AdamW } from '../lib/train/optim';
import { pretrainParamGroups } from '../lib/train/param_groups';

export type OpCase =
  | { name: string; kind: 'gemm'; m: number; k: number; n: number; gelu: boolean }
  | { name: string; kind: 'mlp'; m: number; d: number; hidden: number }
  | { name: string; kind: 'layernorm'; rows: number; c: number }
  | { name: string; kind: 'gelu'; numel: number }
  | { name: string; kind: 'attention'; n: number; l: number; h: number; d: number; warps?: 4 | 8 }
  | { name: string; kind: 'dwconv'; n: number; c: number; g: number; kept: number; t: number }
  | { name: string; kind: 'loss'; n: number; tokens: number; dim: number }
  | { name: string; kind: 'adamw'; shapes: number[][] };

/**
 * The cases at batch b: the model's GEMMs (MxKxN), whole MLPs with their residual (fc1, GELU,
 * fc2, + x), norms, GELU, pretraining's two attentions and two depthwise convs, finetuning's stage-3
 * attention and stage-1 conv over every block, loss, AdamW. With `attentionWarps` (sweep builds:
 * CONVMAE_ATTENTION_WARPS), each attention again with its block's warp count forced to one an
 * H100 does not choose for both directions (cuda/attention_mma.cu; L196 h16 d32 takes 4 forward
 * and 8 backward, so it comes at both), so one run compares them.
 */
export function opCases(b: number, attentionWarps = false): OpCase[] {
  const r1 = b * 49 * 16, r2 = b * 49 * 4, r3 = b * 49, r4 = b * 196;
  const gemm = (name: string, m: number, k: number, n: number, gelu = false): OpCase => ({ name: `gemm ${name} ${m}x${k}x${n}${gelu ? '+gelu' : ''}`, kind: 'gemm', m, k, n, gelu });
  const m = new ConvMAE(preset('base'), { seed: 0 });
  const shapes = m.namedParameters().map(([, t]) => t.shape.slice());
  m.dispose();
  return [
    gemm('s1 fc1', r1, 256, 1024, true), gemm('s2 fc1', r2, 384, 1536, true), gemm('s3 qkv', r3, 768, 2304),
    gemm('s3 fc1', r3, 768, 3072, true), gemm('s3 fc2', r3, 3072, 768), gemm('dec fc1', r4, 512, 2048, true),
    gemm('dec pred', r4, 512, 768),
    // The fc1 products again without GELU (one output, as the cuBLAS figures of CUBLAS_H100 are).
    gemm('s1 fc1', r1, 256, 1024), gemm('s2 fc1', r2, 384, 1536), gemm('s3 fc1', r3, 768, 3072), gemm('dec fc1', r4, 512, 2048),
    { name: `mlp s1 ${r1}x256x1024 +res`, kind: 'mlp', m: r1, d: 256, hidden: 1024 },
    { name: `mlp s3 ${r3}x768x3072 +res`, kind: 'mlp', m: r3, d: 768, hidden: 3072 },
    { name: `mlp dec ${r4}x512x2048 +res`, kind: 'mlp', m: r4, d: 512, hidden: 2048 },
    { name: `layernorm ${r1}x256`, kind: 'layernorm', rows: r1, c: 256 },
    { name: `layernorm ${r4}x512`, kind: 'layernorm', rows: r4, c: 512 },
    { name: `gelu ${r4}x2048`, kind: 'gelu', numel: r4 * 2048 },
    { name: `attention L49 h12 d64`, kind: 'attention', n: b, l: 49, h: 12, d: 64 },
    { name: `attention L196 h16 d32`, kind: 'attention', n: b, l: 196, h: 16, d: 32 },
    { name: `dwconv5x5 C256 56x56`, kind: 'dwconv', n: b, c: 256, g: 14, kept: 49, t: 4 },
    { name: `dwconv5x5 C384 28x28`, kind: 'dwconv', n: b, c: 384, g: 14, kept: 49, t: 2 },
    // Finetuning's shapes where pretraining has none like them: stage-3 attention over all 196
    // tokens, and the stage-1 conv over every block (finetuning runs stages 1-2 dense).
    { name: `attention L196 h12 d64 (finetune)`, kind: 'attention', n: b, l: 196, h: 12, d: 64 },
    ...(attentionWarps ? [
      { name: `attention L49 h12 d64 (8 warps)`, kind: 'attention', n: b, l: 49, h: 12, d: 64, warps: 8 } as const,
      { name: `attention L196 h16 d32 (8 warps)`, kind: 'attention', n: b, l: 196, h: 16, d: 32, warps: 8 } as const,
      { name: `attention L196 h16 d32 (4 warps)`, kind: 'attention', n: b, l: 196, h: 16, d: 32, warps: 4 } as const,
      { name: `attention L196 h12 d64 (finetune, 4 warps)`, kind: 'attention', n: b, l: 196, h: 12, d: 64, warps: 4 } as const,
    ] : []),
    { name: `dwconv5x5 C256 56x56 all blocks (finetune)`, kind: 'dwconv', n: b, c: 256, g: 14, kept: 196, t: 4 },
    { name: `norm-pix loss ${b}x196x768`, kind: 'loss', n: b, tokens: 196, dim: 768 },
    { name: `adamw ${shapes.length} tensors`, kind: 'adamw', shapes },
    // Last, so that the card's clocks after this long product do not colour the cases above.
    gemm('square', 8192, 8192, 8192),
  ];
}

const POOL = (() => {
  const rng = new Rng(1);
  return Float32Array.from({ length: 1 << 20 }, () => rng.range(-1, 1));
})();

/** A tensor of uniform(-1, 1) values (tiled from a random pool, shifted per call: never zeros). */
let shift = 0;
export function rand(shape: number[], device: Device, dtype: DType): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const host = new Float32Array(n);
  shift = (shift + 7919) % POOL.length;
  for (let i = 0; i < n; i += POOL.length - shift) host.set(POOL.subarray(shift, Math.min(POOL.length, shift + n - i)), i);
  const f = tensor(host, shape, { device });
  if (dtype === 'float32') return f;
  const c = f.cast(dtype);
  f.dispose();
  return c;
}

/** Seconds per call on the host's wall clock (2 warm-up calls, then reps calls between two synchronizes). */
function wallTimeIt(fn: () => void, reps: number): number {
  for (let i = 0; i < 2; i++) fn();
  native.synchronize();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) fn();
  native.synchronize();
  return Number(process.hrtime.bigint() - t0) / 1e9 / reps;
}

/**
 * Seconds per call on the device's clock: the stream held for 1.5x the calls' wall time (plus 2
 * ms) while they are queued, then timed between events; hostBound where queuing outlasted the hold.
 */
function deviceTimeIt(fn: () => void, reps: number, wallSeconds: number): { seconds: number; hostBound: boolean } {
  const holdUs = Math.min(5e6, 1.5 * wallSeconds * reps * 1e6 + 2000);
  native.synchronize();
  native.timerBegin(holdUs);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) fn();
  const queuedUs = Number(process.hrtime.bigint() - t0) / 1e3;
  const ms = native.timerEnd();
  return { seconds: ms / 1e3 / reps, hostBound: queuedUs > holdUs };
}

/** The case's time per call (device clock on cuda, wall on the CPU) and its wall time. */
export function timeIt(fn: () => void, reps: number, device: Device): { seconds: number; wall: number; hostBound: boolean } {
  const wall = wallTimeIt(fn, reps);
  if (device !== 'cuda') return { seconds: wall, wall, hostBound: false };
  return { ...deviceTimeIt(fn, reps, wall), wall };
}

export interface OpTiming {
  name: string;
  /** Seconds per call on the device's clock (cuda; the CPU: wall), forward only and forward +
   *  backward (null where the op has no backward). */
  fwd: number;
  fwdBwd: number | null;
  /** The same on the host's wall clock (launch and JS overhead included). */
  fwdWall: number;
  fwdBwdWall: number | null;
  /** Where the device time includes waits for the host (queuing outlasted the hold). */
  hostBound: { fwd: boolean; fwdBwd: boolean };
  /** Work of one forward: floating-point operations (matrix ops) or bytes moved (the rest). */
  work: { flops?: number; bytes?: number };
}

/** Forward and forward+backward closures of one case (inputs made once, kept until dispose). */
export function buildCase(c: OpCase, device: Device, dt: DType): { fwd: () => void; fwdBwd: (() => void) | null; work: OpTiming['work']; dispose: () => void } {
  const grad = (t: Tensor) => requireGrad(keep(t));
  const inputs: Tensor[] = [];
  const mk = (shape: number[], dtype = dt, g = true) => {
    const t = g ? grad(rand(shape, device, dtype)) : keep(rand(shape, device, dtype));
    inputs.push(t);
    return t;
  };
  const both = (f: () => Tensor, cot: () => Tensor) => ({
    fwd: () => noGrad(() => tidy(() => { f(); })),
    fwdBwd: () => { tidy(() => { const y = f(); backward(y, cot()); }); for (const t of inputs) { t.grad?.dispose(); t.grad = null; } },
  });
  const dispose = () => inputs.forEach((t) => t.dispose());
  const bytes = DTYPE_BYTES[dt];
  switch (c.kind) {
    case 'gemm': {
      const x = mk([c.m, c.k]), w = mk([c.n, c.k]), b = mk([c.n]);
      const cot = mk([c.m, c.n], dt, false);
      return { ...both(() => ops.linear(x, w, b, { gelu: c.gelu }), () => cot), work: { flops: 2 * c.m * c.k * c.n }, dispose };
    }
    case 'mlp': {
      const x = mk([c.m, c.d]), w1 = mk([c.hidden, c.d]), b1 = mk([c.hidden]), w2 = mk([c.d, c.hidden]), b2 = mk([c.d]), r = mk([c.m, c.d]);
      const cot = mk([c.m, c.d], dt, false);
      return { ...both(() => ops.mlp(x, w1, b1, w2, b2, { residual: r }), () => cot), work: { flops: 4 * c.m * c.d * c.hidden }, dispose };
    }
    case 'layernorm': {
      const x = mk([c.rows, c.c]), w = mk([c.c]), b = mk([c.c]);
      const cot = mk([c.rows, c.c], dt, false);
      return { ...both(() => ops.layerNorm(x, w, b, 1e-6), () => cot), work: { bytes: 2 * c.rows * c.c * bytes }, dispose };
    }
    case 'gelu': {
      const x = mk([c.numel]);
      const cot = mk([c.numel], dt, false);
      return { ...both(() => ops.gelu(x), () => cot), work: { bytes: 2 * c.numel * bytes }, dispose };
    }
    case 'attention': {
      const qkv = mk([c.n, c.l, 3 * c.h * c.d]);
      const cot = mk([c.n, c.l, c.h * c.d], dt, false);
      return { ...both(() => ops.attention(qkv, c.h), () => cot), work: { flops: 4 * c.n * c.h * c.l * c.l * c.d }, dispose };
    }
    case 'dwconv': {
      const rows = c.n * c.kept * c.t * c.t;
      const x = mk([rows, c.c]), w = mk([c.c, 1, 5, 5]), b = mk([c.c]);
      const cot = mk([rows, c.c], dt, false);
      const cells = new Int32Array(c.n * c.kept);
      for (let s = 0; s < c.n; s++) {
        const perm = Array.from({ length: c.g * c.g }, (_, i) => i);
        for (let i = perm.length - 1; i > 0; i--) { const j = (i * 7919 + s * 104729) % (i + 1); [perm[i], perm[j]] = [perm[j], perm[i]]; }
        cells.set(perm.slice(0, c.kept), s * c.kept);
      }
      const layout = ops.makeVisibleLayout(cells, c.n, c.kept, c.g, device);
      keep(layout.cells); keep(layout.table);
      inputs.push(layout.cells, layout.table);
      return { ...both(() => ops.dwconvRows(x, w, b, layout, c.t), () => cot), work: { flops: 2 * 25 * rows * c.c }, dispose };
    }
    case 'loss': {
      const pred = mk([c.n, c.tokens, c.dim], 'float32'), target = mk([c.n, c.tokens, c.dim], 'float32', false);
      const mask = keep(tensor(Float32Array.from({ length: c.n * c.tokens }, (_, i) => (i % 4 ? 1 : 0)), [c.n * c.tokens], { device }));
      inputs.push(mask);
      return { ...both(() => ops.maskedMseLoss(pred, target, mask, true), () => keep(tensor([1], [], { device }))), work: { bytes: 2 * c.n * c.tokens * c.dim * 4 }, dispose };
    }
    case 'adamw': {
      const named = new Map(c.shapes.map((s, i) => {
        const p = keep(rand(s, device, 'float32'));
        p.grad = keep(rand(s, device, 'float32'));
        inputs.push(p, p.grad);
        return [`p${i}`, p] as [string, Tensor];
      }));
      const opt = new AdamW(named, pretrainParamGroups([...named].map(([name, t]) => ({ name, shape: t.shape }))), { beta1: 0.9, beta2: 0.95 });
      const numel = c.shapes.reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
      // Reads p, g, m, v and writes p, m, v: 7 float32 per element.
      return { fwd: () => opt.step(1e-4), fwdBwd: null, work: { bytes: 7 * 4 * numel }, dispose: () => { opt.dispose(); dispose(); } };
    }
  }
}

/** Whether the attention rows at forced warps apply: a sweep build running the mma attention kernels. */
const forcedAttentionWarps = () => backends().cuda.gemmSweep && kernels().attention === 'mma';

/** Runs fn with CONVMAE_ATTENTION_WARPS at `warps` (a sweep build's attention then uses that many
 *  warps a block); undefined leaves the kernel's own choice. */
export function withAttentionWarps<T>(warps: 4 | 8 | undefined, fn: () => T): T {
  if (warps === undefined) return fn();
  const old = process.env.CONVMAE_ATTENTION_WARPS;
  process.env.CONVMAE_ATTENTION_WARPS = String(warps);
  try {
    return fn();
  } finally {
    if (old === undefined) delete process.env.CONVMAE_ATTENTION_WARPS;
    else process.env.CONVMAE_ATTENTION_WARPS = old;
  }
}

/** Times every case on a device; failures become rows with NaN times and the message. */
export function timeOps(b: number, device: Device, reps: number, log: (s: string) => void = () => {}, only?: RegExp): (OpTiming & { error?: string })[] {
  const dt: DType = device === 'cuda' ? 'bfloat16' : 'float32';
  const out: (OpTiming & { error?: string })[] = [];
  for (const c of opCases(b, forcedAttentionWarps()).filter((x) => !only || only.test(x.name))) {
    let built: ReturnType<typeof buildCase> | null = null;
    try {
      built = buildCase(c, device, dt);
      const big = c.kind === 'gemm' && c.m * c.k * c.n > 1e11;
      const r = big ? Math.max(2, Math.floor(reps / 3)) : reps;
      const { fwd, fwdBwd } = withAttentionWarps(c.kind === 'attention' ? c.warps : undefined, () =>
        ({ fwd: timeIt(built!.fwd, r, device), fwdBwd: built!.fwdBwd ? timeIt(built!.fwdBwd, r, device) : null }));
      out.push({
        name: c.name, fwd: fwd.seconds, fwdBwd: fwdBwd?.seconds ?? null, fwdWall: fwd.wall, fwdBwdWall: fwdBwd?.wall ?? null,
        hostBound: { fwd: fwd.hostBound, fwdBwd: fwdBwd?.hostBound ?? false }, work: built.work,
      });
      const msOf = (t: { seconds: number; wall: number }) => `${(t.seconds * 1e3).toFixed(3)} ms (wall ${(t.wall * 1e3).toFixed(3)})`;
      log(`  ${c.name}: fwd ${msOf(fwd)}${fwdBwd ? `, fwd+bwd ${msOf(fwdBwd)}` : ''}`);
    } catch (e) {
      out.push({
        name: c.name, fwd: NaN, fwdBwd: NaN, fwdWall: NaN, fwdBwdWall: NaN, hostBound: { fwd: false, fwdBwd: false }, work: {},
        error: (e as Error).message.split('\n')[0],
      });
      log(`  ${c.name}: ${(e as Error).message.split('\n')[0]}`);
    } finally {
      built?.dispose();
      clearTape();
    }
  }
  return out;
}

/** PyTorch timings as bench/torch_ops.py writes them: { cases: { name: { fwd, fwd_bwd, variant? } } }. */
type TorchTimings = Record<string, { fwd: number; fwd_bwd: number | null; note?: string }>;

export function formatTable(rows: (OpTiming & { error?: string })[], torch: TorchTimings | null): string {
  const rate = (r: OpTiming, s: number | null) => {
    if (s === null || !Number.isFinite(s)) return '-';
    if (r.work.flops) return `${(r.work.flops / s / 1e12).toPrecision(3)} TF/s`;
    return `${(r.work.bytes! / s / 1e9).toPrecision(3)} GB/s`;
  };
  const ms = (s: number | null | undefined, hostBound = false) =>
    (s === null || s === undefined || !Number.isFinite(s) ? '-' : `${(s * 1e3).toFixed(3)}${hostBound ? '*' : ''}`);
  const ratio = (t: number | null | undefined, o: number | null) => (t && o && Number.isFinite(o) ? (t / o).toFixed(2) : '-');
  const lines = [['op', 'fwd ms', 'fwd rate', 'f+b ms', 'torch fwd', 'torch f+b', 'fwd x', 'f+b x', 'wall fwd', 'wall f+b'].join(' | ')];
  for (const r of rows) {
    const t = torch?.[r.name];
    lines.push([r.name, ms(r.fwd, r.hostBound.fwd), r.error ? r.error.slice(0, 60) : rate(r, r.fwd), ms(r.fwdBwd, r.hostBound.fwdBwd), ms(t?.fwd),
      ms(t?.fwd_bwd), ratio(t?.fwd, r.fwd), ratio(t?.fwd_bwd, r.fwdBwd), ms(r.fwdWall), ms(r.fwdBwdWall)].join(' | '));
  }
  return lines.join('\n');
}

/** Issue #5's cuBLAS bf16 GEMM rates on an H100 80GB HBM3 (TFLOP/s), by MxKxN. */
export const CUBLAS_H100: Record<string, number> = {
  '100352x256x1024': 506, '25088x384x1536': 510, '6272x768x2304': 582, '6272x768x3072': 607, '6272x3072x768': 691,
  '25088x512x2048': 611, '25088x512x768': 517, '8192x8192x8192': 770,
};

/** Our GEMM forward rates as a share of CUBLAS_H100, for the rows whose shape it lists (GELU rows
 *  write a second output, which the cuBLAS figures do not). Meaningful on an H100 80GB HBM3 only. */
export function formatCublasShare(rows: OpTiming[]): string {
  const lines = [['gemm forward', 'ours TF/s', 'cuBLAS TF/s (H100, issue #5)', 'share'].join(' | ')];
  for (const r of rows) {
    const shape = /^gemm .* (\d+x\d+x\d+)(\+gelu)?$/.exec(r.name);
    const ref = shape ? CUBLAS_H100[shape[1]] : undefined;
    if (!ref || !r.work.flops || !Number.isFinite(r.fwd)) continue;
    const ours = r.work.flops / r.fwd / 1e12;
    lines.push([r.name, ours.toPrecision(3), String(ref), `${((100 * ours) / ref).toFixed(0)}%`].join(' | '));
  }
  return lines.length > 1 ? lines.join('\n') : '';
}

function main(): void {
  const arg = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1] : undefined; };
  const b = Number(arg('batch') ?? 128);
  const plan = arg('plan');
  if (plan) {
    fs.writeFileSync(plan, JSON.stringify({ batch: b, cases: opCases(b, forcedAttentionWarps()) }));
    return;
  }
  const device = (arg('device') ?? 'cuda') as Device;
  const torchFile = arg('torch');
  const torch = torchFile && fs.existsSync(torchFile) ? (JSON.parse(fs.readFileSync(torchFile, 'utf8')).cases as TorchTimings) : null;
  const only = arg('only');
  const rows = timeOps(b, device, Number(arg('reps') ?? 10), (s) => console.log(s), only ? new RegExp(only) : undefined);
  const k = kernels();
  console.log(`\nops at ConvMAE-B shapes, batch ${b}, ${device === 'cuda' ? `bf16 (loss and AdamW float32), kernels gemm ${k.gemm}, attention ${k.attention}, layernorm ${k.layernorm}, dwconv ${k.dwconv}; ` +
    'ms on the device clock (* where it waited for the host), wall: the host\'s' : 'float32'}; x = torch time / ours (> 1: ours faster)`);
  console.log(formatTable(rows, torch));
  const share = device === 'cuda' && b === 128 ? formatCublasShare(rows) : '';
  if (share) console.log(`\nGEMM forward against issue #5's cuBLAS figures (an H100 80GB HBM3's; on another card only the torch columns above compare):\n${share}`);
}

if (require.main === module) main();
