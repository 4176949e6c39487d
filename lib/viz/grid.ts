// Reconstruction visualisation helpers (spec §2.10).
//
// Contract (all images float CHW 3×H×W, normalised; token t = row·(W/p) + col, row-major):
//  * `patchify(img, H, W, p)` → [T, p·p·3] with target[t, (a·p + b)·3 + c] = img[c, p·row + a,
//    p·col + b] (channel fastest), and `unpatchify(pred, h, w, p)` its inverse, where h, w are
//    the token-grid sides (image (h·p)×(w·p)).
//  * `unNormPix(pred, target, D)` undoes norm_pix_loss per token: pred·sqrt(var + 1e-6) + mean,
//    with mean and unbiased (D − 1) variance of that token's target row.
//  * `maskImage(img, mask, p)` fills removed patches (mask = 1) with `fill` (default 0 in
//    normalised space, i.e. the dataset mean colour, a neutral grey); `pasteVisible` keeps visible
//    patches of the original and masked patches of the reconstruction.
//  * `reconstructionGrid(rows, mean, std)` un-normalises (x·std + mean), clamps to [0, 1] and lays
//    out rows of [original | masked | reconstruction] with a `gap`-pixel white border, returning
//    RGB bytes plus width and height.

import { IMAGENET_MEAN, IMAGENET_STD } from '../data/types';

export function patchify(img: Float32Array, H: number, W: number, p: number): Float32Array {
  if (H % p !== 0 || W % p !== 0) throw new RangeError(`patchify: ${H}x${W} is not divisible by patch ${p}`);
  if (img.length !== 3 * H * W) throw new RangeError(`patchify: image has ${img.length} values, expected 3x${H}x${W}`);
  const h = H / p;
  const w = W / p;
  const D = p * p * 3;
  const out = new Float32Array(h * w * D);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const t = i * w + j;
      for (let a = 0; a < p; a++) {
        for (let b = 0; b < p; b++) {
          for (let c = 0; c < 3; c++) out[t * D + (a * p + b) * 3 + c] = img[c * H * W + (i * p + a) * W + j * p + b];
        }
      }
    }
  }
  return out;
}

export function unpatchify(pred: Float32Array, h: number, w: number, p: number): Float32Array {
  const D = p * p * 3;
  if (pred.length !== h * w * D) throw new RangeError(`unpatchify: ${pred.length} values, expected ${h * w}x${D}`);
  const H = h * p;
  const W = w * p;
  const out = new Float32Array(3 * H * W);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const t = i * w + j;
      for (let a = 0; a < p; a++) {
        for (let b = 0; b < p; b++) {
          for (let c = 0; c < 3; c++) out[c * H * W + (i * p + a) * W + j * p + b] = pred[t * D + (a * p + b) * 3 + c];
        }
      }
    }
  }
  return out;
}

export function unNormPix(pred: Float32Array, target: Float32Array, patchDim = 768): Float32Array {
  if (pred.length !== target.length || pred.length % patchDim !== 0) {
    throw new RangeError(`unNormPix: pred ${pred.length} and target ${target.length} values, patch dim ${patchDim}`);
  }
  const out = new Float32Array(pred.length);
  const T = pred.length / patchDim;
  for (let t = 0; t < T; t++) {
    const o = t * patchDim;
    let mean = 0;
    for (let k = 0; k < patchDim; k++) mean += target[o + k];
    mean /= patchDim;
    let v = 0;
    for (let k = 0; k < patchDim; k++) v += (target[o + k] - mean) ** 2;
    v /= patchDim - 1;
    const s = Math.sqrt(v + 1e-6);
    for (let k = 0; k < patchDim; k++) out[o + k] = pred[o + k] * s + mean;
  }
  return out;
}

function sideOf(img: Float32Array, height?: number, width?: number): [number, number] {
  if (height !== undefined && width !== undefined) return [height, width];
  const s = Math.round(Math.sqrt(img.length / 3));
  if (3 * s * s !== img.length) throw new RangeError(`image of ${img.length} values is not 3xSxS; pass height and width`);
  return [s, s];
}

export interface MaskOptions {
  height?: number;
  width?: number;
  /** Per-channel fill value in normalised space (default [0, 0, 0]). */
  fill?: readonly number[];
}

export function maskImage(img: Float32Array, mask: ArrayLike<number>, p: number, opts: MaskOptions = {}): Float32Array {
  const [H, W] = sideOf(img, opts.height, opts.width);
  const w = W / p;
  if (mask.length !== (H / p) * w) throw new RangeError(`maskImage: mask has ${mask.length} tokens, expected ${(H / p) * w}`);
  const fill = opts.fill ?? [0, 0, 0];
  const out = Float32Array.from(img);
  for (let t = 0; t < mask.length; t++) {
    if (!mask[t]) continue;
    const i = Math.floor(t / w);
    const j = t % w;
    for (let c = 0; c < 3; c++) {
      for (let a = 0; a < p; a++) out.fill(fill[c], c * H * W + (i * p + a) * W + j * p, c * H * W + (i * p + a) * W + j * p + p);
    }
  }
  return out;
}

export function pasteVisible(recon: Float32Array, original: Float32Array, mask: ArrayLike<number>, p: number,
                             opts: { height?: number; width?: number } = {}): Float32Array {
  const [H, W] = sideOf(original, opts.height, opts.width);
  const w = W / p;
  const out = Float32Array.from(recon);
  for (let t = 0; t < mask.length; t++) {
    if (mask[t]) continue;
    const i = Math.floor(t / w);
    const j = t % w;
    for (let c = 0; c < 3; c++) {
      for (let a = 0; a < p; a++) {
        const s = c * H * W + (i * p + a) * W + j * p;
        out.set(original.subarray(s, s + p), s);
      }
    }
  }
  return out;
}

/** Un-normalise, clamp to [0, 1] and convert a CHW float image to HWC RGB bytes. */
export function toRgbBytes(img: Float32Array, H: number, W: number,
                           mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD): Uint8Array {
  const out = new Uint8Array(H * W * 3);
  for (let c = 0; c < 3; c++) {
    for (let k = 0; k < H * W; k++) {
      let v = img[c * H * W + k] * std[c] + mean[c];
      if (!(v > 0)) v = 0; // also maps NaN to 0
      if (v > 1) v = 1;
      out[k * 3 + c] = Math.round(v * 255);
    }
  }
  return out;
}

export interface GridRow {
  original: Float32Array;
  masked: Float32Array;
  reconstruction: Float32Array;
}

export interface GridImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export function reconstructionGrid(rows: readonly GridRow[], mean: readonly number[] = IMAGENET_MEAN,
                                   std: readonly number[] = IMAGENET_STD,
                                   opts: { height?: number; width?: number; gap?: number } = {}): GridImage {
  if (rows.length === 0) throw new RangeError('reconstructionGrid: no rows');
  const [H, W] = sideOf(rows[0].original, opts.height, opts.width);
  const gap = opts.gap ?? 2;
  const width = 3 * W + 4 * gap;
  const height = rows.length * H + (rows.length + 1) * gap;
  const data = new Uint8Array(width * height * 3).fill(255);
  rows.forEach((row, r) => {
    [row.original, row.masked, row.reconstruction].forEach((img, k) => {
      if (img.length !== 3 * H * W) throw new RangeError(`reconstructionGrid: row ${r} image ${k} has ${img.length} values, expected 3x${H}x${W}`);
      const rgb = toRgbBytes(img, H, W, mean, std);
      const x0 = gap + k * (W + gap);
      const y0 = gap + r * (H + gap);
      for (let y = 0; y < H; y++) data.set(rgb.subarray(y * W * 3, (y + 1) * W * 3), ((y0 + y) * width + x0) * 3);
    });
  });
  return { data, width, height };
}
