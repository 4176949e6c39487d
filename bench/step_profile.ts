// Where a training step's time goes, op by op: the step's wall time over steady steps, then one
// step with every native call timed on the host clock (what launching costs) and one on the
// device clock (what each op costs), as tables by category, by phase and by op (bench/op_profile.ts),
// each row with its calls, time, share of the profiled time, megabytes of buffer arguments and rate.
//   node dist/bench/step_profile.js [--kind pretrain|finetune] [--model base] [--batch 128]
//        [--device cuda|cpu] [--precision bf16|float32] [--steps 3] [--top 40] [--img-size N]
// A small --img-size (32) keeps the model's sequence of ops with little work in each. With
// --null-compute every compute export is replaced by a no-op after the model is built (memory and
// transfers stay real), and only the step's wall time is printed: the host's own cost of a step
// (script, tape, allocation), what bounds the step where the GPU would be faster than that.
// Kernel families come from CONVMAE_KERNELS as everywhere else. Read it as: if the device-clock
// total is close to the wall time, the GPU is busy all step and the device-clock rows say which ops
// to make faster or fuse; else, if the host-clock total plus the JavaScript between the calls is,
// the step is launch-bound (fewer launches, a leaner script or a CUDA graph pay). The verdict line
// says which (bench/op_profile.ts stepVerdict).
import { clearTape } from '../lib/autograd/tape';
import { backends, gemmPaths, kernels } from '../lib/backends';
import { native } from '../lib/binding';
import { Precision } from '../lib/nn/precision';
import { Device } from '../lib/tensor/device';
import { memory } from '../lib/tensor/memory';
import { Clock, groupRows, OpProfiler, ProfileRow, rate, stepVerdict, UNTIMED } from './op_profile';
import { makeTrainStep, StepKind, StepPhase } from './train_step';

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
};
const posInt = (name: string, dflt: string): number => {
  const v = Number(arg(name, dflt));
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`step_profile: expected a positive integer for --${name} but got ${arg(name, dflt)}`);
  return v;
};
const oneOf = <T extends string>(name: string, dflt: T, allowed: readonly T[]): T => {
  const v = arg(name, dflt);
  if (!(allowed as readonly string[]).includes(v)) throw new RangeError(`step_profile: expected one of ${allowed.join(', ')} for --${name} but got ${v}`);
  return v as T;
};

function table(title: string, rows: ProfileRow[], total: number, label: (r: ProfileRow) => string, limit = Infinity): void {
  console.log(`\n${title}`);
  console.log(`${'name'.padEnd(64)} ${'calls'.padStart(6)} ${'ms'.padStart(9)} ${'%'.padStart(6)} ${'MB'.padStart(9)}  rate`);
  for (const r of rows.slice(0, limit)) {
    console.log(`${label(r).slice(0, 64).padEnd(64)} ${String(r.calls).padStart(6)} ${r.ms.toFixed(3).padStart(9)} ${((100 * r.ms) / total).toFixed(1).padStart(6)} ` +
      `${(r.bytes / 1e6).toFixed(1).padStart(9)}  ${rate(r)}`);
  }
  if (rows.length > limit) {
    const rest = rows.slice(limit);
    const ms = rest.reduce((a, r) => a + r.ms, 0);
    console.log(`${`(${rest.length} more)`.padEnd(64)} ${String(rest.reduce((a, r) => a + r.calls, 0)).padStart(6)} ${ms.toFixed(3).padStart(9)} ${((100 * ms) / total).toFixed(1).padStart(6)}`);
  }
}

/** Exports that hold or move memory, or ask about the addon: left real by --null-compute. */
const REAL = new Set([...UNTIMED, 'alloc', 'free', 'upload', 'download', 'copy']);

function nullComputeWall(step: ReturnType<typeof makeTrainStep>, steps: number): void {
  const target = native as unknown as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  let calls = 0;
  for (const [name, fn] of Object.entries(target)) {
    if (typeof fn !== 'function' || REAL.has(name)) continue;
    saved.set(name, fn);
    target[name] = () => { calls++; };
  }
  try {
    for (let i = 0; i < 3; i++) step.run(i);
    calls = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < steps; i++) step.run(i + 3);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6 / steps;
    console.log(`host cost per step with compute replaced by no-ops: ${ms.toFixed(2)} ms (${calls / steps} compute calls per step; mean of ${steps})`);
  } finally {
    for (const [name, fn] of saved) target[name] = fn;
  }
}

function main(): void {
  const kind = oneOf<StepKind>('kind', 'pretrain', ['pretrain', 'finetune']);
  const device = oneOf<Device>('device', backends().cuda.usable ? 'cuda' : 'cpu', ['cuda', 'cpu']);
  const precision = oneOf<Precision>('precision', device === 'cuda' ? 'bf16' : 'float32', ['bf16', 'float32']);
  const model = arg('model', 'base');
  const batch = posInt('batch', device === 'cuda' ? '128' : '2');
  const steps = posInt('steps', '3');
  const top = posInt('top', '40');
  const imgSize = process.argv.includes('--img-size') ? posInt('img-size', '224') : undefined;
  const k = kernels();
  console.log(`step_profile: ${kind} ${model}${imgSize ? ` at ${imgSize} px` : ''} batch ${batch} ${precision} on ${device === 'cuda' ? backends().cuda.name : 'the CPU'}` +
    (device === 'cuda' ? ` (kernels ${k.gemm}/${k.attention}/${k.layernorm}/${k.dwconv})` : ''));

  // Installed before the model is built, so that every buffer's size is known.
  const profiler = new OpProfiler();
  profiler.install();
  const step = makeTrainStep(kind, device, precision, batch, model, imgSize);
  if (process.argv.includes('--null-compute')) {
    profiler.uninstall();
    nullComputeWall(step, steps);
    step.dispose();
    return;
  }
  try {
    step.run(0);
    step.run(0);
    native.synchronize();
    gemmPaths({ reset: true });
    const waits0 = memory().cuda.streamWaits ?? 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < steps; i++) step.run(i + 1);
    native.synchronize();
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6 / steps;
    console.log(`wall time per step: ${wallMs.toFixed(2)} ms (${((batch * 1e3) / wallMs).toFixed(1)} img/s, mean of ${steps}); peak ${(memory()[device].peakBytes / 2 ** 30).toFixed(2)} GiB`);
    // The closing synchronize is one wait; any more are the step's own (each stalls the queue).
    if (device === 'cuda') console.log(`host waits for the GPU per step: ${(((memory().cuda.streamWaits ?? 0) - waits0 - 1) / steps).toFixed(1)}`);
    if (device === 'cuda') {
      // Which GEMMs of the step missed the tensor cores (lib/backends.ts gemmPaths).
      const p = gemmPaths({ reset: true });
      const share = (o: number) => `${((100 * o) / Math.max(1, p.tensorCore.outputs + p.plainBf16.outputs + p.plainFloat32.outputs)).toFixed(2)}%`;
      console.log(`gemm paths per step: tensor cores ${p.tensorCore.calls / steps} calls (${share(p.tensorCore.outputs)} of the outputs), ` +
        `plain kernel bf16 ${p.plainBf16.calls / steps} (${share(p.plainBf16.outputs)}), float32 ${p.plainFloat32.calls / steps} (${share(p.plainFloat32.outputs)})`);
    }

    const totals: Record<Clock, number> = { host: 0, device: 0 };
    let scriptMs = 0;
    for (const clock of ['host', 'device'] as Clock[]) {
      profiler.reset();
      profiler.start(clock);
      const t1 = process.hrtime.bigint();
      step.run(steps + 1, (phase: StepPhase) => profiler.phase(phase));
      const issueMs = Number(process.hrtime.bigint() - t1) / 1e6;
      native.synchronize();
      profiler.stop();
      const rows = profiler.report();
      const total = rows.reduce((a, r) => a + r.ms, 0);
      totals[clock] = total;
      const calls = rows.reduce((a, r) => a + r.calls, 0);
      console.log(`\n== ${clock} clock: ${calls} native calls, ${total.toFixed(2)} ms in them (${((100 * total) / wallMs).toFixed(0)}% of the wall time)`);
      if (clock === 'host') {
        // The step's own JavaScript (tape, tensors, argument checks) between the native calls.
        scriptMs = Math.max(0, issueMs - total - profiler.bookkeepingMs());
        console.log(`JavaScript outside the native calls: ${scriptMs.toFixed(2)} ms per step (${((1e3 * scriptMs) / Math.max(1, calls)).toFixed(1)} us per native call)`);
      }
      table('by category', groupRows(rows, (r) => r.category), total, (r) => r.op);
      table('by phase', groupRows(rows, (r) => r.phase), total, (r) => r.op);
      if (clock === 'device') {
        table(`by op and sizes (top ${top})`, groupRows(rows, (r) => `${r.op} ${r.sizes}`.trim()), total, (r) => r.op, top);
      }
    }
    console.log(`\nsummary: wall ${wallMs.toFixed(2)} ms per step; host clock ${totals.host.toFixed(2)} ms + ${scriptMs.toFixed(2)} ms of JavaScript; device clock ${totals.device.toFixed(2)} ms`);
    if (device === 'cuda') console.log(stepVerdict(wallMs, totals.host, scriptMs, totals.device));
  } finally {
    profiler.uninstall();
    clearTape();
    step.dispose();
  }
}

main();
