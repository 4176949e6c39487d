// Every GEMM kernel family and tiling on the model's GEMMs, in one process, for an addon built
// with CONVMAE_GEMM_SWEEP=1 (bench/gpu-pack.sh builds it so; its launchers read the tiling
// variables at each call). Each GEMM case of bench/op_timings.ts at the batch given runs in the
// three forms a training step runs it: forward Y = X·Wᵀ + b (the fc1 cases with GELU's second
// output), dX = dY·W and dW = dYᵀ·X. Each family:tiling is timed on the device clock and its output
// checked against the reference's (mma, tiling 0: the family every card runs, checked by the CUDA
// tests) by two sums on the device, Σy² and Σy·r for a fixed random r, so that a tiling that
// computes something else shows as `wrong` instead of a rate (the tilings' own tests are the
// sweep build's CUDA suites; this is the guard on the big shapes they do not run). Prints a
// table of TFLOP/s per form (rows: cases, columns: family:tiling), the best of each row, and the
// forward's best as a share of issue #5's cuBLAS figures (meaningful on an H100 only).
//   node dist/bench/gemm_sweep.js [--batch N] [--reps N] [--only REGEX] [--families wgmma,tma,mma,wmma]
import { backends, kernels, setKernel } from '../lib/backends';
import { native } from '../lib/binding';
import * as ops from '../lib/ops';
import { tidy } from '../lib/tensor/scope';
import { Tensor } from '../lib/tensor/tensor';
import { type GemmFamily, TILINGS } from './gemm_tilings';
import { CUBLAS_H100, opCases, rand, timeIt } from './op_timings';

type Family = GemmFamily;

export type Form = 'fwd' | 'dX' | 'dW';
export interface SweepCase {
  name: string;
  m: number;
  k: number;
  n: number;
  gelu: boolean;
}

/** The GEMM cases of bench/op_timings.ts at batch b (matching `only` when given). */
export function sweepCases(b: number, only?: RegExp): SweepCase[] {
  const out: SweepCase[] = [];
  for (const c of opCases(b)) if (c.kind === 'gemm' && (!only || only.test(c.name))) out.push({ name: c.name, m: c.m, k: c.k, n: c.n, gelu: c.gelu });
  return out;
}

/** One form of a case on bf16 tensors: run() writes out (and the GELU output); flops per run. */
function formOf(c: SweepCase, form: Form): { run: () => void; out: Tensor; flops: number; dispose: () => void } {
  const dt = 'bfloat16';
  const made: Tensor[] = [];
  const mk = (shape: number[]) => {
    const t = rand(shape, 'cuda', dt);
    made.push(t);
    return t;
  };
  const flops = 2 * c.m * c.k * c.n;
  const op = 'gemm_sweep';
  if (form === 'fwd') {
    const x = mk([c.m, c.k]), w = mk([c.n, c.k]), b = mk([c.n]), y = mk([c.m, c.n]), g = c.gelu ? mk([c.m, c.n]) : null;
    return {
      run: () => native.gemm(y.handle(op), x.handle(op), w.handle(op), b.handle(op), c.m, c.n, c.k, false, true, 1, 0, 1, 0, 0, 0,
        null, g ? g.handle(op) : null, null),
      out: g ?? y, flops, dispose: () => made.forEach((t) => t.dispose()),
    };
  }
  if (form === 'dX') {
    const dy = mk([c.m, c.n]), w = mk([c.n, c.k]), dx = mk([c.m, c.k]);
    return { run: () => native.gemm(dx.handle(op), dy.handle(op), w.handle(op), null, c.m, c.k, c.n, false, false, 1, 0, 1, 0, 0, 0),
      out: dx, flops, dispose: () => made.forEach((t) => t.dispose()) };
  }
  const dy = mk([c.m, c.n]), x = mk([c.m, c.k]), dw = mk([c.n, c.k]);
  return { run: () => native.gemm(dw.handle(op), dy.handle(op), x.handle(op), null, c.n, c.k, c.m, true, false, 1, 0, 1, 0, 0, 0),
    out: dw, flops, dispose: () => made.forEach((t) => t.dispose()) };
}

/** [Σy², Σy·r] of a bf16 output y, in float32 on its device. */
function checksums(y: Tensor, r: Tensor): [number, number] {
  return tidy(() => {
    const x = y.cast('float32');
    return [ops.sum(ops.mul(x, x)).item(), ops.sum(ops.mul(x, r)).item()];
  });
}

/** Whether got's checksums match want's: Σy² within 2%, Σy·r within 1% of its Cauchy-Schwarz scale
 *  (bf16 outputs of the same sums in another order differ by a few 2^-9 per element). */
export function checksumsAgree(got: [number, number], want: [number, number], rr: number): boolean {
  return Math.abs(got[0] - want[0]) <= 2e-2 * want[0] && Math.abs(got[1] - want[1]) <= 1e-2 * Math.sqrt(want[0] * rr);
}

export interface SweepResult {
  case: string;
  form: Form;
  /** "family:tiling" -> TFLOP/s, or a note ('wrong (rel L2 ...)', an error's first line). */
  rates: Map<string, number | string>;
}

/** Runs `fn` with the gemm family and one tiling chosen, restoring both. */
export function withTiling<T>(family: Family, tiling: number, fn: () => T): T {
  const before = kernels().gemm, env = TILINGS[family].env, old = process.env[env];
  setKernel('gemm', family);
  process.env[env] = String(tiling);
  try {
    return fn();
  } finally {
    setKernel('gemm', before);
    if (old === undefined) delete process.env[env];
    else process.env[env] = old;
  }
}

/** Every family:tiling on every case and form; `log` hears each row as it completes. */
export function sweep(cases: SweepCase[], families: Family[], reps: number, log: (s: string) => void = () => {}): SweepResult[] {
  const results: SweepResult[] = [];
  for (const c of cases) {
    for (const form of ['fwd', 'dX', 'dW'] as Form[]) {
      const rates = new Map<string, number | string>();
      tidy(() => {
        const f = formOf(c, form);
        const r = rand([...f.out.shape], 'cuda', 'float32');
        try {
          const rr = tidy(() => ops.sum(ops.mul(r, r)).item());
          const want = withTiling('mma', 0, () => { f.run(); return checksums(f.out, r); });
          for (const family of families) {
            for (let t = 0; t < TILINGS[family].count; t++) {
              const key = `${family}:${t}`;
              try {
                const got = withTiling(family, t, () => { f.run(); return checksums(f.out, r); });
                if (!checksumsAgree(got, want, rr)) {
                  rates.set(key, `wrong (Σy² ${got[0].toPrecision(4)} vs ${want[0].toPrecision(4)})`);
                  continue;
                }
                const t1 = withTiling(family, t, () => timeIt(f.run, reps, 'cuda'));
                rates.set(key, f.flops / t1.seconds / 1e12);
              } catch (e) {
                rates.set(key, (e as Error).message.split('\n')[0].slice(0, 50));
              }
            }
          }
        } finally {
          r.dispose();
          f.dispose();
        }
      });
      results.push({ case: c.name, form, rates });
      log(`  ${c.name} ${form}: ${[...rates].map(([k, v]) => `${k} ${typeof v === 'number' ? rateText(v) : v}`).join(', ')}`);
    }
  }
  return results;
}

const rateText = (v: number) => (v >= 10 ? v.toFixed(0) : v.toPrecision(2));

/** A table per form: TF/s per family:tiling, the best, and for the forward its cuBLAS share. */
export function formatSweep(results: SweepResult[]): string {
  const keys = [...new Set(results.flatMap((r) => [...r.rates.keys()]))];
  const out: string[] = [];
  for (const form of ['fwd', 'dX', 'dW'] as Form[]) {
    const rows = results.filter((r) => r.form === form);
    if (!rows.length) continue;
    out.push(`\n${form} (TFLOP/s)`, ['case', ...keys, 'best', ...(form === 'fwd' ? ['cuBLAS share (H100)'] : [])].join(' | '));
    for (const r of rows) {
      const cells = keys.map((k) => { const v = r.rates.get(k); return v === undefined ? '-' : typeof v === 'number' ? rateText(v) : v; });
      let best = '', bestRate = 0;
      for (const [k, v] of r.rates) if (typeof v === 'number' && v > bestRate) { best = k; bestRate = v; }
      const shape = /(\d+x\d+x\d+)(\+gelu)?$/.exec(r.case);
      const ref = shape ? CUBLAS_H100[shape[1]] : undefined;
      const share = form === 'fwd' ? [ref && bestRate ? `${((100 * bestRate) / ref).toFixed(0)}%` : '-'] : [];
      out.push([r.case, ...cells, best ? `${best} ${rateText(bestRate)}` : '-', ...share].join(' | '));
    }
  }
  return out.join('\n');
}

function main(): void {
  const arg = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1] : undefined; };
  const b = backends().cuda;
  if (!b.usable) throw new Error(`gemm_sweep: CUDA is not usable here (${b.reason || 'not compiled'})`);
  if (!b.gemmSweep) console.log('gemm_sweep: this addon was built without CONVMAE_GEMM_SWEEP=1: every tiling below runs tiling 0');
  const families = (arg('families') ?? (b.wgmma ? 'wgmma,tma,mma,wmma' : 'mma,wmma')).split(',') as Family[];
  for (const f of families) if (!(f in TILINGS)) throw new RangeError(`gemm_sweep: unknown family \`${f}\` in --families (known: ${Object.keys(TILINGS).join(', ')})`);
  const batch = Number(arg('batch') ?? 128), reps = Number(arg('reps') ?? 5);
  const only = arg('only');
  const cases = sweepCases(batch, only ? new RegExp(only) : /^gemm (?!square)/);
  console.log(`gemm_sweep: ${b.name}, batch ${batch}, ${cases.length} cases x 3 forms, families ${families.join(', ')}`);
  const results = sweep(cases, families, reps, (s) => console.log(s));
  console.log(formatSweep(results));
}

if (require.main === module) main();
