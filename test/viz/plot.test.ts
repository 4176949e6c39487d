import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { formatTick, niceTicks, renderLossCurve } from '../../lib/viz/plot';
import { encodePng } from '../../lib/viz/png';
import { lrAt } from '../../lib/train/schedule';

function countColour(rgb: Uint8Array, c: [number, number, number]): number {
  let n = 0;
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] === c[0] && rgb[i + 1] === c[1] && rgb[i + 2] === c[2]) n++;
  return n;
}

describe('renderLossCurve', () => {
  const points = Array.from({ length: 500 }, (_, i) => ({
    step: i * 10,
    loss: 1.5 * Math.exp(-i / 100) + 0.2,
    lr: lrAt(i * 10, { baseLr: 1.5e-4, minLr: 0, warmupIters: 500, totalIters: 5000 }),
  }));

  test('RGB buffer of the right size with both curves, axes and labels', async () => {
    for (const [w, h] of [[640, 480], [300, 200]]) {
      const rgb = renderLossCurve(points, w, h);
      expect(rgb).toHaveLength(w * h * 3);
      expect(countColour(rgb, [31, 119, 180])).toBeGreaterThan(w / 2); // loss line
      expect(countColour(rgb, [230, 110, 10])).toBeGreaterThan(w / 2); // lr line
      expect(countColour(rgb, [0, 0, 0])).toBeGreaterThan(4 * w); // frames, ticks, labels
      const png = encodePng(rgb, w, h, 3);
      const meta = await sharp(png).metadata();
      expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', w, h, 3]);
    }
  });

  test('empty, single and non-finite points do not throw', () => {
    expect(renderLossCurve([], 200, 150)).toHaveLength(200 * 150 * 3);
    expect(renderLossCurve([{ step: 3, loss: 1, lr: 0 }], 200, 150)).toHaveLength(200 * 150 * 3);
    const withNaN = [{ step: 0, loss: 2, lr: 1e-3 }, { step: 1, loss: NaN, lr: 1e-3 }, { step: 2, loss: Infinity, lr: 1e-3 },
                     { step: 3, loss: 1, lr: 5e-4 }];
    expect(renderLossCurve(withNaN, 200, 150)).toHaveLength(200 * 150 * 3);
    expect(() => renderLossCurve([], 50, 50)).toThrow(/too small/);
  });

  test('unsorted input is sorted by step (same image)', () => {
    const shuffled = [...points].reverse();
    expect(Buffer.from(renderLossCurve(shuffled, 320, 240)).equals(Buffer.from(renderLossCurve(points, 320, 240)))).toBe(true);
  });
});

test('nice ticks and tick labels', () => {
  expect(niceTicks(0, 1, 5)).toEqual({ ticks: [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1].map((v) => expect.closeTo(v, 12)), step: 0.2 });
  expect(niceTicks(0, 4990, 5).step).toBe(1000);
  expect(niceTicks(0.21, 1.7, 4).ticks[0]).toBeCloseTo(0.5, 12);
  expect(formatTick(0, 1)).toBe('0');
  expect(formatTick(0.4, 0.2)).toBe('0.4');
  expect(formatTick(1000, 1000)).toBe('1000');
  expect(formatTick(1.5e-4, 5e-5)).toBe('1.5e-4');
  expect(formatTick(1e-4, 5e-5)).toBe('1e-4');
  expect(formatTick(2e6, 1e6)).toBe('2e6');
  expect(formatTick(-0.05, 0.05)).toBe('-0.05');
});
