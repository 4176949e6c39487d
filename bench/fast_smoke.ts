// A quick first look at the fast CUDA kernel families (gemm wgmma, attention mma, layernorm
// rows, dwconv cells) and at the alternative gemm families (tma, mma): each runs forward and
// backward once on small bf16 problems, compared with the CPU in float32 on the same bf16-rounded
// inputs. A smoke check, not the tests (those hold every shape
// to the per-op rule): it exists so that a GPU run learns in seconds, under a short timeout,
// whether these kernels run at all (a hang or a fault here means the run should leave them out).
// The last lines name the fast families whose every case passed ("fast_smoke passing:
// gemm=wgmma,...", or "none"), which bench/gpu-check.sh keeps for the rest of its run, and the
// alternatives that passed ("fast_smoke passing alternatives: gemm=mma", or "none").
// Where a gemm case fails, the index probe of bench/gemm_probe.ts follows: which input element
// each wrong output element was read from.
// The passing lines name only families some case ran for.
//   node dist/bench/fast_smoke.js        prints a line per case, exits 1 when one is off
//   node dist/bench/fast_smoke.js --cases REGEX   only the cases whose names match (gpu-check.sh
//                                        runs the tma ones apart: a hang there loses only them)
//   node dist/bench/fast_smoke.js --dry-run   the CPU against itself (checks the script, not a GPU)
import { backward, requireGrad } from '../lib/autograd/tape';
import { backends, setKernel } from '../lib/backends';
import { native } from '../lib/binding';
import * as ops from '../lib/ops';
import { makeVisibleLayout, type VisibleLayout } from '../lib/ops/visible_layout';
import { Device } from '../lib/tensor/device';
import { tidy } from '../lib/tensor/scope';
import { Tensor, tensor } from '../lib/tensor/tensor';
import { relL2 } from './compare';
import { probeGemm } from './gemm_probe';
import { randn } from './train_step';

interface Case {
  name: string;
  inputs: number[][];
  run: (xs: Tensor[]) => Tensor;
  /** Names of the output and of each input's gradient, for the breakdown of a failure. */
  parts: string[];
  /** The family of the case's op when it is an alternative, not the fast one (FAST). */
  alternative?: string;
}

/** The fast family of each op under check; each case's name starts with its op. */
const FAST = { gemm: 'wgmma', attention: 'mma', layernorm: 'rows', dwconv: 'cells' } as const;
type FastOp = keyof typeof FAST;
/** "op=family" of a case: its alternative family, else the fast one. */
const familyOf = (c: Case) => `${c.name.split(' ')[0]}=${c.alternative ?? FAST[c.name.split(' ')[0] as FastOp]}`;

const QKV = ['out', 'dqkv'], DW = ['y', 'dx', 'dweight', 'dbias'];

/** k visible cells of a g x g grid per sample (every other cell, shifted by the sample), on x's device. */
function smokeLayout(n: number, k: number, g: number, x: Tensor): VisibleLayout {
  const cells = Int32Array.from({ length: n * k }, (_, i) => (2 * (i % k) + Math.floor(i / k)) % (g * g));
  return makeVisibleLayout(cells, n, k, g, x.device);
}
const CASES: Case[] = [
  { name: 'gemm wgmma x·Wᵀ+b (and dX = dY·W, dW = dYᵀ·X)', inputs: [[200, 192], [320, 192], [320]], run: ([x, w, b]) => ops.linear(x, w, b), parts: ['y', 'dx', 'dW', 'db'] },
  { name: 'gemm wgmma MLP (GELU and gelu\' epilogues)', inputs: [[136, 64], [256, 64], [256], [64, 256], [64]], run: ([x, w1, b1, w2, b2]) => ops.mlp(x, w1, b1, w2, b2), parts: ['y', 'dx', 'dW1', 'db1', 'dW2', 'db2'] },
  { name: 'gemm mma x·Wᵀ+b (and dX = dY·W, dW = dYᵀ·X)', inputs: [[200, 192], [320, 192], [320]], run: ([x, w, b]) => ops.linear(x, w, b), parts: ['y', 'dx', 'dW', 'db'], alternative: 'mma' },
  { name: 'gemm mma MLP (GELU and gelu\' epilogues)', inputs: [[136, 64], [256, 64], [256], [64, 256], [64]], run: ([x, w1, b1, w2, b2]) => ops.mlp(x, w1, b1, w2, b2), parts: ['y', 'dx', 'dW1', 'db1', 'dW2', 'db2'], alternative: 'mma' },
  { name: 'gemm tma x·Wᵀ+b (and dX = dY·W, dW = dYᵀ·X)', inputs: [[200, 192], [320, 192], [320]], run: ([x, w, b]) => ops.linear(x, w, b), parts: ['y', 'dx', 'dW', 'db'], alternative: 'tma' },
  // enough tiles that a persistent tiling (a sweep build's CONVMAE_TMA_TILE=4-7) takes several a block on 132 SMs
  { name: 'gemm tma x·Wᵀ+b over 585 tiles (8200x256 by 1032)', inputs: [[8200, 256], [1032, 256], [1032]], run: ([x, w, b]) => ops.linear(x, w, b), parts: ['y', 'dx', 'dW', 'db'], alternative: 'tma' },
  { name: 'gemm tma MLP (GELU and gelu\' epilogues)', inputs: [[136, 64], [256, 64], [256], [64, 256], [64]], run: ([x, w1, b1, w2, b2]) => ops.mlp(x, w1, b1, w2, b2), parts: ['y', 'dx', 'dW1', 'db1', 'dW2', 'db2'], alternative: 'tma' },
  { name: 'attention mma L49 h2 d64', inputs: [[2, 49, 3 * 2 * 64]], run: ([q]) => ops.attention(q, 2), parts: QKV },
  { name: 'attention mma L196 h2 d32', inputs: [[2, 196, 3 * 2 * 32]], run: ([q]) => ops.attention(q, 2), parts: QKV },
  { name: 'attention mma L50 h1 d80', inputs: [[1, 50, 3 * 80]], run: ([q]) => ops.attention(q, 1), parts: QKV },
  { name: 'layernorm rows C768', inputs: [[64, 768], [768], [768]], run: ([x, w, b]) => ops.layerNorm(x, w, b, 1e-6), parts: ['y', 'dx', 'dgamma', 'dbeta'] },
  { name: 'dwconv cells 5x5 t4 C64', inputs: [[2 * 10 * 16, 64], [64, 1, 5, 5], [64]], run: ([x, w, b]) => ops.dwconvRows(x, w, b, smokeLayout(2, 10, 5, x), 4), parts: DW },
  { name: 'dwconv cells 3x3 t2 C96', inputs: [[2 * 7 * 4, 96], [96, 1, 3, 3], [96]], run: ([x, w, b]) => ops.dwconvRows(x, w, b, smokeLayout(2, 7, 4, x), 2), parts: DW },
];

/** "0-15, 32, 48-63" for sorted indices (at most `limit` ranges, then "..."). */
export function ranges(idx: number[], limit = 6): string {
  const out: string[] = [];
  for (let i = 0; i < idx.length && out.length <= limit; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1] === idx[j] + 1) j++;
    out.push(i === j ? `${idx[i]}` : `${idx[i]}-${idx[j]}`);
    i = j + 1;
  }
  return out.length > limit ? `${out.slice(0, limit).join(', ')}, ...` : out.join(', ');
}

/** Per part: its error and the rows (all dims but the last; for dqkv the q, k and v thirds
 *  apart) whose own relative error passes 5%, so a failure shows which tile or fragment is off. */
export function breakdown(parts: string[], shapes: number[][], gpu: Float32Array[], cpu: Float32Array[]): string[] {
  const lines: string[] = [];
  parts.forEach((name, i) => {
    const width = shapes[i][shapes[i].length - 1] ?? 1;
    const pieces = name === 'dqkv' ? ['dq', 'dk', 'dv'].map((n, t) => ({ n, lo: (t * width) / 3, hi: ((t + 1) * width) / 3 })) : [{ n: name, lo: 0, hi: width }];
    for (const { n, lo, hi } of pieces) {
      const bad: number[] = [];
      const rows = cpu[i].length / width, w = hi - lo;
      const got = new Float32Array(rows * w), want = new Float32Array(rows * w);
      for (let r = 0; r < rows; r++) {
        got.set(gpu[i].subarray(r * width + lo, r * width + hi), r * w);
        want.set(cpu[i].subarray(r * width + lo, r * width + hi), r * w);
        if (relL2(got.subarray(r * w, (r + 1) * w), want.subarray(r * w, (r + 1) * w)) > 5e-2) bad.push(r);
      }
      const e = relL2(got, want);
      lines.push(`${n}: rel L2 ${e.toExponential(2)}${bad.length ? `, ${bad.length}/${rows} rows off: ${ranges(bad)}` : ''}`);
    }
  });
  return lines;
}

/** Output and input gradients of a case on a device: bf16 on cuda, float32 on the CPU. */
function evaluate(c: Case, device: Device, seed: number): { values: Float32Array[]; shapes: number[][] } {
  return tidy(() => {
    const xs = c.inputs.map((shape, i) => {
      const f = tensor(randn(shape.reduce((p, q) => p * q, 1), seed + i), shape);
      // the CPU starts from the same bf16-rounded values
      const r = f.cast('bfloat16').cast('float32');
      return requireGrad(device === 'cuda' ? r.to('cuda').cast('bfloat16') : r);
    });
    const y = c.run(xs);
    const dy = tensor(randn(y.numel, seed + 50), y.shape).cast('bfloat16').cast('float32').to(device).cast(y.dtype);
    backward(y, dy);
    const values = [y, ...xs.map((x) => x.grad!)].map((t) => t.toFloat32Array());
    xs.forEach((x) => x.grad!.dispose());
    return { values, shapes: [[...y.shape], ...c.inputs] };
  });
}

function main(): void {
  const b = backends().cuda;
  const dry = process.argv.includes('--dry-run');
  const dev: Device = dry ? 'cpu' : 'cuda';
  const i = process.argv.indexOf('--cases');
  if (i >= 0 && !process.argv[i + 1]) throw new RangeError('fast_smoke: --cases needs a regular expression');
  const pattern = i >= 0 ? new RegExp(process.argv[i + 1]) : null;
  const cases = CASES.filter((c) => !pattern || pattern.test(c.name));
  if (!cases.length) throw new RangeError(`fast_smoke: no case matches --cases ${process.argv[i + 1]}`);
  if (!dry && !b.usable) {
    console.log(`fast_smoke: CUDA is not usable here (${b.reason || 'not compiled'})`);
    process.exitCode = 1;
    return;
  }
  if (dry) console.log('fast_smoke: dry run, the CPU against itself');
  else {
    for (const op of Object.keys(FAST) as FastOp[]) setKernel(op, FAST[op]);
    console.log(`fast_smoke: ${b.name}, wgmma GEMM ${b.wgmma ? 'available' : 'NOT available (the gemm wgmma cases run mma)'}`);
  }
  let failed = 0;
  const failedFamilies = new Set<string>();  // "op=family"
  for (const c of cases) {
    const family = familyOf(c);
    const [op, name] = family.split('=') as [FastOp, string];
    if (!dry) setKernel(op, name as never);
    const t0 = Date.now();
    try {
      const want = evaluate(c, 'cpu', 7), cpu = want.values, gpu = evaluate(c, dev, 7).values;
      native.synchronize();
      // bf16 outputs and gradients: ~2^-9 per element; 1e-2 is far from any real mistake's size
      const worst = Math.max(...cpu.map((want, i) => relL2(gpu[i], want)));
      const ok = worst <= 1e-2;
      if (!ok) {
        failed++;
        failedFamilies.add(family);
      }
      console.log(`  ${c.name.padEnd(48)} worst rel L2 ${worst.toExponential(2)}  ${Date.now() - t0} ms  ${ok ? 'ok' : 'FAIL'}`);
      if (!ok) for (const line of breakdown(c.parts, want.shapes, gpu, cpu)) console.log(`      ${line}`);
    } catch (e) {
      failed++;
      failedFamilies.add(family);
      console.log(`  ${c.name.padEnd(48)} ${(e as Error).message.split('\n')[0]}  FAIL`);
    } finally {
      if (!dry) setKernel(op, FAST[op] as never);
    }
  }
  for (const family of [...failedFamilies].filter((f) => f.startsWith('gemm='))) {
    // Where the wrong GEMM reads from, for the next fix (bench/gemm_probe.ts).
    console.log(`  ${family} probe (identity times an index matrix; ok rows left out):`);
    try {
      if (!dry) setKernel('gemm', family.slice(5) as never);
      for (const r of probeGemm(dev, 128)) if (r.wrong) console.log(`    ${r.label.padEnd(22)} ${r.wrong}/${r.total} wrong: ${r.detail}`);
    } catch (e) {
      console.log(`    ${(e as Error).message.split('\n')[0]}`);
    } finally {
      if (!dry) setKernel('gemm', FAST.gemm);
    }
  }
  // For bench/gpu-check.sh: the families whose every case passed (the rest of its run keeps them).
  const ran = new Set(cases.map(familyOf));
  const passing = (Object.keys(FAST) as FastOp[]).map((op) => `${op}=${FAST[op]}`).filter((f) => ran.has(f) && !failedFamilies.has(f));
  const alternatives = [...new Set(cases.filter((c) => c.alternative).map(familyOf))].filter((f) => !failedFamilies.has(f));
  console.log(`fast_smoke passing: ${passing.length ? passing.join(',') : 'none'}`);
  console.log(`fast_smoke passing alternatives: ${alternatives.length ? alternatives.join(',') : 'none'}`);
  console.log(failed ? `fast_smoke: ${failed} case(s) FAILED` : 'fast_smoke: all cases ok');
  process.exitCode = failed ? 1 : 0;
}

if (require.main === module) main();
