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
  if (!(idsShuffle instanceof Int32Array)) throw new TypeError('masking: expected an Int32Array for ids_shuffle');
  if (idsShuffle.length !== n * tokens) throw new RangeError(`masking: ids_shuffle has ${idsShuffle.length} entries, expected ${n * tokens}`);
  const seen = new Uint8Array(tokens);
  for (let b = 0; b < n; b++) {
    seen.fill(0);
    for (let r = 0; r < tokens; r++) {
      const l = idsShuffle[b * tokens + r];
      if (l < 0 || l >= tokens || seen[l]) throw new RangeError(`masking: ids_shuffle of sample ${b} is not a permutation of 0..${tokens - 1}`);
      seen[l] = 1;
    }
  }
  return fromPermutations(idsShuffle, n, tokens, ratio);
}

/** The masking of per-sample permutations already known to be valid. */
function fromPermutations(idsShuffle: Int32Array, n: number, tokens: number, ratio: number): Masking {
  const kept = keptCount(tokens, ratio);
  const idsRestore = new Int32Array(n * tokens);
  const idsKeep = new Int32Array(n * kept);
  const mask = new Float32Array(n * tokens).fill(1);
  for (let b = 0; b < n; b++) {
    const row = b * tokens;
    for (let r = 0; r < tokens; r++) idsRestore[row + idsShuffle[row + r]] = r;
    for (let r = 0; r < kept; r++) {
      const l = idsShuffle[row + r];
      idsKeep[b * kept + r] = l;
      mask[row + l] = 0;
    }
  }
  return { n, tokens, kept, idsShuffle, idsRestore, idsKeep, mask };
}

/** Stable ascending argsort of each sample's noise. */
export function maskingFromNoise(noise: ArrayLike<number>, n: number, tokens: number, ratio: number): Masking {
  if (noise.length !== n * tokens) throw new RangeError(`masking: noise has ${noise.length} values, expected ${n} x ${tokens}`);
  const ids = new Int32Array(n * tokens);
  const scratch = tokens <= MAX_PACKED_TOKENS && allFloat32(noise) ? { keys: new Uint32Array(tokens), ordered: new Uint32Array(tokens) } : null;
  for (let b = 0; b < n; b++) {
    const order = ids.subarray(b * tokens, (b + 1) * tokens);
    if (scratch) argsortFloat32(noise, b * tokens, order, scratch.keys, scratch.ordered);
    else argsortCompare(noise, b * tokens, order);
  }
  return fromPermutations(ids, n, tokens, ratio);
}

/** Samples of up to 2^16 tokens have their index packed into the low bits of a 32-bit key. */
const MAX_PACKED_TOKENS = 2 ** 16;
const LONG_RUN = 64;
const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);

function allFloat32(noise: ArrayLike<number>): boolean {
  if (noise instanceof Float32Array) return true; // NaN aside, which the comparator orders as a tie
  for (let i = 0; i < noise.length; i++) if (Math.fround(noise[i]) !== noise[i]) return false;
  return true;
}

/**
 * order = the stable argsort of noise[offset, offset + order.length), each value a float32. The
 * value's bits map to an unsigned integer of the same order (-0 as +0); a key is its high bits
 * with the index below them, and a Uint32Array sorts those natively (no comparator calls). Keys
 * equal in their value bits are then put in (whole value, index) order by an insertion sort:
 * uniform noise leaves few such runs, and short ones (a run longer than LONG_RUN takes the
 * comparator, which keeps adversarial noise from costing the square of the run). A NaN anywhere
 * falls back to the comparator, which orders it as a tie. keys, ordered: scratch of order.length.
 */
function argsortFloat32(noise: ArrayLike<number>, offset: number, order: Int32Array, keys: Uint32Array, ordered: Uint32Array): void {
  const t = order.length;
  const indexBits = Math.max(1, Math.ceil(Math.log2(t)));
  const indexMask = (1 << indexBits) - 1;
  for (let i = 0; i < t; i++) {
    const v = noise[offset + i];
    if (v !== v) return argsortCompare(noise, offset, order);
    F32[0] = v === 0 ? 0 : v;
    const bits = F32_BITS[0];
    const o = bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
    ordered[i] = o;
    keys[i] = ((o >>> indexBits) << indexBits | i) >>> 0;
  }
  keys.sort();
  for (let r = 0; r < t; r++) order[r] = keys[r] & indexMask;
  for (let start = 0; start < t; ) {
    let end = start + 1;
    while (end < t && keys[end] >>> indexBits === keys[start] >>> indexBits) end++;
    if (end - start > LONG_RUN) order.subarray(start, end).sort((x, y) => ordered[x] - ordered[y] || x - y);
    else for (let r = start + 1; r < end; r++) {
      const id = order[r], o = ordered[id];
      let q = r;
      for (; q > start && ordered[order[q - 1]] > o; q--) order[q] = order[q - 1];
      order[q] = id;
    }
    start = end;
  }
}

function argsortCompare(noise: ArrayLike<number>, offset: number, order: Int32Array): void {
  const t = order.length;
  const values = new Float64Array(t);
  for (let i = 0; i < t; i++) {
    values[i] = noise[offset + i];
    order[i] = i;
  }
  order.sort((x, y) => (values[x] < values[y] ? -1 : values[x] > values[y] ? 1 : x - y));
}

/** Masking noise as randomMasking draws it: `count` uniform values, as float32. */
export function uniformNoise(count: number, rng: Rng): Float32Array {
  const noise = new Float32Array(count);
  for (let i = 0; i < count; i++) noise[i] = rng.uniform();
  return noise;
}

export function randomMasking(n: number, tokens: number, ratio: number, rng: Rng): Masking {
  return maskingFromNoise(uniformNoise(n * tokens, rng), n, tokens, ratio);
}

/** Every token kept, in raster order (finetuning, evaluation, feature extraction). */
export function fullMasking(n: number, tokens: number): Masking {
  const ids = new Int32Array(n * tokens);
  for (let b = 0; b < n; b++) for (let l = 0; l < tokens; l++) ids[b * tokens + l] = l;
  return fromPermutations(ids, n, tokens, 0);
}
