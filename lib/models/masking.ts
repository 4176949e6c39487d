// Block-wise random masking (SPEC.md §3): per sample, a stable ascending argsort of the noise
// gives ids_shuffle; the first len_keep = floor(T·(1 − r)) are kept (ids_keep, in that order),
// ids_restore is the inverse permutation, and mask[l] = 1 where token l is removed. The noise
// comes from the caller (parity) or from a seeded Rng.
import { Rng } from '../data/rng';

export interface Masking {
  n: number;
  /** Tokens per sample (G·G). */
  tokens: number;
  /** Kept tokens per sample. */
  kept: number;
  idsShuffle: Int32Array;
  idsRestore: Int32Array;
  /** [n·kept] kept token ids, ids_keep order. */
  idsKeep: Int32Array;
  /** [n·tokens] 1 = masked (removed). */
  mask: Float32Array;
}

export function keptCount(tokens: number, ratio: number): number {
  return Math.floor(tokens * (1 - ratio));
}

export function maskingFromShuffle(idsShuffle: Int32Array, n: number, tokens: number, ratio: number): Masking {
  if (idsShuffle.length !== n * tokens) throw new RangeError(`masking: ids_shuffle has ${idsShuffle.length} entries, expected ${n * tokens}`);
  const kept = keptCount(tokens, ratio);
  const idsRestore = new Int32Array(n * tokens).fill(-1);
  const idsKeep = new Int32Array(n * kept);
  const mask = new Float32Array(n * tokens);
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < tokens; r++) {
      const l = idsShuffle[b * tokens + r];
      if (!Number.isInteger(l) || l < 0 || l >= tokens || idsRestore[b * tokens + l] !== -1) {
        throw new RangeError(`masking: ids_shuffle of sample ${b} is not a permutation of 0..${tokens - 1}`);
      }
      idsRestore[b * tokens + l] = r;
      if (r < kept) idsKeep[b * kept + r] = l;
      mask[b * tokens + l] = r < kept ? 0 : 1;
    }
  }
  return { n, tokens, kept, idsShuffle, idsRestore, idsKeep, mask };
}

/** Stable ascending argsort of each sample's noise. */
export function maskingFromNoise(noise: ArrayLike<number>, n: number, tokens: number, ratio: number): Masking {
  if (noise.length !== n * tokens) throw new RangeError(`masking: noise has ${noise.length} values, expected ${n} x ${tokens}`);
  const ids = new Int32Array(n * tokens);
  for (let b = 0; b < n; b++) {
    const order = Array.from({ length: tokens }, (_, i) => i);
    const v = (i: number) => noise[b * tokens + i];
    order.sort((x, y) => (v(x) < v(y) ? -1 : v(x) > v(y) ? 1 : x - y));
    ids.set(order, b * tokens);
  }
  return maskingFromShuffle(ids, n, tokens, ratio);
}

export function randomMasking(n: number, tokens: number, ratio: number, rng: Rng): Masking {
  const noise = new Float32Array(n * tokens);
  for (let i = 0; i < noise.length; i++) noise[i] = rng.uniform();
  return maskingFromNoise(noise, n, tokens, ratio);
}

/** Every token kept, in raster order (finetuning, evaluation, feature extraction). */
export function fullMasking(n: number, tokens: number): Masking {
  const ids = new Int32Array(n * tokens);
  for (let b = 0; b < n; b++) for (let l = 0; l < tokens; l++) ids[b * tokens + l] = l;
  return maskingFromShuffle(ids, n, tokens, 0);
}
