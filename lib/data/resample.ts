// Pure-TypeScript image resampling for small and synthetic images.
//
// Contract: `resampleNormalize` resizes an integer source box of an 8-bit RGB HWC image to
// outW×outH with PIL's separable algorithm (bilinear = triangle, support 1; bicubic = Keys
// a = −0.5, support 2; the kernel is widened by the scale factor when downsampling, i.e.
// antialiased, and taps are clamped to the box as if the box had been cropped first), optionally
// keeps only a sub-window of the output (centre crops), mirrors it horizontally on request, clamps
// to [0, 255] and writes ImageNet-style normalised floats ((v/255 − mean)/std) in CHW layout.
// Intermediate values stay in float (PIL rounds to 8 bits between the passes; differences ≤ 1/255).

import type { RawImage } from './types';

export type Interpolation = 'bilinear' | 'bicubic';

/** Integer crop box in source pixels. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

function triangle(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

interface Coeffs {
  start: Int32Array; // first source tap (box-local)
  count: Int32Array; // number of taps
  taps: number; // stride of `weights`
  weights: Float64Array;
}

function coeffs(inLen: number, outLen: number, interp: Interpolation): Coeffs {
  const filter = interp === 'bicubic' ? bicubic : triangle;
  const baseSupport = interp === 'bicubic' ? 2 : 1;
  const scale = inLen / outLen;
  const filterscale = Math.max(scale, 1);
  const support = baseSupport * filterscale;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outLen);
  const count = new Int32Array(outLen);
  const weights = new Float64Array(outLen * taps);
  const ss = 1 / filterscale;
  for (let o = 0; o < outLen; o++) {
    const center = (o + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inLen) xmax = inLen;
    const n = Math.min(xmax - xmin, taps);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const w = filter((k + xmin - center + 0.5) * ss);
      weights[o * taps + k] = w;
      sum += w;
    }
    if (sum !== 0) for (let k = 0; k < n; k++) weights[o * taps + k] /= sum;
    start[o] = xmin;
    count[o] = n;
  }
  return { start, count, taps, weights };
}

export interface ResampleOptions {
  interpolation?: Interpolation;
  /** Mirror the output horizontally. */
  flip?: boolean;
  /** Keep only this window of the outW×outH result (default: all of it). */
  window?: Box;
  mean?: readonly number[];
  std?: readonly number[];
}

/**
 * Resize `box` of `src` to outW×outH and return the normalised CHW float image of the window
 * (3×window.h×window.w).
 */
export function resampleNormalize(src: RawImage, box: Box, outW: number, outH: number,
                                  opts: ResampleOptions = {}): Float32Array {
  const interp = opts.interpolation ?? 'bicubic';
  const win = opts.window ?? { x: 0, y: 0, w: outW, h: outH };
  const mean = opts.mean ?? [0.485, 0.456, 0.406];
  const std = opts.std ?? [0.229, 0.224, 0.225];
  const flip = opts.flip ?? false;
  const { width: W, height: H, data } = src;
  if (data.length !== W * H * 3) throw new RangeError(`resample: image data has ${data.length} bytes, expected ${W}x${H}x3`);
  if (box.x < 0 || box.y < 0 || box.w <= 0 || box.h <= 0 || box.x + box.w > W || box.y + box.h > H) {
    throw new RangeError(`resample: box ${JSON.stringify(box)} outside ${W}x${H} image`);
  }
  if (win.x < 0 || win.y < 0 || win.x + win.w > outW || win.y + win.h > outH) {
    throw new RangeError(`resample: window ${JSON.stringify(win)} outside ${outW}x${outH} output`);
  }
  const cw = win.w;
  const ch = win.h;
  const plane = cw * ch;
  const out = new Float32Array(3 * plane);
  const scl = [1 / (255 * std[0]), 1 / (255 * std[1]), 1 / (255 * std[2])];
  const off = [mean[0] / std[0], mean[1] / std[1], mean[2] / std[2]];

  // Identity: same size, no resampling needed.
  if (box.w === outW && box.h === outH) {
    for (let y = 0; y < ch; y++) {
      const srow = (box.y + win.y + y) * W + box.x + win.x;
      for (let x = 0; x < cw; x++) {
        const si = (srow + x) * 3;
        const ox = flip ? cw - 1 - x : x;
        const o = y * cw + ox;
        out[o] = data[si] * scl[0] - off[0];
        out[plane + o] = data[si + 1] * scl[1] - off[1];
        out[2 * plane + o] = data[si + 2] * scl[2] - off[2];
      }
    }
    return out;
  }

  const hc = coeffs(box.w, outW, interp);
  const vc = coeffs(box.h, outH, interp);
  // Source rows (box-local) the window's output rows read.
  let rmin = Infinity;
  let rmax = -Infinity;
  for (let y = win.y; y < win.y + ch; y++) {
    rmin = Math.min(rmin, vc.start[y]);
    rmax = Math.max(rmax, vc.start[y] + vc.count[y]);
  }
  const nrows = rmax - rmin;
  // Horizontal pass: nrows × cw × 3.
  const tmp = new Float64Array(nrows * cw * 3);
  for (let r = 0; r < nrows; r++) {
    const srow = (box.y + rmin + r) * W + box.x;
    for (let x = 0; x < cw; x++) {
      const ox = win.x + x;
      const s0 = hc.start[ox];
      const n = hc.count[ox];
      const wbase = ox * hc.taps;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      for (let k = 0; k < n; k++) {
        const w = hc.weights[wbase + k];
        const si = (srow + s0 + k) * 3;
        a0 += w * data[si];
        a1 += w * data[si + 1];
        a2 += w * data[si + 2];
      }
      const ti = (r * cw + x) * 3;
      tmp[ti] = a0;
      tmp[ti + 1] = a1;
      tmp[ti + 2] = a2;
    }
  }
  // Vertical pass, clamp, normalise, write CHW.
  for (let y = 0; y < ch; y++) {
    const oy = win.y + y;
    const s0 = vc.start[oy] - rmin;
    const n = vc.count[oy];
    const wbase = oy * vc.taps;
    for (let x = 0; x < cw; x++) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      for (let k = 0; k < n; k++) {
        const w = vc.weights[wbase + k];
        const ti = ((s0 + k) * cw + x) * 3;
        a0 += w * tmp[ti];
        a1 += w * tmp[ti + 1];
        a2 += w * tmp[ti + 2];
      }
      a0 = a0 < 0 ? 0 : a0 > 255 ? 255 : a0;
      a1 = a1 < 0 ? 0 : a1 > 255 ? 255 : a1;
      a2 = a2 < 0 ? 0 : a2 > 255 ? 255 : a2;
      const o = y * cw + (flip ? cw - 1 - x : x);
      out[o] = a0 * scl[0] - off[0];
      out[plane + o] = a1 * scl[1] - off[1];
      out[2 * plane + o] = a2 * scl[2] - off[2];
    }
  }
  return out;
}
