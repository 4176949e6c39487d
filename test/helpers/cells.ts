// Random visible layouts for the op tests.
import { randn } from './gradcheck';

/** ids_keep of a random mask: per sample, the k cells with the smallest noise, in ascending noise. */
export function randomCells(n: number, k: number, g: number, seed: number): Int32Array {
  const out = new Int32Array(n * k);
  for (let i = 0; i < n; i++) {
    const noise = randn(g * g, seed + 31 * i);
    const order = Array.from({ length: g * g }, (_, j) => j).sort((a, b) => noise[a] - noise[b]);
    for (let s = 0; s < k; s++) out[i * k + s] = order[s];
  }
  return out;
}
