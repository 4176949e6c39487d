import { describe, expect, test } from 'vitest';
import { Rng } from '../../lib/data/rng';
import {
  evalGeometry, evalTransform, finetuneTransform, linprobeTransform, pretrainTransform, pyRound, randomErase,
  sampleResizedCrop, transformRaw,
} from '../../lib/data/augment';
import { resampleNormalize } from '../../lib/data/resample';
import { IMAGENET_MEAN, IMAGENET_STD, type RawImage } from '../../lib/data/types';

function randomImage(w: number, h: number, seed = 1): RawImage {
  const r = new Rng(seed);
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = r.int(256);
  return { data, width: w, height: h };
}

function solid(w: number, h: number, rgb: [number, number, number]): RawImage {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb, 3 * i);
  return { data, width: w, height: h };
}

const LO = [0, 1, 2].map((c) => (0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]);
const HI = [0, 1, 2].map((c) => (1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]);

function expectNormalisedRange(img: Float32Array, size: number): void {
  expect(img.length).toBe(3 * size * size);
  for (let c = 0; c < 3; c++) {
    for (let k = 0; k < size * size; k++) {
      const v = img[c * size * size + k];
      if (!(v >= LO[c] - 1e-5 && v <= HI[c] + 1e-5)) throw new Error(`value ${v} out of range in channel ${c}`);
    }
  }
}

test('pyRound rounds halves to even', () => {
  expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6, -0.5].map(pyRound)).toEqual([0, 2, 2, 4, 2, 3, 0]);
});

describe('RandomResizedCrop sampling', () => {
  test('boxes lie inside the image with area and aspect in range', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 500; i++) {
      const b = sampleResizedCrop(500, 375, rng, [0.2, 1], [3 / 4, 4 / 3]);
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.y).toBeGreaterThanOrEqual(0);
      expect(b.x + b.w).toBeLessThanOrEqual(500);
      expect(b.y + b.h).toBeLessThanOrEqual(375);
      const frac = (b.w * b.h) / (500 * 375);
      expect(frac).toBeGreaterThan(0.19);
      expect(frac).toBeLessThanOrEqual(1.01);
      expect(b.w / b.h).toBeGreaterThan(0.74);
      expect(b.w / b.h).toBeLessThan(1.35);
    }
  });

  test('centre-crop fallback after 10 failed tries', () => {
    // Very wide image: every try needs h > 10.
    const rng = new Rng(1);
    const b = sampleResizedCrop(1000, 10, rng, [0.9, 1], [3 / 4, 4 / 3]);
    expect(b).toEqual({ x: Math.floor((1000 - 13) / 2), y: 0, w: 13, h: 10 });
    const tall = sampleResizedCrop(10, 1000, new Rng(1), [0.9, 1], [3 / 4, 4 / 3]);
    expect(tall).toEqual({ x: 0, y: Math.floor((1000 - 13) / 2), w: 10, h: 13 });
    // Square image, aspect in range: whole image.
    expect(sampleResizedCrop(10, 10, new Rng(1), [2, 3], [3 / 4, 4 / 3])).toEqual({ x: 0, y: 0, w: 10, h: 10 });
  });

  test('single-attempt variant clamps instead of retrying', () => {
    const b = sampleResizedCrop(1000, 10, new Rng(1), [0.9, 1], [3 / 4, 4 / 3], 'single');
    expect(b.h).toBe(10);
    expect(b.w).toBeGreaterThan(13);
    expect(b.x + b.w).toBeLessThanOrEqual(1000);
  });

  test('deterministic for a given rng state', () => {
    expect(sampleResizedCrop(300, 200, Rng.forKey(1, 2))).toEqual(sampleResizedCrop(300, 200, Rng.forKey(1, 2)));
  });
});

test('eval geometry: shorter side to size/0.875, centre crop', () => {
  expect(evalGeometry(500, 375, 224)).toEqual({ resizeW: 341, resizeH: 256, window: { x: 58, y: 16, w: 224, h: 224 } });
  expect(evalGeometry(256, 256, 224)).toEqual({ resizeW: 256, resizeH: 256, window: { x: 16, y: 16, w: 224, h: 224 } });
  expect(evalGeometry(100, 200, 64).resizeW).toBe(73);
});

describe('resampling', () => {
  test('identity and exact normalisation', () => {
    const img = randomImage(8, 6);
    const out = resampleNormalize(img, { x: 0, y: 0, w: 8, h: 6 }, 8, 6);
    for (let c = 0; c < 3; c++) {
      for (let k = 0; k < 48; k++) {
        expect(out[c * 48 + k]).toBeCloseTo((img.data[k * 3 + c] / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], 5);
      }
    }
  });

  test('PIL bilinear upscale of [0, 255] to 4 pixels', () => {
    const img: RawImage = { data: new Uint8Array([0, 0, 0, 255, 255, 255]), width: 2, height: 1 };
    const out = resampleNormalize(img, { x: 0, y: 0, w: 2, h: 1 }, 4, 1, { interpolation: 'bilinear', mean: [0, 0, 0], std: [1, 1, 1] });
    expect([...out.subarray(0, 4)].map((v) => v * 255)).toEqual([0, 63.75, 191.25, 255].map((v) => expect.closeTo(v, 3)));
  });

  test('constant images stay constant (bicubic up and down, with crops)', () => {
    const img = solid(37, 23, [200, 100, 50]);
    const expected = [200, 100, 50].map((v, c) => (v / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]);
    for (const [w, h] of [[16, 16], [80, 50]]) {
      const out = resampleNormalize(img, { x: 3, y: 2, w: 30, h: 17 }, w, h);
      for (let c = 0; c < 3; c++) for (let k = 0; k < w * h; k++) expect(out[c * w * h + k]).toBeCloseTo(expected[c], 5);
    }
  });

  test('flip mirrors the output', () => {
    const img = randomImage(9, 7, 3);
    const a = resampleNormalize(img, { x: 1, y: 1, w: 7, h: 5 }, 12, 10);
    const b = resampleNormalize(img, { x: 1, y: 1, w: 7, h: 5 }, 12, 10, { flip: true });
    for (let c = 0; c < 3; c++) for (let y = 0; y < 10; y++) for (let x = 0; x < 12; x++) {
      expect(b[c * 120 + y * 12 + x]).toBe(a[c * 120 + y * 12 + 11 - x]);
    }
  });

  test('window equals the same region of the full output', () => {
    const img = randomImage(40, 30, 4);
    const full = resampleNormalize(img, { x: 0, y: 0, w: 40, h: 30 }, 25, 19);
    const win = resampleNormalize(img, { x: 0, y: 0, w: 40, h: 30 }, 25, 19, { window: { x: 3, y: 4, w: 10, h: 8 } });
    for (let c = 0; c < 3; c++) for (let y = 0; y < 8; y++) for (let x = 0; x < 10; x++) {
      expect(win[c * 80 + y * 10 + x]).toBeCloseTo(full[c * 475 + (y + 4) * 25 + x + 3], 6);
    }
  });

  test('bad boxes are rejected', () => {
    expect(() => resampleNormalize(randomImage(4, 4), { x: 1, y: 0, w: 4, h: 4 }, 2, 2)).toThrow(/outside/);
  });
});

describe('transforms', () => {
  const img = randomImage(96, 72, 9);

  test('output shapes and ranges', () => {
    for (const spec of [pretrainTransform(32), finetuneTransform(32), linprobeTransform(32), evalTransform(32),
                        { kind: 'resize' as const, size: 32 }]) {
      const out = transformRaw(img, spec, new Rng(1));
      if (spec.kind === 'train' && spec.reprob) continue; // erased pixels are N(0,1)
      expectNormalisedRange(out, 32);
    }
    expect(transformRaw(img, finetuneTransform(32), new Rng(1))).toHaveLength(3 * 32 * 32);
  });

  test('deterministic given the rng; different rngs give different crops', () => {
    const a = transformRaw(img, pretrainTransform(24), Rng.forKey(3, 0, 7));
    const b = transformRaw(img, pretrainTransform(24), Rng.forKey(3, 0, 7));
    const c = transformRaw(img, pretrainTransform(24), Rng.forKey(3, 1, 7));
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  test('full-image crop with flip p=1 mirrors the plain resize', () => {
    const sq = randomImage(20, 20, 2);
    const spec = { kind: 'train' as const, size: 20, scale: [1, 1] as [number, number], ratio: [1, 1] as [number, number], hflip: 1 };
    const flipped = transformRaw(sq, spec, new Rng(0));
    const plain = transformRaw(sq, { kind: 'resize', size: 20 }, new Rng(0));
    for (let c = 0; c < 3; c++) for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) {
      expect(flipped[c * 400 + y * 20 + x]).toBe(plain[c * 400 + y * 20 + 19 - x]);
    }
  });

  test('random erasing replaces one rectangle (p=1) and nothing at p=0', () => {
    const base = new Float32Array(3 * 32 * 32).fill(5);
    const a = Float32Array.from(base);
    randomErase(a, 32, 32, new Rng(4), 1);
    const changed = [...a].filter((v) => v !== 5).length;
    expect(changed).toBeGreaterThan(0.02 * 3 * 1024 * 0.5);
    expect(changed).toBeLessThanOrEqual(3 * 1024 / 3 + 3 * 64);
    const b = Float32Array.from(base);
    randomErase(b, 32, 32, new Rng(4), 0);
    expect(b).toEqual(base);
  });
});
