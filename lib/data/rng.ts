// Seeded pseudo-random numbers for the data pipeline and training loop.
//
// Contract: `Rng` is xoshiro128** (four 32-bit words of state, period 2^128 − 1). The same seed or
// key gives the same sequence on every platform (only 32-bit integer maths and IEEE doubles).
// `state()` returns the four words as a plain JSON array of uint32 (`RngState`); `Rng.fromState`
// or `setState` continues the exact sequence, which is what exact resume needs. `normal()` keeps
// no spare value, so the four words are the whole state. `Rng.forKey(seed, ...keys)` hashes a
// seed and a list of integer keys (e.g. epoch, sample index) into an independent stream; the data
// loader uses `forKey(seed, epoch, index)` for each sample's augmentation.

/** The four uint32 state words of xoshiro128**, JSON-serialisable. */
export type RngState = [number, number, number, number];

const TWO32 = 4294967296;

/** murmur3's 32-bit finaliser: a bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Low and high 32-bit words of a safe integer (two's complement for negatives). */
function words(x: number): [number, number] {
  if (!Number.isSafeInteger(x)) throw new RangeError(`rng: seed/key must be a safe integer, got ${x}`);
  const lo = ((x % TWO32) + TWO32) % TWO32;
  const hi = Math.floor((x - lo) / TWO32);
  return [lo >>> 0, ((hi % TWO32) + TWO32) % TWO32 >>> 0];
}

const LANE_INIT = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344];
const LANE_MUL = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f];

/** Hash a seed and integer keys to a non-zero xoshiro state (four independent mixing lanes). */
export function hashState(seed: number, keys: readonly number[] = []): RngState {
  const ws: number[] = [...words(seed)];
  for (const k of keys) ws.push(...words(k));
  const out: number[] = [];
  for (let lane = 0; lane < 4; lane++) {
    let h = LANE_INIT[lane];
    for (let i = 0; i < ws.length; i++) {
      h = fmix32((Math.imul(h ^ ws[i], LANE_MUL[lane]) + i + 1) >>> 0);
    }
    out.push(fmix32((h ^ ws.length) >>> 0));
  }
  if ((out[0] | out[1] | out[2] | out[3]) === 0) out[0] = 1;
  return out as RngState;
}

export class Rng {
  // The state words as int32 (their bits; state() gives them as uint32): int32 values stay small
  // integers in V8, so next() runs without allocating.
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** A generator seeded from an integer (any safe integer; 0 is fine). */
  constructor(seed = 0) {
    this.setState(hashState(seed));
  }

  /** An independent stream for (seed, ...keys); keys are safe integers. */
  static forKey(seed: number, ...keys: number[]): Rng {
    const r = new Rng();
    r.setState(hashState(seed, keys));
    return r;
  }

  static fromState(state: RngState): Rng {
    const r = new Rng();
    r.setState(state);
    return r;
  }

  /** The current state (a copy): four uint32 words. */
  state(): RngState {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  setState(state: readonly number[]): void {
    if (!Array.isArray(state) || state.length !== 4 ||
        !state.every((w) => Number.isInteger(w) && w >= 0 && w < TWO32)) {
      throw new TypeError('rng: state must be an array of four uint32 words');
    }
    if ((state[0] | state[1] | state[2] | state[3]) === 0) {
      throw new RangeError('rng: the all-zero state is invalid for xoshiro128**');
    }
    [this.s0, this.s1, this.s2, this.s3] = state.map((w) => w | 0);
  }

  clone(): Rng {
    return Rng.fromState(this.state());
  }

  /** Next uint32 in [0, 2^32). */
  next(): number {
    const r = Math.imul(this.s1, 5);
    const result = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.next() >>> 5; // 27 bits
    const b = this.next() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform double in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Uniform integer in [0, n), unbiased; n a positive safe integer. */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`rng.int: n must be a positive integer, got ${n}`);
    if (n <= TWO32) {
      const limit = TWO32 - (TWO32 % n); // accept u < limit
      for (;;) {
        const u = this.next();
        if (u < limit) return u % n;
      }
    }
    return Math.floor(this.uniform() * n);
  }

  /** Uniform integer in [lo, hi) (like numpy/torch randint(lo, hi)). */
  intRange(lo: number, hi: number): number {
    return lo + this.int(hi - lo);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /** Standard normal by Box–Muller (one draw; no cached spare). */
  normal(mean = 0, std = 1): number {
    const u1 = 1 - this.uniform(); // (0, 1]
    const u2 = this.uniform();
    return mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Gamma(shape, 1) by Marsaglia–Tsang (with the u^(1/k) boost for shape < 1). */
  gamma(shape: number): number {
    if (!(shape > 0)) throw new RangeError(`rng.gamma: shape must be > 0, got ${shape}`);
    if (shape < 1) {
      const u = 1 - this.uniform();
      return this.gamma(shape + 1) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - this.uniform();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b) as X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b). */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x + y > 0 ? x / (x + y) : 0.5;
  }

  /** Fisher–Yates shuffle in place; returns the array. */
  shuffle<T extends { length: number; [i: number]: any }>(arr: T): T {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = arr[i];
      arr[i] = arr[j];
      arr[j] = t;
    }
    return arr;
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}
