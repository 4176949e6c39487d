import { describe, expect, test } from 'vitest';
import { absoluteLr, dropPathRates, iterSchedule, lrAt, lrAtEpoch } from '../../lib/train/schedule';

describe('lrAt (SPEC 8.3)', () => {
  const s = { baseLr: 6e-4, minLr: 0, warmupIters: 400, totalIters: 16000 };

  test('warmup is linear from 0', () => {
    expect(lrAt(0, s)).toBe(0);
    expect(lrAt(1, s)).toBeCloseTo(6e-4 / 400, 15);
    expect(lrAt(200, s)).toBeCloseTo(3e-4, 15);
    expect(lrAt(399, s)).toBeCloseTo((6e-4 * 399) / 400, 15);
  });

  test('peak at the end of warmup, cosine midpoint, end', () => {
    expect(lrAt(400, s)).toBeCloseTo(6e-4, 15);
    expect(lrAt(400 + 7800, s)).toBeCloseTo(3e-4, 15);
    expect(lrAt(400 + 3900, s)).toBeCloseTo(6e-4 * 0.5 * (1 + Math.cos(Math.PI / 4)), 15);
    expect(lrAt(15999, s)).toBeGreaterThan(0);
    expect(lrAt(15999, s)).toBeLessThan(1e-10);
    expect(lrAt(16000, s)).toBe(0);
    expect(lrAt(20000, s)).toBe(0);
  });

  test('min lr is the floor of the cosine (finetuning: 1e-6)', () => {
    const f = { baseLr: 2e-3, minLr: 1e-6, warmupIters: 5, totalIters: 100 };
    expect(lrAt(0, f)).toBe(0);
    expect(lrAt(5, f)).toBeCloseTo(2e-3, 15);
    expect(lrAt(52.5, f)).toBeCloseTo(1e-6 + (2e-3 - 1e-6) / 2, 15);
    expect(lrAt(100, f)).toBe(1e-6);
  });

  test('non-increasing after warmup', () => {
    let prev = Infinity;
    for (let i = 400; i <= 16000; i += 37) {
      const v = lrAt(i, s);
      expect(v).toBeLessThanOrEqual(prev);
      prev = v;
    }
  });

  test('equals the per-fractional-epoch formula', () => {
    const ipe = 250;
    const sched = iterSchedule({ baseLr: 1.8e-3, minLr: 0, warmupEpochs: 40, epochs: 1600, itersPerEpoch: ipe });
    expect(sched.warmupIters).toBe(10000);
    expect(sched.totalIters).toBe(400000);
    for (const [epoch, it] of [[0, 0], [3, 17], [39, 249], [40, 0], [800, 125], [1599, 249]]) {
      const e = epoch + it / ipe;
      expect(lrAt(epoch * ipe + it, sched)).toBeCloseTo(
        lrAtEpoch(e, { baseLr: 1.8e-3, minLr: 0, warmupEpochs: 40, epochs: 1600 }), 14);
    }
  });

  test('no warmup starts at the peak', () => {
    expect(lrAt(0, { baseLr: 1, minLr: 0, warmupIters: 0, totalIters: 10 })).toBe(1);
  });
});

test('absoluteLr = blr * batch / 256 (SPEC 6.5, 7, 8.1)', () => {
  expect(absoluteLr(1.5e-4, 1024)).toBeCloseTo(6e-4, 15);
  expect(absoluteLr(1.5e-4, 3072)).toBeCloseTo(1.8e-3, 15);
  expect(absoluteLr(5e-4, 1024)).toBeCloseTo(2e-3, 15);
  expect(absoluteLr(0.1, 4096)).toBeCloseTo(1.6, 12);
});

test('drop-path rates (SPEC 6.3)', () => {
  const [b1, b2, b3] = dropPathRates([2, 2, 11], 0.1);
  expect(b1[0]).toBe(0);
  expect(b1[1]).toBeCloseTo(0.00714, 5);
  expect(b2[0]).toBeCloseTo(0.01429, 5);
  expect(b2[1]).toBeCloseTo(0.02143, 5);
  expect(b3).toHaveLength(11);
  b3.forEach((r, k) => expect(r).toBeCloseTo((0.1 * (4 + k)) / 14, 12));
  expect(b3[10]).toBeCloseTo(0.1, 12);
  expect(dropPathRates([1], 0.3)).toEqual([[0]]);
});
