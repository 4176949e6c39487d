// Shared pieces of the CUDA-vs-CPU op checks: fresh random float32 inputs every run, bf16
// rounding on the host, uploads that cast to bfloat16 on the target device, and exact compares.
import { bf16BitsToFloat, floatToBf16Bits } from '../../lib/tensor/dtype';
import type { Device } from '../../lib/tensor/device';
import { Tensor, tensor } from '../../lib/tensor/tensor';
import { expect } from 'vitest';
import { relL2 } from './close';
import { randn } from './gradcheck';

export type Mode = 'float32' | 'bfloat16';

/** A new seed per run, printed in test labels; CONVMAE_TEST_SEED=<seed> replays a failure with it. */
export const freshSeed = (): number =>
  process.env.CONVMAE_TEST_SEED ? Number(process.env.CONVMAE_TEST_SEED) : 1 + Math.floor(Math.random() * 2 ** 30);

/** Normal samples (times scale, plus shift) rounded to float32, held as float64. */
export const rand32 = (n: number, seed: number, scale = 1, shift = 0): Float64Array =>
  Float64Array.from(new Float32Array(randn(n, seed, scale).map((v) => v + shift)));

/** Values rounded to bfloat16 (nearest even). */
export const roundBf16 = (a: Float64Array): Float64Array => Float64Array.from(a, (v) => bf16BitsToFloat(floatToBf16Bits(v)));

/** Uploads float32 data to `device`; bfloat16 is cast there (on the GPU for cuda). */
export function put(data: Float64Array, shape: number[], device: Device, mode: Mode): Tensor {
  const f = tensor(data, shape, { dtype: 'float32', device });
  if (mode === 'float32') return f;
  const b = f.cast('bfloat16');
  f.dispose();
  return b;
}

/** A tensor's values on the host as float64. */
export const hostF = (t: Tensor): Float64Array => Float64Array.from(t.toFloat32Array());

/** Index of the first element where a and b differ (NaN equals NaN), -1 when none, -2 on a length mismatch. */
export function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return -1;
}

/** Runs an op on a device in a mode and returns its outputs on the host. */
export type Run = (device: Device, mode: Mode, inputs: Float64Array[]) => Float64Array[];

/**
 * CUDA against CPU: float32 within relative L2 1e-5; bfloat16 (inputs cast on the device) within
 * twice the error of the float32 CPU op on bf16-rounded inputs with its outputs rounded to bf16,
 * plus one bf16 step spread over the output (2^-7/sqrt(n)): a bf16 output cannot beat its own
 * rounding, so the budget counts it. Where the op under test stores an intermediate that it reads
 * back (attention's backward reads the forward's out), `roundedRun` is the float32 CPU op with
 * that intermediate rounded to bf16 as well (default: run on the rounded inputs).
 */
export function expectParity(label: string, run: Run, inputs: Float64Array[], names: string[],
  roundedRun: (inputs: Float64Array[]) => Float64Array[] = (xs) => run('cpu', 'float32', xs.map(roundBf16))): void {
  const cpu = run('cpu', 'float32', inputs), gpu = run('cuda', 'float32', inputs);
  names.forEach((name, k) => {
    expect(gpu[k].length, `${label} ${name}`).toBe(cpu[k].length);
    expect(relL2(gpu[k], cpu[k]), `${label} ${name} float32`).toBeLessThanOrEqual(1e-5);
  });
  const rounded = roundedRun(inputs), bf = run('cuda', 'bfloat16', inputs);
  names.forEach((name, k) => {
    const budget = relL2(roundBf16(rounded[k]), cpu[k]);
    const tol = 2 * budget + 2 ** -7 / Math.sqrt(Math.max(1, cpu[k].length));
    expect(relL2(bf[k], cpu[k]), `${label} ${name} bfloat16 (rounding alone: ${budget})`).toBeLessThanOrEqual(tol);
  });
}
