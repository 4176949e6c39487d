// Image transforms of the spec's pipelines (§6.6, §7, §8.4), as JSON-serialisable specs.
//
// Contract: a `TransformSpec` turns an 8-bit RGB image into a normalised 3×size×size float image.
//  * 'train': RandomResizedCrop (torchvision sampling: up to 10 tries of area ~ U(scale)·A and
//    log-aspect ~ U(log ratio), then the centre-crop fallback; or the MAE linear-probe 'single'
//    variant: one try, clamped), horizontal flip with probability `hflip`, normalise, then timm
//    RandomErasing (mode 'pixel') with probability `reprob`. Random draws happen in that order.
//  * 'eval': resize the shorter side to floor(size / cropPct) (256 for 224), centre-crop size.
//  * 'resize': plain resize to size×size (aspect not kept), normalise; no randomness.
// The geometry samplers are shared with the sharp-based path in image_folder.ts, so both paths
// draw the same numbers from the rng. RandAugment (§6.6 step 3) is not implemented.

import type { Rng } from './rng';
import type { RawImage } from './types';
import { IMAGENET_MEAN, IMAGENET_STD } from './types';
import { resampleNormalize, type Box, type Interpolation } from './resample';

interface Common {
  size: number;
  interpolation?: Interpolation;
  mean?: readonly number[];
  std?: readonly number[];
}

export interface TrainTransform extends Common {
  kind: 'train';
  /** Area fraction range; default [0.2, 1] (pretraining). Finetuning/probe use [0.08, 1]. */
  scale?: readonly [number, number];
  /** Aspect ratio range; default [3/4, 4/3]. */
  ratio?: readonly [number, number];
  /** 'torchvision' (10 tries + centre fallback; default) or 'single' (MAE linear probe). */
  cropMode?: 'torchvision' | 'single';
  /** Horizontal flip probability; default 0.5. */
  hflip?: number;
  /** RandomErasing probability (timm, pixel mode); default 0. */
  reprob?: number;
}

export interface EvalTransform extends Common {
  kind: 'eval';
  /** Centre-crop fraction; default 0.875 (resize to 256, crop 224). */
  cropPct?: number;
}

export interface ResizeTransform extends Common {
  kind: 'resize';
}

export type TransformSpec = TrainTransform | EvalTransform | ResizeTransform;

/** §8.4: RRC(scale 0.2–1), flip, normalise. */
export function pretrainTransform(size = 224): TrainTransform {
  return { kind: 'train', size, scale: [0.2, 1], ratio: [3 / 4, 4 / 3], hflip: 0.5, interpolation: 'bicubic' };
}

/** §6.6 without RandAugment: RRC(scale 0.08–1), flip, normalise, RandomErasing 0.25. */
export function finetuneTransform(size = 224): TrainTransform {
  return { kind: 'train', size, scale: [0.08, 1], ratio: [3 / 4, 4 / 3], hflip: 0.5, reprob: 0.25, interpolation: 'bicubic' };
}

/** §7: MAE single-attempt RRC(scale 0.08–1), flip, normalise. */
export function linprobeTransform(size = 224): TrainTransform {
  return { kind: 'train', size, scale: [0.08, 1], ratio: [3 / 4, 4 / 3], cropMode: 'single', hflip: 0.5, interpolation: 'bicubic' };
}

/** §6.6 evaluation: shorter side to size/0.875, centre crop. */
export function evalTransform(size = 224, cropPct = 0.875): EvalTransform {
  return { kind: 'eval', size, cropPct, interpolation: 'bicubic' };
}

/** Python's round(): halves go to the even neighbour. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** RandomResizedCrop box for a width×height image. */
export function sampleResizedCrop(width: number, height: number, rng: Rng,
                                  scale: readonly [number, number] = [0.08, 1],
                                  ratio: readonly [number, number] = [3 / 4, 4 / 3],
                                  mode: 'torchvision' | 'single' = 'torchvision'): Box {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  if (mode === 'single') {
    const target = area * rng.range(scale[0], scale[1]);
    const aspect = Math.exp(rng.range(logLo, logHi));
    const w = Math.max(1, Math.min(pyRound(Math.sqrt(target * aspect)), width));
    const h = Math.max(1, Math.min(pyRound(Math.sqrt(target / aspect)), height));
    const y = rng.int(height - h + 1);
    const x = rng.int(width - w + 1);
    return { x, y, w, h };
  }
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.range(scale[0], scale[1]);
    const aspect = Math.exp(rng.range(logLo, logHi));
    const w = pyRound(Math.sqrt(target * aspect));
    const h = pyRound(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const y = rng.int(height - h + 1);
      const x = rng.int(width - w + 1);
      return { x, y, w, h };
    }
  }
  // Centre-crop fallback.
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = pyRound(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = pyRound(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), w, h };
}

/** Eval geometry: the size the whole image is resized to, and the centre window to keep. */
export function evalGeometry(width: number, height: number, size: number, cropPct = 0.875):
    { resizeW: number; resizeH: number; window: Box } {
  const short = Math.floor(size / cropPct);
  let resizeW: number;
  let resizeH: number;
  if (width <= height) {
    resizeW = short;
    resizeH = Math.floor((short * height) / width);
  } else {
    resizeH = short;
    resizeW = Math.floor((short * width) / height);
  }
  const window = {
    x: pyRound((resizeW - size) / 2),
    y: pyRound((resizeH - size) / 2),
    w: size,
    h: size,
  };
  return { resizeW, resizeH, window };
}

/** The random geometric decisions of a train transform, drawn in the pipeline's order. */
export function sampleTrainGeometry(width: number, height: number, spec: TrainTransform, rng: Rng):
    { box: Box; flip: boolean } {
  const box = sampleResizedCrop(width, height, rng, spec.scale ?? [0.2, 1], spec.ratio ?? [3 / 4, 4 / 3],
                                spec.cropMode ?? 'torchvision');
  const p = spec.hflip ?? 0.5;
  const flip = p > 0 ? rng.uniform() < p : false;
  return { box, flip };
}

/**
 * timm RandomErasing (pixel mode, one box, area U(0.02, 1/3), log-aspect in (0.3, 1/0.3)),
 * in place on a normalised 3×h×w image. Draws nothing else when the probability test fails.
 */
export function randomErase(img: Float32Array, h: number, w: number, rng: Rng, probability: number,
                            minArea = 0.02, maxArea = 1 / 3, minAspect = 0.3): void {
  if (!(rng.uniform() < probability)) return;
  const area = h * w;
  const logLo = Math.log(minAspect);
  const logHi = Math.log(1 / minAspect);
  const c = img.length / area;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = rng.range(minArea, maxArea) * area;
    const aspect = Math.exp(rng.range(logLo, logHi));
    const eh = pyRound(Math.sqrt(target * aspect));
    const ew = pyRound(Math.sqrt(target / aspect));
    if (ew < w && eh < h) {
      const top = rng.int(h - eh + 1);
      const left = rng.int(w - ew + 1);
      for (let ch = 0; ch < c; ch++) {
        for (let y = top; y < top + eh; y++) {
          const row = ch * area + y * w;
          for (let x = left; x < left + ew; x++) img[row + x] = rng.normal();
        }
      }
      return;
    }
  }
}

/** Apply a transform to an 8-bit RGB image in pure TypeScript. */
export function transformRaw(img: RawImage, spec: TransformSpec, rng: Rng): Float32Array {
  const mean = spec.mean ?? IMAGENET_MEAN;
  const std = spec.std ?? IMAGENET_STD;
  const size = spec.size;
  if (spec.kind === 'resize') {
    return resampleNormalize(img, { x: 0, y: 0, w: img.width, h: img.height }, size, size,
                             { interpolation: spec.interpolation ?? 'bilinear', mean, std });
  }
  if (spec.kind === 'eval') {
    const g = evalGeometry(img.width, img.height, size, spec.cropPct ?? 0.875);
    return resampleNormalize(img, { x: 0, y: 0, w: img.width, h: img.height }, g.resizeW, g.resizeH,
                             { interpolation: spec.interpolation ?? 'bicubic', window: g.window, mean, std });
  }
  const { box, flip } = sampleTrainGeometry(img.width, img.height, spec, rng);
  const out = resampleNormalize(img, box, size, size,
                                { interpolation: spec.interpolation ?? 'bicubic', flip, mean, std });
  if ((spec.reprob ?? 0) > 0) randomErase(out, size, size, rng, spec.reprob!);
  return out;
}

/** Normalise an 8-bit RGB HWC image that already has the output size (no resampling). */
export function normalizeRaw(img: RawImage, mean: readonly number[] = IMAGENET_MEAN,
                             std: readonly number[] = IMAGENET_STD, flip = false): Float32Array {
  return resampleNormalize(img, { x: 0, y: 0, w: img.width, h: img.height }, img.width, img.height,
                           { mean, std, flip });
}
