// The GPU check, runnable with Node alone on the compiled JS (no npm, no dev dependencies):
//  1. every differentiable op on CUDA against the CPU op on fresh random float32 inputs: the
//     output and every input gradient within relative L2 1e-5;
//  2. the parity fixtures through the parity harness on device cuda (pure float32);
//  3. one tiny pretraining step on the GPU against the same step on the CPU (float32: loss and
//     gradients within 1e-4), and the bf16 step against it (the sanity bound of
//     test/models/precision.test.ts);
//  4. timings: the ConvMAE-B pretraining step (bf16 and float32) and the ConvViT-B finetuning step
//     (bf16), forward + backward + AdamW, images/s and peak memory, and the caching allocator's
//     driver calls across the steady steps; where CONVMAE_GEMM_AUTO is set and gemm is not auto,
//     the bf16 pretraining step on gemm auto too (what auto measured and picked is printed).
// Prints a short table last and exits 1 when a check fails.
// Run: node dist/bench/gpu_check.js [--quick] [--no-bench] [--one-family] [--other op=name,...] [--batch N]
//      [--devices cpu,cuda] (--devices cpu,cpu: a dry run on the CPU; --one-family: time the steps
//      on the chosen kernel families only, not also on the other set; --other: the other set is the
//      chosen one with just these families changed, e.g. the fast ones bench/fast_smoke.ts passed
//      over the older ones)
import * as fs from 'fs';
import * as path from 'path';

import { backward, clearTape, requireGrad } from '../lib/autograd/tape';
import { backends, gemmAutoChoices, kernels, setKernel } from '../lib/backends';
import { native } from '../lib/binding';
import { preset } from '../lib/models/config';
import { ConvMAE } from '../lib/models/convmae';
import { Precision } from '../lib/nn/precision';
import * as ops from '../lib/ops';
import { runParity } from '../lib/parity/parity';
import { Device } from '../lib/tensor/device';
import { memory, resetPeakMemory } from '../lib/tensor/memory';
import { tidy } from '../lib/tensor/scope';
import { Tensor, tensor } from '../lib/tensor/tensor';
import { packageRoot } from '../lib/util/package_root';
import { relL2 } from './compare';
import { withAuto } from './gemm_pick';
import { makeTrainStep, randn, StepKind, TrainStep } from './train_step';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const [ref, dev] = (arg('devices') ?? 'cpu,cuda').split(',') as [Device, Device];
const quick = process.argv.includes('--quick');
const rows: [string, string, string][] = [];
let failed = 0;
/** Adds a table row and prints it at once, so that a run cut short still shows what it reached. */
function addRow(row: [string, string, string]): void {
  rows.push(row);
  console.log(`  ${row.join(' | ')}`);
}

interface OpCase {
  name: string;
  inputs: { shape: number[]; grad: boolean; scale?: number }[];
  run: (xs: Tensor[], device: Device) => Tensor;
}

/** Output and input gradients of one op on one device (fixed inputs and cotangent). */
function evaluate(c: OpCase, device: Device, seed: number): Float32Array[] {
  return tidy(() => {
    const xs = c.inputs.map((inp, i) => {
      const t = tensor(randn(inp.shape.reduce((a, b) => a * b, 1), seed + i).map((v) => v * (inp.scale ?? 1)), inp.shape, { device });
      return inp.grad ? requireGrad(t) : t;
    });
    const out = c.run(xs, device);
    const cot = tensor(randn(out.numel, seed + 99), out.shape, { device });
    backward(out, cot);
    const res = [out.toFloat32Array(), ...xs.filter((_, i) => c.inputs[i].grad).map((x) => x.grad!.toFloat32Array())];
    xs.forEach((x) => { x.grad?.dispose(); x.grad = null; });
    return res;
  });
}

function layoutFor(device: Device, n: number, g: number, k: number, seed: number) {
  const cells = new Int32Array(n * k);
  for (let b = 0; b < n; b++) {
    const perm = Array.from({ length: g * g }, (_, i) => i).sort((x, y) => Math.sin(seed + b * 31 + x) - Math.sin(seed + b * 31 + y));
    cells.set(perm.slice(0, k), b * k);
  }
  return ops.makeVisibleLayout(cells, n, k, g, device);
}

const s = quick ? 1 : 4; // scale of the shapes
const CASES: OpCase[] = [
  { name: 'linear+gelu', inputs: [{ shape: [64 * s, 96], grad: true }, { shape: [160, 96], grad: true }, { shape: [160], grad: true }], run: ([x, w, b]) => ops.linear(x, w, b, { gelu: true }) },
  { name: 'layerNorm', inputs: [{ shape: [100 * s, 96], grad: true }, { shape: [96], grad: true }, { shape: [96], grad: true }], run: ([x, w, b]) => ops.layerNorm(x, w, b, 1e-6) },
  { name: 'gelu', inputs: [{ shape: [4096 * s], grad: true }], run: ([x]) => ops.gelu(x) },
  { name: 'attention L49 d64', inputs: [{ shape: [2 * s, 49, 3 * 2 * 64], grad: true }], run: ([x]) => ops.attention(x, 2) },
  { name: 'attention L196 d32', inputs: [{ shape: [s, 196, 3 * 4 * 32], grad: true }], run: ([x]) => ops.attention(x, 4) },
  { name: 'attention d128', inputs: [{ shape: [2, 17, 3 * 128], grad: true }], run: ([x]) => ops.attention(x, 1) },
  {
    name: 'dwconvRows t4', inputs: [{ shape: [2 * s * 5 * 16, 32], grad: true }, { shape: [32, 1, 5, 5], grad: true }, { shape: [32], grad: true }],
    run: ([x, w, b], d) => { const l = layoutFor(d, 2 * s, 4, 5, 1); return ops.dwconvRows(x, w, b, l, 4); },
  },
  { name: 'rowsToPatches', inputs: [{ shape: [3 * 16, 8], grad: true }], run: ([x]) => ops.rowsToPatches(x, 4, 2) },
  {
    name: 'gatherRows', inputs: [{ shape: [20, 12], grad: true }],
    run: ([x], d) => ops.gatherRows(x, tensor(Int32Array.from({ length: 37 }, (_, i) => (i * 7) % 20), [37], { dtype: 'int32', device: d })),
  },
  { name: 'maxPool2x2', inputs: [{ shape: [2, 8, 6, 6], grad: true }], run: ([x]) => ops.maxPool2x2(x) },
  {
    name: 'maskedMseLoss (norm-pix)', inputs: [{ shape: [2, 16, 48], grad: true }, { shape: [2, 16, 48], grad: false }],
    run: ([p, t], d) => ops.maskedMseLoss(p, t, tensor(Float32Array.from({ length: 32 }, (_, i) => (i % 4 ? 1 : 0)), [32], { device: d }), true),
  },
  {
    name: 'crossEntropy', inputs: [{ shape: [8, 10], grad: true }],
    run: ([z], d) => ops.crossEntropy(z, tensor(ops.softTargets([0, 1, 2, 3, 4, 5, 6, 7], 10, 0.1), [8, 10], { device: d })),
  },
  { name: 'meanTokens', inputs: [{ shape: [3, 9, 16], grad: true }], run: ([x]) => ops.meanTokens(x) },
];

function checkOps(): void {
  const seed = 1 + Math.floor(Math.random() * 1e6);
  for (const c of CASES) {
    try {
      const a = evaluate(c, ref, seed), b = evaluate(c, dev, seed);
      const worst = Math.max(...a.map((x, i) => relL2(b[i], x)));
      const ok = worst <= 1e-5;
      if (!ok) failed++;
      addRow([`op ${c.name}`, `rel L2 ${worst.toExponential(2)} (seed ${seed})`, ok ? 'ok' : 'FAIL']);
    } catch (e) {
      failed++;
      addRow([`op ${c.name}`, (e as Error).message.split('\n')[0].slice(0, 80), 'FAIL']);
    }
    clearTape();
  }
}

function checkParity(): void {
  const dir = path.join(packageRoot, 'test', 'fixtures', 'parity');
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.safetensors')).sort()) {
    try {
      const r = runParity(path.join(dir, f), { device: dev });
      if (!r.ok) failed++;
      addRow([`parity ${f.replace('.safetensors', '')}`, `worst fwd ${r.worstForward?.error.toExponential(2)}, grad ${r.worstGrad?.error.toExponential(2)}`, r.ok ? 'ok' : 'FAIL']);
    } catch (e) {
      failed++;
      addRow([`parity ${f}`, (e as Error).message.slice(0, 80), 'FAIL']);
    }
  }
}

function pretrainStep(model: ConvMAE, imgs: Float32Array, n: number, size: number, device: Device, noise: Float32Array): number {
  return tidy(() => {
    const out = model.forward({ imgs: tensor(imgs, [n, 3, size, size], { device }), noise });
    backward(out.loss);
    return out.loss.item();
  });
}

/** Loss and gradients of one tiny pretraining step on a device in a precision. */
function tinyStep(device: Device, precision: Precision) {
  const cfg = preset('tiny', { imgSize: 64 });
  const n = 4;
  const imgs = randn(n * 3 * 64 * 64, 5), noise = randn(n * 16, 6);
  const m = new ConvMAE(cfg, { seed: 7 });
  m.to(device);
  m.precision = precision;
  const loss = pretrainStep(m, imgs, n, 64, device, noise);
  const grads = new Map(m.namedParameters().map(([k, t]) => [k, t.grad!.toFloat32Array()]));
  m.dispose();
  return { loss, grads };
}

function stepError(a: ReturnType<typeof tinyStep>, b: ReturnType<typeof tinyStep>): { loss: number; grad: number } {
  let grad = 0;
  for (const [k, g] of a.grads) grad = Math.max(grad, relL2(b.grads.get(k)!, g));
  return { loss: Math.abs(b.loss - a.loss) / Math.abs(a.loss), grad };
}

function checkStep(): void {
  const r = tinyStep(ref, 'float32'), f = tinyStep(dev, 'float32');
  const e = stepError(r, f);
  const ok = Math.max(e.loss, e.grad) <= 1e-4;
  if (!ok) failed++;
  addRow(['tiny pretraining step float32', `loss ${f.loss.toFixed(5)} vs ${r.loss.toFixed(5)}; worst grad rel ${e.grad.toExponential(2)}`, ok ? 'ok' : 'FAIL']);
  if (dev !== 'cuda') return;
  // bf16 against the float32 reference: the sanity bound of test/models/precision.test.ts.
  const b = tinyStep(dev, 'bf16');
  const eb = stepError(r, b);
  const okb = eb.loss <= 0.02 && eb.grad <= 0.1;
  if (!okb) failed++;
  addRow(['tiny pretraining step bf16', `loss rel ${eb.loss.toExponential(2)}; worst grad rel ${eb.grad.toExponential(2)}`, okb ? 'ok' : 'FAIL']);
}

/** Images/s and peak memory of steady training steps of a base model (forward, backward, AdamW). */
function timeStepB(kind: StepKind, precision: Precision, batch: number): void {
  const steps = quick ? 2 : 5;
  let step: TrainStep | null = null;
  try {
    step = makeTrainStep(kind, dev, precision, batch);
    // Two warm-up steps: the first creates the optimizer state (taking blocks the step's
    // temporaries had cached), the second settles the cache.
    step.run(0);
    step.run(0);
    native.synchronize();
    const before = memory()[dev];
    resetPeakMemory(dev);
    const t0 = Date.now();
    for (let i = 0; i < steps; i++) step.run(i + 1);
    native.synchronize();
    const sec = (Date.now() - t0) / 1000;
    const after = memory()[dev];
    const k = kernels();
    const label = `${kind === 'pretrain' ? 'ConvMAE-B pretrain' : 'ConvViT-B finetune'} step b${batch} ${precision}` +
      (dev === 'cuda' ? ` ${k.gemm}/${k.attention}/${k.layernorm}/${k.dwconv}` : '');
    addRow([label, `${((batch * steps) / sec).toFixed(1)} img/s, peak ${(after.peakBytes / 2 ** 30).toFixed(2)} GiB`, 'info']);
    if (dev === 'cuda') {
      const allocs = (after.driverAllocs ?? 0) - (before.driverAllocs ?? 0);
      addRow([`cudaMalloc calls, ${steps} steady steps`, String(allocs), allocs === 0 ? 'ok' : 'FAIL']);
      if (allocs !== 0) failed++;
    }
  } catch (e) {
    failed++;
    addRow([`${kind} step b${batch} ${precision}`, (e as Error).message.split('\n')[0].slice(0, 80), 'FAIL']);
  } finally {
    clearTape();
    step?.dispose();
  }
}

/** Where a step ran on the gemm family auto: each kind of GEMM it timed, its candidates' best ms and its pick. */
function printGemmAutoChoices(): void {
  const choices = gemmAutoChoices();
  if (!choices.length) return;
  console.log(`\ngemm auto: ${choices.length} kinds of GEMM timed (best of 3 runs, ms on the device clock; * the pick)`);
  console.log(`${'problem'.padEnd(44)} ${choices[0].candidates.map((c) => c.padStart(10)).join(' ')}`);
  for (const c of choices) {
    const cells = c.candidates.map((name, i) => `${c.ms[i] === null ? 'failed' : c.ms[i]!.toFixed(4)}${name === c.pick ? '*' : ' '}`.padStart(10));
    console.log(`${c.problem.padEnd(44)} ${cells.join(' ')}`);
  }
}

function main(): void {
  const b = backends();
  if (dev === 'cuda' && !b.cuda.usable) {
    console.log(`gpu_check: CUDA is not usable here (${b.cuda.reason || 'not compiled'}); nothing to check.`);
    process.exitCode = 1;
    return;
  }
  console.log(`gpu_check: ${dev === 'cuda' ? `${b.cuda.name}, CUDA runtime ${b.cuda.runtimeVersion}, wgmma GEMM ${b.cuda.wgmma ? 'available' : 'not available'}` : 'dry run on the CPU'}; reference ${ref}`);
  checkOps();
  checkParity();
  checkStep();
  if (!process.argv.includes('--no-bench')) {
    const batch = Number(arg('batch') ?? (quick ? 8 : 128));
    const precisions: Precision[] = dev === 'cuda' ? ['bf16', 'float32'] : ['float32'];
    for (const p of precisions) timeStepB('pretrain', p, batch);
    timeStepB('finetune', precisions[0], batch);
    if (dev === 'cuda' && process.env.CONVMAE_GEMM_AUTO && kernels().gemm !== 'auto') {
      // The bf16 pretraining step on gemm auto over CONVMAE_GEMM_AUTO's kernels, beside the chosen gemm.
      withAuto(() => timeStepB('pretrain', 'bf16', batch));
    }
    if (dev === 'cuda' && !process.argv.includes('--one-family')) {
      // The same bf16 steps on the other kernel families (the older ones where the chosen are the
      // fast ones, else the fast ones), in the same run.
      // --other gemm=wgmma,layernorm=rows: the other set is the chosen one with just these.
      const chosen = kernels();
      const fast = (chosen.gemm === 'auto' || chosen.gemm === 'wgmma') && chosen.attention === 'mma' && chosen.layernorm === 'rows' && chosen.dwconv === 'cells';
      const other: [keyof typeof chosen, string][] = arg('other')
        ? arg('other')!.split(',').map((pair) => pair.split('=') as [keyof typeof chosen, string])
        : [['gemm', fast ? 'wmma' : 'auto'], ['attention', fast ? 'simt' : 'mma'], ['layernorm', fast ? 'warp' : 'rows'],
          ['dwconv', fast ? 'taps' : 'cells']];
      for (const [op, name] of other) setKernel(op, name as never);
      timeStepB('pretrain', 'bf16', batch);
      timeStepB('finetune', 'bf16', batch);
      for (const op of Object.keys(chosen) as (keyof typeof chosen)[]) setKernel(op, chosen[op] as never);
    }
  }
  printGemmAutoChoices();
  console.log(`\n${'check'.padEnd(44)} ${'result'.padEnd(60)} status`);
  for (const [a, r, st] of rows) console.log(`${a.padEnd(44)} ${r.padEnd(60)} ${st}`);
  console.log(failed ? `\n${failed} check(s) FAILED` : '\nall checks passed');
  // Hand cached blocks back so that a leak check sees only memory something still holds.
  native.emptyCache();
  process.exitCode = failed ? 1 : 0;
}

main();
