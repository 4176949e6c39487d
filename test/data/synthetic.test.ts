import { describe, expect, test } from 'vitest';
import { Rng } from '../../lib/data/rng';
import { SYNTHETIC_CLASSES, SyntheticShapes, createSyntheticShapes } from '../../lib/data/synthetic';
import { pretrainTransform } from '../../lib/data/augment';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../lib/data/types';
import { fitRidge, handFeatures } from './features';

describe('SyntheticShapes', () => {
  test('deterministic per (seed, index), independent of instance and call order', () => {
    const a = new SyntheticShapes({ length: 50, size: 32, seed: 7 });
    const b = new SyntheticShapes({ length: 50, size: 32, seed: 7 });
    const later = b.raw(33).data;
    b.raw(5);
    expect(a.raw(33).data).toEqual(later);
    expect(a.raw(33).data).toEqual(b.raw(33).data);
    expect(a.get(12, new Rng(1)).image).toEqual(b.get(12, new Rng(99)).image); // resize transform: no randomness
    const c = new SyntheticShapes({ length: 50, size: 32, seed: 8 });
    expect(c.raw(33).data).not.toEqual(a.raw(33).data);
    expect(a.raw(34).data).not.toEqual(a.raw(33).data);
  });

  test('labels cycle through the classes', () => {
    const ds = new SyntheticShapes({ length: 25, size: 16 });
    expect(ds.numClasses).toBe(10);
    expect(ds.classNames).toEqual(SYNTHETIC_CLASSES);
    expect(Array.from({ length: 25 }, (_, i) => ds.label(i))).toEqual(Array.from({ length: 25 }, (_, i) => i % 10));
    const small = new SyntheticShapes({ length: 10, size: 16, numClasses: 3 });
    expect(small.get(5, new Rng()).label).toBe(2);
    expect(small.classNames).toEqual(['circle', 'square', 'triangle']);
  });

  test('value ranges and shapes', () => {
    const ds = new SyntheticShapes({ length: 20, size: 24 });
    expect(ds.imageSize).toBe(24);
    for (let i = 0; i < 20; i++) {
      const s = ds.get(i, new Rng(i));
      expect(s.image).toHaveLength(3 * 24 * 24);
      for (let c = 0; c < 3; c++) {
        const lo = -IMAGENET_MEAN[c] / IMAGENET_STD[c] - 1e-5;
        const hi = (1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c] + 1e-5;
        const ch = s.image.subarray(c * 576, (c + 1) * 576);
        expect(Math.min(...ch)).toBeGreaterThanOrEqual(lo);
        expect(Math.max(...ch)).toBeLessThanOrEqual(hi);
      }
      // Images are not flat.
      expect(Math.max(...s.image) - Math.min(...s.image)).toBeGreaterThan(0.2);
    }
  });

  test('renders the same scene at any size', () => {
    const small = new SyntheticShapes({ length: 10, size: 32, maxNoise: 0 });
    const big = new SyntheticShapes({ length: 10, size: 64, maxNoise: 0 });
    for (const i of [0, 3, 9]) {
      const a = small.raw(i).data;
      const b = big.raw(i).data;
      // Compare each small pixel with the mean of the corresponding 2x2 block.
      let err = 0;
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++) {
        const m = (b[((2 * y) * 64 + 2 * x) * 3 + c] + b[((2 * y) * 64 + 2 * x + 1) * 3 + c] +
                   b[((2 * y + 1) * 64 + 2 * x) * 3 + c] + b[((2 * y + 1) * 64 + 2 * x + 1) * 3 + c]) / 4;
        err += Math.abs(a[(y * 32 + x) * 3 + c] - m);
      }
      expect(err / (32 * 32 * 3)).toBeLessThan(8);
    }
  });

  test('augmenting transforms use the per-call rng', () => {
    const ds = new SyntheticShapes({ length: 10, renderSize: 48, transform: pretrainTransform(32) });
    expect(ds.imageSize).toBe(32);
    expect(ds.get(3, Rng.forKey(1, 0, 3)).image).toEqual(ds.get(3, Rng.forKey(1, 0, 3)).image);
    expect(ds.get(3, Rng.forKey(1, 1, 3)).image).not.toEqual(ds.get(3, Rng.forKey(1, 0, 3)).image);
  });

  test('worker recipe rebuilds an equivalent set', () => {
    const ds = new SyntheticShapes({ length: 10, size: 16, seed: 4, transform: pretrainTransform(16) });
    const r = ds.workerRecipe();
    expect(r.factory).toBe('createSyntheticShapes');
    const copy = createSyntheticShapes(structuredClone(r.options) as never);
    expect(copy.get(2, new Rng(5)).image).toEqual(ds.get(2, new Rng(5)).image);
  });

  test('bad options and indices are rejected', () => {
    expect(() => new SyntheticShapes({ numClasses: 11 })).toThrow(/numClasses/);
    expect(() => new SyntheticShapes({ length: 0 })).toThrow(/length/);
    expect(() => new SyntheticShapes({ length: 5 }).raw(5)).toThrow(/out of range/);
  });

  test('learnable: a linear probe on simple edge features beats chance by far', () => {
    const train = new SyntheticShapes({ length: 600, size: 32, seed: 1 });
    const val = new SyntheticShapes({ length: 300, size: 32, seed: 2 });
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < train.length; i++) {
      X.push(handFeatures(train.raw(i)));
      y.push(train.label(i));
    }
    const predict = fitRidge(X, y, 10);
    let ok = 0;
    for (let i = 0; i < val.length; i++) if (predict(handFeatures(val.raw(i))) === val.label(i)) ok++;
    expect(ok / val.length).toBeGreaterThan(0.45); // chance is 0.1
  });
});
