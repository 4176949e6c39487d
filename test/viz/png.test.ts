import sharp from 'sharp';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, test } from 'vitest';
import { encodePng, writePng } from '../../lib/viz/png';

const SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

test('RGB PNG: signature, dimensions and lossless pixels', async () => {
  const w = 7;
  const h = 5;
  const px = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
  const png = encodePng(px, w, h, 3);
  expect([...png.subarray(0, 8)]).toEqual(SIG);
  const meta = await sharp(png).metadata();
  expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 7, 5, 3]);
  const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  expect(Buffer.from(data).equals(Buffer.from(px))).toBe(true);
});

test('grey, grey+alpha and RGBA', async () => {
  for (const ch of [1, 2, 4] as const) {
    const px = Uint8Array.from({ length: 3 * 4 * ch }, (_, i) => (i * 11) % 256);
    const png = encodePng(px, 3, 4, ch);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([3, 4, ch]);
    // sharp expands grey to RGB(A) when decoding.
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const expected: number[] = [];
    for (let i = 0; i < 12; i++) {
      const p = px.subarray(i * ch, (i + 1) * ch);
      if (ch === 4) expected.push(...p);
      else expected.push(p[0], p[0], p[0], ...(ch === 2 ? [p[1]] : []));
    }
    expect(info.channels).toBe(ch === 1 ? 3 : 4);
    expect([...data]).toEqual(expected);
  }
});

test('writePng creates folders; bad sizes throw', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-png-'));
  try {
    const f = path.join(dir, 'a', 'b', 'x.png');
    writePng(f, new Uint8Array(2 * 2 * 3).fill(200), 2, 2);
    expect((await sharp(f).metadata()).width).toBe(2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  expect(() => encodePng(new Uint8Array(5), 2, 2, 3)).toThrow(/expected 12/);
  expect(() => encodePng(new Uint8Array(0), 0, 2, 3)).toThrow(/bad size/);
});
