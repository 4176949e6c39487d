// Per-op profile of the native calls a piece of work makes. install() wraps every compute export
// of the addon (the `native` object every op calls through), after which each call made while
// recording is timed and filed under its op, its sizes (the numeric arguments) and the phase set
// last. Two clocks:
//   'host'   the time the call takes to return: on cuda, the host's cost of launching it (the
//            step is launch-bound where these add up to the step's wall time);
//   'device' a synchronize before and after each call, so the time includes the kernels' run
//            (plus one launch and one synchronize, measured and subtracted as `overhead`).
// On the CPU both clocks read the same. Buffer sizes come from wrapping `alloc`, so install
// before the tensors of interest are made. Rates: bytes are the sizes of all buffer arguments
// (each read or written once: a floor on the traffic), FLOPs are counted for gemm, attention and
// the depthwise convs.
import { native } from '../lib/binding';
import { DTYPE_BYTES, DTYPE_CODE, DTYPES } from '../lib/tensor/dtype';

export type Clock = 'host' | 'device';

export interface ProfileRow {
  op: string;
  sizes: string;
  category: string;
  phase: string;
  calls: number;
  ms: number;
  bytes: number;
  flops: number;
}

/** Exports that are not work on tensors: never recorded. */
export const UNTIMED = new Set(['isAlive', 'memory', 'resetPeak', 'backends', 'synchronize', 'timerBegin', 'timerEnd', 'emptyCache', 'setKernel',
  'kernels']);

const CATEGORY: Record<string, string> = {
  gemm: 'gemm', attention: 'attention', attentionBackward: 'attention',
  layernorm: 'layernorm', layernormBackward: 'layernorm',
  fill: 'elementwise', cast: 'elementwise', castMulti: 'elementwise', binary: 'elementwise', scale: 'elementwise', sampleScale: 'elementwise',
  gelu: 'elementwise', geluBackward: 'elementwise',
  copy: 'copy/layout', copyRows: 'copy/layout', gatherRows: 'copy/layout', scatterAddRows: 'copy/layout', rowsToPatches: 'copy/layout',
  patchesToRows: 'copy/layout', unshuffleTokens: 'copy/layout', imageToRows: 'copy/layout', patchify: 'copy/layout', rowsToMap: 'copy/layout', mapToRows: 'copy/layout',
  maxPool2x2: 'copy/layout', maxPool2x2Backward: 'copy/layout',
  dwconvRows: 'dwconv', dwconvRowsBackwardInput: 'dwconv', dwconvRowsBackwardWeight: 'dwconv',
  sum: 'reduce', maskedMseLoss: 'loss', maskedMseLossBackward: 'loss', crossEntropy: 'loss', crossEntropyBackward: 'loss',
  adamw: 'optimizer', adamwMulti: 'optimizer', alloc: 'memory', free: 'memory', upload: 'transfer', download: 'transfer',
};

type Fn = (...args: unknown[]) => unknown;
const isBuffer = (a: unknown): a is object => typeof a === 'object' && a !== null && !ArrayBuffer.isView(a) && !Array.isArray(a);

/** The sizes shown for a call and its FLOPs. */
function describe(op: string, args: unknown[]): { sizes: string; flops: number } {
  const nums = args.filter((a) => typeof a === 'number') as number[];
  if (op === 'gemm') {
    const [m, n, k] = nums;
    const [tA, tB] = args.slice(7, 9) as boolean[];
    const batch = nums[5];
    const extras = [args[3] ? 'bias' : '', args[15] ? 'res' : '', args[16] ? 'gelu' : '', args[17] ? "gelu'" : ''].filter(Boolean);
    return {
      sizes: `${batch > 1 ? `${batch}x ` : ''}${m}x${k}x${n} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}${extras.length ? ` +${extras.join('+')}` : ''}`,
      flops: 2 * m * n * k * batch,
    };
  }
  if (op === 'attention' || op === 'attentionBackward') {
    const [N, L, H, Dh] = nums;
    return { sizes: `N${N} L${L} H${H} d${Dh}`, flops: (op === 'attention' ? 4 : 10) * N * H * L * L * Dh };
  }
  if (op.startsWith('dwconvRows')) {
    const [N, K, , t, C, ks] = nums;
    return { sizes: `N${N} K${K} t${t} C${C} k${ks}`, flops: 2 * N * K * t * t * C * ks * ks };
  }
  if (op === 'binary') return { sizes: `${['add', 'sub', 'mul', 'div'][nums[0]] ?? nums[0]}`, flops: 0 };
  if (op === 'alloc') return { sizes: '', flops: 0 };
  if (op === 'adamwMulti') return { sizes: `${(args[0] as unknown[]).length} tensors`, flops: 0 };
  return { sizes: nums.filter((x) => Number.isInteger(x)).join('x'), flops: 0 };
}

export class OpProfiler {
  private readonly originals = new Map<string, Fn>();
  private readonly bytesOf = new WeakMap<object, number>();
  private readonly rows = new Map<string, ProfileRow>();
  private clock: Clock | null = null;
  private phaseName = '-';
  /** Seconds one empty synchronize pair costs (subtracted from each 'device' call). */
  private overhead: number | null = null;
  /** Milliseconds spent in this profiler's own bookkeeping while recording (since reset). */
  private selfMs = 0;

  install(): void {
    if (this.originals.size) return;
    const target = native as unknown as Record<string, Fn>;
    for (const name of Object.keys(target)) {
      const fn = target[name];
      if (typeof fn !== 'function' || UNTIMED.has(name)) continue;
      this.originals.set(name, fn);
      target[name] = (...args: unknown[]) => this.call(name, fn, args);
    }
  }

  uninstall(): void {
    const target = native as unknown as Record<string, Fn>;
    for (const [name, fn] of this.originals) target[name] = fn;
    this.originals.clear();
  }

  /** Records the calls from now on, on `clock`, after the rows recorded so far. */
  start(clock: Clock): void {
    if (clock === 'device' && this.overhead === null) this.overhead = this.emptyPairSeconds();
    this.clock = clock;
  }

  stop(): void {
    this.clock = null;
  }

  /** Drops the recorded rows. */
  reset(): void {
    this.rows.clear();
    this.selfMs = 0;
  }

  /** Milliseconds of the profiler's own bookkeeping since reset(): subtract it from a wall time
   *  taken around recorded work to get the work's own time outside native calls. */
  bookkeepingMs(): number {
    return this.selfMs;
  }

  phase(name: string): void {
    this.phaseName = name;
  }

  /** The recorded rows, one per (phase, op, sizes), slowest first. */
  report(): ProfileRow[] {
    return [...this.rows.values()].sort((a, b) => b.ms - a.ms);
  }

  /** Seconds of one call's bookkeeping around nothing (median of 50). */
  private emptyPairSeconds(): number {
    const t: number[] = [];
    for (let i = 0; i < 50; i++) {
      native.synchronize();
      const t0 = process.hrtime.bigint();
      native.synchronize();
      t.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return t.sort((a, b) => a - b)[25];
  }

  private call(name: string, fn: Fn, args: unknown[]): unknown {
    const clock = this.clock;
    if (clock === null) return this.remember(name, fn(...args), args);
    if (clock === 'device') native.synchronize();
    const t0 = process.hrtime.bigint();
    const result = fn(...args);
    if (clock === 'device') native.synchronize();
    const t1 = process.hrtime.bigint();
    const sec = Math.max(0, Number(t1 - t0) / 1e9 - (clock === 'device' ? this.overhead ?? 0 : 0));
    this.remember(name, result, args);
    const { sizes, flops } = describe(name, args);
    const key = `${this.phaseName}|${name}|${sizes}`;
    let row = this.rows.get(key);
    if (!row) {
      row = { op: name, sizes, category: CATEGORY[name] ?? 'other', phase: this.phaseName, calls: 0, ms: 0, bytes: 0, flops: 0 };
      this.rows.set(key, row);
    }
    row.calls++;
    row.ms += sec * 1e3;
    row.bytes += this.argBytes(args);
    row.flops += flops;
    this.selfMs += Number(process.hrtime.bigint() - t1) / 1e6;
    return result;
  }

  /** Records the size of a buffer `alloc` returned (alloc(device, dtype, numel)). */
  private remember(name: string, result: unknown, args: unknown[]): unknown {
    if (name === 'alloc' && isBuffer(result)) {
      const dtype = DTYPES.find((d) => DTYPE_CODE[d] === args[1]);
      this.bytesOf.set(result, (args[2] as number) * (dtype ? DTYPE_BYTES[dtype] : 0));
    }
    return result;
  }

  private argBytes(args: unknown[]): number {
    let n = 0;
    for (const a of args) {
      if (Array.isArray(a)) n += this.argBytes(a);
      else if (isBuffer(a)) n += this.bytesOf.get(a) ?? 0;
    }
    return n;
  }
}

/** Sums of rows grouped by a key, slowest first. */
export function groupRows(rows: ProfileRow[], key: (r: ProfileRow) => string): ProfileRow[] {
  const out = new Map<string, ProfileRow>();
  for (const r of rows) {
    const k = key(r);
    const g = out.get(k) ?? { op: k, sizes: '', category: r.category, phase: r.phase, calls: 0, ms: 0, bytes: 0, flops: 0 };
    g.calls += r.calls;
    g.ms += r.ms;
    g.bytes += r.bytes;
    g.flops += r.flops;
    out.set(k, g);
  }
  return [...out.values()].sort((a, b) => b.ms - a.ms);
}

/** "1.23 TF/s" for rows with FLOPs, else "456 GB/s" from the bytes of their arguments (G below 1 T). */
export function rate(r: ProfileRow): string {
  const s = r.ms / 1e3;
  if (s <= 0) return '-';
  const fmt = (v: number, unit: string) => (v >= 1e12 ? `${(v / 1e12).toFixed(2)} T${unit}` : `${(v / 1e9).toFixed(v >= 1e10 ? 0 : 2)} G${unit}`);
  if (r.flops > 0) return fmt(r.flops / s, 'F/s');
  if (r.bytes > 0) return fmt(r.bytes / s, 'B/s');
  return '-';
}

/**
 * What bounds a CUDA step, from its wall time and one profiled step's clocks (ms per step): the
 * host clock of the native calls, the script between them, and the device clock. Where the
 * device's work adds up to 90% of the wall time or more, the GPU was busy all step: device-bound,
 * however high the host clock reads, as a launch blocks while the launch queue is full and its host
 * time then includes waiting for the GPU (run 8's pretraining step read 150% there, yet its host
 * cost with compute as no-ops was 8.5 ms of a 40 ms step). Else, where launching takes 80% of the
 * wall time or more, launch-bound.
 */
export function stepVerdict(wallMs: number, hostMs: number, scriptMs: number, deviceMs: number): string {
  const pct = (ms: number) => `${((100 * ms) / wallMs).toFixed(0)}%`;
  if (deviceMs >= 0.9 * wallMs) {
    return `verdict: device-bound (the device's work adds up to ${pct(deviceMs)} of the wall time; launching reads ${pct(hostMs + scriptMs)}, ` +
      'waits on a full launch queue included: --null-compute gives the host\'s own cost): the device-clock rows are where the time goes';
  }
  if (hostMs + scriptMs >= 0.8 * wallMs) {
    return `verdict: launch-bound (the host spends ${pct(hostMs + scriptMs)} of the wall time launching, the device works ${pct(deviceMs)} of it): ` +
      'fewer launches or a CUDA graph pay';
  }
  return `verdict: device-bound (launching takes ${pct(hostMs + scriptMs)} of the wall time): the device-clock rows are where the time goes`;
}
