// Shared pieces of the CUDA-vs-CPU op checks: fresh random float32 inputs every run, bf16
// rounding on the host, uploads that cast to bfloat16 on the target device, and exact compares.
import { bf16BitsToFloat, floatToBf16Bits } from '../../lib/tensor/dtype';
import type { Device } from '../../lib/tensor/device';
import { Tensor, tensor } from '../../lib/tensor/tensor';
import { randn } from './gradcheck';

export type Mode = 'float32' | 'bfloat16';

/** A new seed per run (print it in test labels so a failure can be replayed). */
export const freshSeed = (): number => 1 + Math.floor(Math.random() * 2 ** 30);

/** Normal samples rounded to float32, held as float64. */
export const rand32 = (n: number, seed: number, scale = 1): Float64Array =>
  Float64Array.from(new Float32Array(randn(n, seed, scale)));

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
