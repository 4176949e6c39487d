// Procedural image classification set that needs no files ("synthetic shapes").
//
// Contract: sample i of a set with seed s has label i mod numClasses and a source image rendered
// from `Rng.forKey(s, SYNTH_KEY, i)` alone, so it is identical in every process and at every call;
// the per-call rng passed to `get` only drives the augmentation (`transform`). Ten classes
// (`SYNTHETIC_CLASSES`): five solid anti-aliased shapes on a mildly graded background (circle,
// square, triangle, ring, cross) and five full-frame textures (near-horizontal stripes,
// near-vertical stripes, checkerboard, dot lattice, strong smooth gradient), each with random
// colours (with a minimum contrast), position, size, orientation, frequency and pixel noise.
// Geometry lives in unit coordinates, so any render size shows the same scene.

import { Rng } from './rng';
import type { Dataset, RawImage, Sample, WorkerRecipe } from './types';
import { transformRaw, type TransformSpec } from './augment';

export const SYNTHETIC_CLASSES: readonly string[] = [
  'circle', 'square', 'triangle', 'ring', 'cross',
  'hstripes', 'vstripes', 'checkerboard', 'dots', 'gradient',
];

const SYNTH_KEY = 0x53594e54; // "SYNT"
const TAU = 2 * Math.PI;
const DEG = Math.PI / 180;

type Rgb = [number, number, number];
type Field = (u: number, v: number) => number; // signed distance (< 0 inside), unit coordinates

function randomColour(rng: Rng): Rgb {
  return [rng.int(256), rng.int(256), rng.int(256)];
}

function lum(c: Rgb): number {
  return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
}

/** A colour that differs clearly from `ref` (luminance or RGB distance). */
function contrasting(ref: Rgb, rng: Rng): Rgb {
  let c = randomColour(rng);
  for (let i = 0; i < 32; i++) {
    const dist = Math.hypot(c[0] - ref[0], c[1] - ref[1], c[2] - ref[2]);
    if (Math.abs(lum(c) - lum(ref)) >= 60 || dist >= 150) break;
    c = randomColour(rng);
  }
  return c;
}

function boxSdf(x: number, y: number, hx: number, hy: number): number {
  const qx = Math.abs(x) - hx;
  const qy = Math.abs(y) - hy;
  const ox = qx > 0 ? qx : 0;
  const oy = qy > 0 ? qy : 0;
  const outside = Math.sqrt(ox * ox + oy * oy);
  const m = qx > qy ? qx : qy;
  return outside + (m < 0 ? m : 0);
}

/** The distance field of class `kind` (0..8); class 9 (gradient) has none. */
function makeField(kind: number, rng: Rng): Field | null {
  switch (kind) {
    case 0: { // circle
      const cx = rng.range(0.3, 0.7), cy = rng.range(0.3, 0.7), r = rng.range(0.12, 0.3);
      return (u, v) => Math.sqrt((u - cx) * (u - cx) + (v - cy) * (v - cy)) - r;
    }
    case 1: { // square, any rotation
      const cx = rng.range(0.3, 0.7), cy = rng.range(0.3, 0.7), hs = rng.range(0.1, 0.24);
      const th = rng.range(0, Math.PI / 2), c = Math.cos(th), s = Math.sin(th);
      return (u, v) => {
        const dx = u - cx, dy = v - cy;
        return boxSdf(c * dx + s * dy, -s * dx + c * dy, hs, hs);
      };
    }
    case 2: { // equilateral triangle: intersection of three half-planes
      const cx = rng.range(0.35, 0.65), cy = rng.range(0.35, 0.65), rho = rng.range(0.07, 0.14);
      const th = rng.range(0, TAU);
      const n = [0, 1, 2].map((k) => [Math.cos(th + (k * TAU) / 3), Math.sin(th + (k * TAU) / 3)]);
      return (u, v) => {
        const dx = u - cx, dy = v - cy;
        const d0 = n[0][0] * dx + n[0][1] * dy;
        const d1 = n[1][0] * dx + n[1][1] * dy;
        const d2 = n[2][0] * dx + n[2][1] * dy;
        return Math.max(d0, d1, d2) - rho;
      };
    }
    case 3: { // ring
      const cx = rng.range(0.3, 0.7), cy = rng.range(0.3, 0.7), r = rng.range(0.14, 0.3);
      const hw = rng.range(0.025, 0.055);
      return (u, v) => Math.abs(Math.sqrt((u - cx) * (u - cx) + (v - cy) * (v - cy)) - r) - hw;
    }
    case 4: { // cross (plus sign), any rotation
      const cx = rng.range(0.3, 0.7), cy = rng.range(0.3, 0.7);
      const a = rng.range(0.14, 0.28), t = rng.range(0.035, 0.07);
      const th = rng.range(0, Math.PI / 2), c = Math.cos(th), s = Math.sin(th);
      return (u, v) => {
        const dx = u - cx, dy = v - cy;
        const x = c * dx + s * dy, y = -s * dx + c * dy;
        return Math.min(boxSdf(x, y, a, t), boxSdf(x, y, t, a));
      };
    }
    case 5: // stripes running within ±25° of horizontal
    case 6: { // stripes running within ±25° of vertical
      const phi = kind === 5 ? rng.range(-25, 25) * DEG : rng.range(65, 115) * DEG;
      const nx = -Math.sin(phi), ny = Math.cos(phi);
      const f = rng.range(3, 8), ph = rng.range(0, TAU);
      const k = TAU * f;
      return (u, v) => Math.sin(k * (nx * u + ny * v) + ph) / k;
    }
    case 7: { // checkerboard
      const th = rng.range(0, Math.PI / 2), c = Math.cos(th), s = Math.sin(th);
      const f = rng.range(2.5, 6), p1 = rng.range(0, TAU), p2 = rng.range(0, TAU);
      const k = TAU * f;
      return (u, v) => (Math.sin(k * (c * u + s * v) + p1) * Math.sin(k * (-s * u + c * v) + p2)) / k;
    }
    case 8: { // dot lattice
      const th = rng.range(0, Math.PI / 2), c = Math.cos(th), s = Math.sin(th);
      const f = rng.range(3, 6), rho = rng.range(0.18, 0.32);
      const ox = rng.uniform(), oy = rng.uniform();
      return (u, v) => {
        const qx = (c * u + s * v) * f + ox, qy = (-s * u + c * v) * f + oy;
        const fx = qx - Math.floor(qx) - 0.5, fy = qy - Math.floor(qy) - 0.5;
        return (Math.sqrt(fx * fx + fy * fy) - rho) / f;
      };
    }
    default:
      return null;
  }
}

/** Render one scene of class `kind` at size×size from `rng` (8-bit RGB HWC). */
export function renderSynthetic(kind: number, size: number, rng: Rng, maxNoise = 10): RawImage {
  const data = new Uint8Array(size * size * 3);
  const field = makeField(kind, rng);
  // Background: two nearby colours along a random direction (mild for shapes, strong for class 9).
  const c1 = randomColour(rng);
  let c2: Rgb;
  let gradStrength: number;
  if (field === null) {
    c2 = contrasting(c1, rng);
    gradStrength = rng.range(1.0, 1.4);
  } else {
    c2 = [0, 1, 2].map((i) => Math.min(255, Math.max(0, c1[i] + rng.range(-40, 40)))) as Rgb;
    gradStrength = 1;
  }
  const gth = rng.range(0, TAU), gx = Math.cos(gth), gy = Math.sin(gth);
  const fg = contrasting(c1, rng);
  const sigma = rng.range(0, maxNoise);
  // Pixel noise from a local xorshift32 stream (seeded from rng): the sum of four uniform bytes,
  // scaled to unit variance, is close to normal and much cheaper than Box–Muller.
  let xs = rng.next() | 1;
  const noiseScale = sigma / 147.8;
  const px = 1 / size;
  const [r1, g1, b1] = c1;
  const dr = c2[0] - r1, dg = c2[1] - g1, db = c2[2] - b1;
  const [fr, fgg, fb] = fg;
  for (let y = 0; y < size; y++) {
    const v = (y + 0.5) * px;
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) * px;
      let t = 0.5 + ((u - 0.5) * gx + (v - 0.5) * gy) * gradStrength;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      let alpha = 0;
      if (field === null) {
        t = t * t * (3 - 2 * t);
      } else {
        alpha = 0.5 - field(u, v) / px;
        alpha = alpha < 0 ? 0 : alpha > 1 ? 1 : alpha;
      }
      const br = r1 + dr * t, bg = g1 + dg * t, bb = b1 + db * t;
      let nr = 0, ng = 0, nb = 0;
      if (noiseScale > 0) {
        xs ^= xs << 13; xs ^= xs >>> 17; xs ^= xs << 5;
        nr = ((xs & 255) + ((xs >>> 8) & 255) + ((xs >>> 16) & 255) + (xs >>> 24) - 510) * noiseScale;
        xs ^= xs << 13; xs ^= xs >>> 17; xs ^= xs << 5;
        ng = ((xs & 255) + ((xs >>> 8) & 255) + ((xs >>> 16) & 255) + (xs >>> 24) - 510) * noiseScale;
        xs ^= xs << 13; xs ^= xs >>> 17; xs ^= xs << 5;
        nb = ((xs & 255) + ((xs >>> 8) & 255) + ((xs >>> 16) & 255) + (xs >>> 24) - 510) * noiseScale;
      }
      const o = (y * size + x) * 3;
      const vr = br + (fr - br) * alpha + nr;
      const vg = bg + (fgg - bg) * alpha + ng;
      const vb = bb + (fb - bb) * alpha + nb;
      data[o] = vr < 0 ? 0 : vr > 255 ? 255 : (vr + 0.5) | 0;
      data[o + 1] = vg < 0 ? 0 : vg > 255 ? 255 : (vg + 0.5) | 0;
      data[o + 2] = vb < 0 ? 0 : vb > 255 ? 255 : (vb + 0.5) | 0;
    }
  }
  return { data, width: size, height: size };
}

export interface SyntheticOptions {
  /** Number of samples; default 10000. */
  length?: number;
  /** Seed of the scenes (use different seeds for train and validation sets); default 0. */
  seed?: number;
  /** Number of classes, 1..10 (the first k of SYNTHETIC_CLASSES); default 10. */
  numClasses?: number;
  /** Output side when no transform is given; default 64. */
  size?: number;
  /** Side at which scenes are rendered before the transform; default the output size. */
  renderSize?: number;
  /** Default: plain resize (identity when renderSize = size). */
  transform?: TransformSpec;
  /** Upper bound of the per-image noise std, in 8-bit units; default 10. */
  maxNoise?: number;
}

export class SyntheticShapes implements Dataset {
  readonly length: number;
  readonly numClasses: number;
  readonly imageSize: number;
  readonly classNames: readonly string[];
  readonly seed: number;
  readonly renderSize: number;
  readonly transform: TransformSpec;
  readonly maxNoise: number;

  constructor(opts: SyntheticOptions = {}) {
    this.length = opts.length ?? 10000;
    this.seed = opts.seed ?? 0;
    this.numClasses = opts.numClasses ?? 10;
    if (!Number.isInteger(this.numClasses) || this.numClasses < 1 || this.numClasses > SYNTHETIC_CLASSES.length) {
      throw new RangeError(`SyntheticShapes: numClasses must be 1..${SYNTHETIC_CLASSES.length}, got ${opts.numClasses}`);
    }
    if (!Number.isInteger(this.length) || this.length < 1) {
      throw new RangeError(`SyntheticShapes: length must be a positive integer, got ${opts.length}`);
    }
    this.transform = opts.transform ?? { kind: 'resize', size: opts.size ?? 64 };
    this.imageSize = this.transform.size;
    this.renderSize = opts.renderSize ?? this.imageSize;
    this.maxNoise = opts.maxNoise ?? 10;
    this.classNames = SYNTHETIC_CLASSES.slice(0, this.numClasses);
  }

  label(index: number): number {
    return index % this.numClasses;
  }

  /** The untransformed scene of sample `index` (8-bit RGB, renderSize²). */
  raw(index: number): RawImage {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`SyntheticShapes: index ${index} out of range [0, ${this.length})`);
    }
    return renderSynthetic(this.label(index), this.renderSize, Rng.forKey(this.seed, SYNTH_KEY, index), this.maxNoise);
  }

  get(index: number, rng: Rng): Sample {
    return { image: transformRaw(this.raw(index), this.transform, rng), label: this.label(index) };
  }

  workerRecipe(): WorkerRecipe {
    const options: SyntheticOptions = {
      length: this.length, seed: this.seed, numClasses: this.numClasses, renderSize: this.renderSize,
      transform: this.transform, maxNoise: this.maxNoise,
    };
    return { module: __filename, factory: 'createSyntheticShapes', options };
  }
}

/** Worker factory (see WorkerRecipe). */
export function createSyntheticShapes(opts: SyntheticOptions): SyntheticShapes {
  return new SyntheticShapes(opts);
}
