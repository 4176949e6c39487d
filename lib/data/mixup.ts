// Mixup / CutMix with label smoothing (timm 0.3.2 `Mixup`, mode "batch"; spec §6.6).
//
// Contract: `mixBatch(images, labels, [N, C, H, W], rng, opts)` mixes the float NCHW batch in place
// with its reverse along the batch axis and returns soft targets [N, numClasses] (each row sums to
// 1). Draw order follows timm: u < prob? → u < switchProb (CutMix) → λ ~ Beta(α, α) → for CutMix
// the box centre cy = randint(0, H), cx = randint(0, W). CutMix box sides are int(H·√(1−λ)),
// int(W·√(1−λ)), clipped to the image; λ is corrected to 1 − box area/(H·W). Targets are
// smoothed one-hots (off = s/K, on = 1 − s + off) mixed as λ·y + (1 − λ)·y_reversed. When no
// mixing happens (prob test fails or λ = 1) the images are untouched and the targets are the
// plain smoothed one-hots. N must be even (timm asserts it).

import type { Rng } from './rng';

export interface MixupOptions {
  numClasses: number;
  /** Mixup Beta(α, α); 0 disables mixup. Default 0.8. */
  mixupAlpha?: number;
  /** CutMix Beta(α, α); 0 disables CutMix. Default 1.0. */
  cutmixAlpha?: number;
  /** Probability of mixing a batch at all. Default 1.0. */
  prob?: number;
  /** Probability of CutMix when both are enabled. Default 0.5. */
  switchProb?: number;
  /** Label smoothing. Default 0.1. */
  labelSmoothing?: number;
  /** Recompute λ from the clipped CutMix box. Default true. */
  correctLam?: boolean;
}

export interface MixResult {
  /** Soft targets, row-major [N, numClasses]. */
  targets: Float32Array;
  /** Weight of each sample's own label. */
  lam: number;
  cutmix: boolean;
  /** CutMix box [y0, y1) × [x0, x1) when cutmix. */
  box?: { y0: number; y1: number; x0: number; x1: number };
}

/** Smoothed one-hot targets mixed with the batch-reversed ones. */
export function mixTargets(labels: ArrayLike<number>, numClasses: number, lam: number, smoothing: number): Float32Array {
  const n = labels.length;
  const off = smoothing / numClasses;
  const on = 1 - smoothing + off;
  const t = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) {
    const a = labels[i];
    const b = labels[n - 1 - i];
    if (!Number.isInteger(a) || a < 0 || a >= numClasses) throw new RangeError(`mixup: label ${a} not in [0, ${numClasses})`);
    const row = t.subarray(i * numClasses, (i + 1) * numClasses);
    row.fill(off);
    row[a] += (on - off) * lam;
    row[b] += (on - off) * (1 - lam);
  }
  return t;
}

export function mixBatch(images: Float32Array, labels: ArrayLike<number>,
                         dims: readonly [number, number, number, number], rng: Rng, opts: MixupOptions): MixResult {
  const [n, c, h, w] = dims;
  if (images.length !== n * c * h * w) throw new RangeError(`mixup: images has ${images.length} values, dims [${dims.join(', ')}]`);
  if (labels.length !== n) throw new RangeError(`mixup: ${labels.length} labels for batch of ${n}`);
  if (n % 2 !== 0) throw new RangeError(`mixup: batch size must be even, got ${n}`);
  const mixupAlpha = opts.mixupAlpha ?? 0.8;
  const cutmixAlpha = opts.cutmixAlpha ?? 1.0;
  const prob = opts.prob ?? 1.0;
  const switchProb = opts.switchProb ?? 0.5;
  const smoothing = opts.labelSmoothing ?? 0.1;
  const correctLam = opts.correctLam ?? true;

  let lam = 1;
  let cutmix = false;
  if ((mixupAlpha > 0 || cutmixAlpha > 0) && rng.uniform() < prob) {
    if (mixupAlpha > 0 && cutmixAlpha > 0) {
      cutmix = rng.uniform() < switchProb;
      lam = cutmix ? rng.beta(cutmixAlpha, cutmixAlpha) : rng.beta(mixupAlpha, mixupAlpha);
    } else if (mixupAlpha > 0) {
      lam = rng.beta(mixupAlpha, mixupAlpha);
    } else {
      cutmix = true;
      lam = rng.beta(cutmixAlpha, cutmixAlpha);
    }
  }
  if (lam === 1) return { targets: mixTargets(labels, opts.numClasses, 1, smoothing), lam: 1, cutmix: false };

  const per = c * h * w;
  const plane = h * w;
  let box: MixResult['box'];
  if (cutmix) {
    const ratio = Math.sqrt(1 - lam);
    const cutH = Math.trunc(h * ratio);
    const cutW = Math.trunc(w * ratio);
    const cy = rng.int(h);
    const cx = rng.int(w);
    const clip = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
    const y0 = clip(cy - Math.floor(cutH / 2), h);
    const y1 = clip(cy + Math.floor(cutH / 2), h);
    const x0 = clip(cx - Math.floor(cutW / 2), w);
    const x1 = clip(cx + Math.floor(cutW / 2), w);
    box = { y0, y1, x0, x1 };
    if (correctLam) lam = 1 - ((y1 - y0) * (x1 - x0)) / (h * w);
    // Swap the boxes of samples i and n−1−i (each gets the other's original pixels).
    for (let i = 0; i < n / 2; i++) {
      const a = i * per;
      const b = (n - 1 - i) * per;
      for (let ch = 0; ch < c; ch++) {
        for (let y = y0; y < y1; y++) {
          const o = ch * plane + y * w;
          for (let x = x0; x < x1; x++) {
            const t = images[a + o + x];
            images[a + o + x] = images[b + o + x];
            images[b + o + x] = t;
          }
        }
      }
    }
  } else {
    const l = lam;
    for (let i = 0; i < n / 2; i++) {
      const a = i * per;
      const b = (n - 1 - i) * per;
      for (let k = 0; k < per; k++) {
        const xa = images[a + k];
        const xb = images[b + k];
        images[a + k] = l * xa + (1 - l) * xb;
        images[b + k] = l * xb + (1 - l) * xa;
      }
    }
  }
  return { targets: mixTargets(labels, opts.numClasses, lam, smoothing), lam, cutmix, box };
}
