import { describe, expect, test } from 'vitest';
import { Rng } from '../../lib/data/rng';
import { mixBatch, mixTargets } from '../../lib/data/mixup';

function batch(n: number, c: number, h: number, w: number, seed = 1): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n * c * h * w }, () => r.normal());
}

function rowSums(t: Float32Array, k: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < t.length / k; i++) out.push(t.subarray(i * k, (i + 1) * k).reduce((a, b) => a + b, 0));
  return out;
}

describe('mixup / cutmix (SPEC 6.6)', () => {
  const dims = [4, 3, 8, 8] as const;
  const labels = [0, 3, 3, 9];

  test('soft targets sum to 1 and carry λ', () => {
    for (let s = 0; s < 50; s++) {
      const x = batch(...dims, s);
      const r = mixBatch(x, labels, dims, new Rng(s), { numClasses: 10 });
      expect(r.lam).toBeGreaterThanOrEqual(0);
      expect(r.lam).toBeLessThanOrEqual(1);
      for (const v of rowSums(r.targets, 10)) expect(v).toBeCloseTo(1, 5);
      // Row 0 mixes label 0 (λ) with label 9 (1 − λ).
      expect(r.targets[0]).toBeCloseTo(0.01 + 0.9 * r.lam, 5);
      expect(r.targets[9]).toBeCloseTo(0.01 + 0.9 * (1 - r.lam), 5);
    }
  });

  test('no mixing: smoothed one-hot (off 0.1/K, on 1 - 0.1 + off)', () => {
    const x = batch(...dims);
    const before = Float32Array.from(x);
    const r = mixBatch(x, labels, dims, new Rng(1), { numClasses: 10, prob: 0 });
    expect(r.lam).toBe(1);
    expect(x).toEqual(before);
    expect(r.targets[0]).toBeCloseTo(0.91, 6);
    expect(r.targets[1]).toBeCloseTo(0.01, 6);
    const t1000 = mixTargets([5, 7], 1000, 1, 0.1);
    expect(t1000[5]).toBeCloseTo(1 - 0.1 + 0.1 / 1000, 7);
    expect(t1000[0]).toBeCloseTo(1e-4, 9);
  });

  test('mixup: x = λ·x + (1 − λ)·x_reversed', () => {
    const x = batch(...dims, 3);
    const orig = Float32Array.from(x);
    const r = mixBatch(x, labels, dims, new Rng(2), { numClasses: 10, cutmixAlpha: 0 });
    expect(r.cutmix).toBe(false);
    const per = 3 * 64;
    for (let i = 0; i < 4; i++) for (let k = 0; k < per; k += 17) {
      expect(x[i * per + k]).toBeCloseTo(r.lam * orig[i * per + k] + (1 - r.lam) * orig[(3 - i) * per + k], 5);
    }
  });

  test('cutmix: partner pixels inside the box, λ corrected to the box area', () => {
    let seen = 0;
    for (let s = 0; s < 30; s++) {
      const x = batch(...dims, s);
      const orig = Float32Array.from(x);
      const r = mixBatch(x, labels, dims, new Rng(s), { numClasses: 10, mixupAlpha: 0 });
      expect(r.cutmix).toBe(true);
      const { y0, y1, x0, x1 } = r.box!;
      expect(r.lam).toBeCloseTo(1 - ((y1 - y0) * (x1 - x0)) / 64, 10);
      for (let i = 0; i < 4; i++) for (let c = 0; c < 3; c++) for (let y = 0; y < 8; y++) for (let xx = 0; xx < 8; xx++) {
        const inBox = y >= y0 && y < y1 && xx >= x0 && xx < x1;
        const src = inBox ? 3 - i : i;
        expect(x[((i * 3 + c) * 8 + y) * 8 + xx]).toBe(orig[((src * 3 + c) * 8 + y) * 8 + xx]);
      }
      if (y1 > y0 && x1 > x0) seen++;
    }
    expect(seen).toBeGreaterThan(10);
  });

  test('switches between mixup and cutmix about half the time; deterministic', () => {
    let cut = 0;
    for (let s = 0; s < 400; s++) if (mixBatch(batch(2, 3, 4, 4), [0, 1], [2, 3, 4, 4], new Rng(s), { numClasses: 2 }).cutmix) cut++;
    expect(cut).toBeGreaterThan(150);
    expect(cut).toBeLessThan(250);
    const a = batch(...dims);
    const b = batch(...dims);
    const ra = mixBatch(a, labels, dims, Rng.forKey(5, 5), { numClasses: 10 });
    const rb = mixBatch(b, labels, dims, Rng.forKey(5, 5), { numClasses: 10 });
    expect(a).toEqual(b);
    expect(ra.targets).toEqual(rb.targets);
  });

  test('errors', () => {
    expect(() => mixBatch(batch(3, 3, 4, 4), [0, 1, 2], [3, 3, 4, 4], new Rng(), { numClasses: 3 })).toThrow(/even/);
    expect(() => mixBatch(batch(2, 3, 4, 4), [0, 1], [2, 3, 4, 5], new Rng(), { numClasses: 3 })).toThrow(/values/);
    expect(() => mixTargets([0, 4], 3, 1, 0.1)).toThrow(/label 4/);
  });
});
