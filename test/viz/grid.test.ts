import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { maskImage, pasteVisible, patchify, reconstructionGrid, toRgbBytes, unNormPix, unpatchify } from '../../lib/viz/grid';
import { encodePng } from '../../lib/viz/png';
import { Rng } from '../../lib/data/rng';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../lib/data/types';

function randomImage(H: number, W: number, seed = 1): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: 3 * H * W }, () => r.normal());
}

describe('patchify / unpatchify (SPEC 2.10)', () => {
  test('channel-fastest layout inside a patch', () => {
    const img = randomImage(32, 48, 2);
    const t = patchify(img, 32, 48, 16); // grid 2x3, D = 768
    expect(t).toHaveLength(6 * 768);
    const [h, w, a, b, c] = [1, 2, 5, 11, 2];
    const l = h * 3 + w;
    expect(t[l * 768 + (a * 16 + b) * 3 + c]).toBe(img[c * 32 * 48 + (16 * h + a) * 48 + 16 * w + b]);
    expect(unpatchify(t, 2, 3, 16)).toEqual(img);
  });

  test('size errors', () => {
    expect(() => unpatchify(new Float32Array(10), 2, 2, 4)).toThrow(/expected 4x48/);
    expect(() => patchify(new Float32Array(3 * 10 * 10), 10, 10, 4)).toThrow(/divisible/);
  });
});

test('unNormPix inverts norm_pix with unbiased variance and eps 1e-6 inside the sqrt', () => {
  const p = 4;
  const D = p * p * 3;
  const target = randomImage(8, 8, 3).map((v) => v * 0.3 + 0.1);
  const t = patchify(target, 8, 8, p);
  const normed = new Float32Array(t.length);
  for (let l = 0; l < 4; l++) {
    const row = t.subarray(l * D, (l + 1) * D);
    const mean = row.reduce((a, b) => a + b, 0) / D;
    const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / (D - 1);
    for (let k = 0; k < D; k++) normed[l * D + k] = (row[k] - mean) / Math.sqrt(v + 1e-6);
  }
  const back = unNormPix(normed, t, D);
  for (let k = 0; k < t.length; k++) expect(back[k]).toBeCloseTo(t[k], 5);
  // Constant target patch: prediction scaled by sqrt(1e-6) = 1e-3.
  const flat = new Float32Array(D).fill(2);
  const pred = new Float32Array(D).fill(5);
  expect(unNormPix(pred, flat, D)[0]).toBeCloseTo(2 + 5e-3, 6);
  expect(() => unNormPix(pred, flat, 7)).toThrow(/patch dim/);
});

test('maskImage greys removed patches; pasteVisible keeps visible ones', () => {
  const img = randomImage(8, 8, 4);
  const mask = [1, 0, 0, 1]; // 2x2 grid, patch 4
  const m = maskImage(img, mask, 4);
  for (let c = 0; c < 3; c++) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
    const t = Math.floor(y / 4) * 2 + Math.floor(x / 4);
    const k = c * 64 + y * 8 + x;
    expect(m[k]).toBe(mask[t] ? 0 : img[k]);
  }
  const fill = [0, 1, 2];
  expect(maskImage(img, mask, 4, { fill })[2 * 64]).toBe(2);
  const recon = new Float32Array(img.length).fill(9);
  const pasted = pasteVisible(recon, img, mask, 4);
  expect(pasted[0]).toBe(9);
  expect(pasted[4]).toBe(img[4]);
  expect(() => maskImage(img, [1, 0], 4)).toThrow(/expected 4/);
});

describe('reconstructionGrid', () => {
  test('layout and PNG dimensions', async () => {
    const rows = [1, 2].map((s) => ({ original: randomImage(16, 16, s), masked: randomImage(16, 16, s + 10), reconstruction: randomImage(16, 16, s + 20) }));
    const g = reconstructionGrid(rows, IMAGENET_MEAN, IMAGENET_STD, { gap: 2 });
    expect([g.width, g.height]).toEqual([3 * 16 + 4 * 2, 2 * 16 + 3 * 2]);
    expect(g.data).toHaveLength(g.width * g.height * 3);
    // Top-left pixel of row 1, column 2 (the reconstruction) equals its own un-normalised value.
    const rgb = toRgbBytes(rows[1].reconstruction, 16, 16);
    const x0 = 2 + 2 * 18;
    const y0 = 2 + 18;
    expect([...g.data.subarray((y0 * g.width + x0) * 3, (y0 * g.width + x0) * 3 + 3)]).toEqual([...rgb.subarray(0, 3)]);
    expect([...g.data.subarray(0, 3)]).toEqual([255, 255, 255]); // gap
    const meta = await sharp(encodePng(g.data, g.width, g.height, 3)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', g.width, g.height]);
  });

  test('un-normalise and clamp', () => {
    const img = new Float32Array(3 * 4);
    for (let c = 0; c < 3; c++) {
      img[c * 4] = (128 / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
      img[c * 4 + 1] = 100;
      img[c * 4 + 2] = -100;
      img[c * 4 + 3] = NaN;
    }
    const rgb = toRgbBytes(img, 2, 2);
    expect([...rgb]).toEqual([128, 128, 128, 255, 255, 255, 0, 0, 0, 0, 0, 0]);
    expect(() => reconstructionGrid([])).toThrow(/no rows/);
  });
});
