import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { ImageFolder, scanImageFolder } from '../../lib/data/image_folder';
import { Rng } from '../../lib/data/rng';
import { evalTransform, finetuneTransform, pretrainTransform } from '../../lib/data/augment';
import { resetWarnings } from '../../lib/data/warn';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../lib/data/types';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-imgfolder-'));

async function solidImage(file: string, w: number, h: number, rgb: [number, number, number], alpha = false): Promise<void> {
  const img = sharp({ create: { width: w, height: h, channels: alpha ? 4 : 3, background: alpha ? { r: rgb[0], g: rgb[1], b: rgb[2], alpha: 1 } : { r: rgb[0], g: rgb[1], b: rgb[2] } } });
  const ext = path.extname(file);
  if (ext === '.png') await img.png().toFile(file);
  else if (ext === '.webp') await img.webp({ lossless: true }).toFile(file);
  else await img.jpeg({ quality: 95 }).toFile(file);
}

beforeAll(async () => {
  for (const c of ['dog', 'cat', 'bird']) fs.mkdirSync(path.join(root, c));
  await solidImage(path.join(root, 'cat', 'a.png'), 40, 30, [200, 100, 50]);
  await solidImage(path.join(root, 'cat', 'b.JPG'), 64, 48, [10, 200, 30]);
  await solidImage(path.join(root, 'dog', 'c.webp'), 30, 50, [0, 0, 255]);
  await solidImage(path.join(root, 'dog', 'd_rgba.png'), 33, 33, [255, 255, 0], true);
  fs.writeFileSync(path.join(root, 'dog', 'e_corrupt.jpg'), Buffer.from('this is definitely not a jpeg'));
  fs.mkdirSync(path.join(root, 'dog', 'nested'));
  await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .toColourspace('b-w').png().toFile(path.join(root, 'dog', 'nested', 'f_grey.png'));
  await solidImage(path.join(root, 'bird', 'g.jpeg'), 50, 50, [255, 255, 255]);
  fs.writeFileSync(path.join(root, 'bird', 'notes.txt'), 'not an image');
  fs.writeFileSync(path.join(root, 'stray.png'), 'files in the root are ignored');
  fs.mkdirSync(path.join(root, '.hidden'));
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('ImageFolder', () => {
  test('scan: sorted classes, sorted files, labels', () => {
    const idx = scanImageFolder(root);
    expect(idx.classes).toEqual(['bird', 'cat', 'dog']);
    expect(idx.files.map((f) => path.relative(root, f))).toEqual([
      'bird/g.jpeg', 'cat/a.png', 'cat/b.JPG', 'dog/c.webp', 'dog/d_rgba.png', 'dog/e_corrupt.jpg', 'dog/nested/f_grey.png',
    ]);
    expect([...idx.labels]).toEqual([0, 1, 1, 2, 2, 2, 2]);
  });

  test('decodes PNG/JPEG/WebP/RGBA/grey to normalised 3xSxS', async () => {
    const ds = await ImageFolder.open(root, { transform: evalTransform(16) });
    expect(ds.length).toBe(7);
    expect(ds.numClasses).toBe(3);
    expect(ds.imageSize).toBe(16);
    const expectColour = (img: Float32Array, rgb: number[], tol: number): void => {
      for (let c = 0; c < 3; c++) {
        const want = (rgb[c] / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
        for (let k = 0; k < 256; k += 15) expect(Math.abs(img[c * 256 + k] - want)).toBeLessThan(tol);
      }
    };
    const cat = await ds.get(1, new Rng());
    expect(cat.label).toBe(1);
    expect(cat.image).toHaveLength(3 * 16 * 16);
    expectColour(cat.image, [200, 100, 50], 1e-5);
    expectColour((await ds.get(2, new Rng())).image, [10, 200, 30], 0.05); // JPEG
    expectColour((await ds.get(3, new Rng())).image, [0, 0, 255], 1e-5);
    expectColour((await ds.get(4, new Rng())).image, [255, 255, 0], 1e-5);
    expectColour((await ds.get(6, new Rng())).image, [128, 128, 128], 1e-5);
  });

  test('a corrupt image is skipped with one warning naming it', async () => {
    resetWarnings();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const ds = await ImageFolder.open(root, { transform: evalTransform(8) });
      const s = await ds.get(5, new Rng());
      // Served from the next file (nested/f_grey.png, label 2).
      const grey = await ds.get(6, new Rng());
      expect(s.image).toEqual(grey.image);
      expect(s.label).toBe(2);
      await ds.get(5, new Rng());
      const ds2 = await ImageFolder.open(root, { transform: evalTransform(8) });
      await ds2.get(5, new Rng());
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toContain(path.join(root, 'dog', 'e_corrupt.jpg'));
    } finally {
      warn.mockRestore();
    }
  });

  test('a truncated JPEG (valid header, broken data) is skipped too', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-trunc-'));
    resetWarnings();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      fs.mkdirSync(path.join(dir, 'x'));
      const jpg = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 0, g: 0, b: 0 }, noise: { type: 'gaussian', mean: 128, sigma: 30 } } })
        .jpeg().toBuffer();
      fs.writeFileSync(path.join(dir, 'x', 'a_truncated.jpg'), jpg.subarray(0, jpg.length >> 1));
      await solidImage(path.join(dir, 'x', 'b.png'), 8, 8, [9, 9, 9]);
      const ds = await ImageFolder.open(dir, { transform: evalTransform(8) });
      expect(ds.length).toBe(2);
      const s = await ds.get(0, new Rng());
      expect(s.image).toEqual((await ds.get(1, new Rng())).image);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/a_truncated\.jpg: cannot decode image/);
    } finally {
      warn.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('validate: true drops undecodable files up front', async () => {
    resetWarnings();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const ds = await ImageFolder.open(root, { validate: true, transform: evalTransform(8) });
      expect(ds.length).toBe(6);
      expect(ds.index.files.some((f) => f.endsWith('e_corrupt.jpg'))).toBe(false);
      expect(warn).toHaveBeenCalledTimes(1);
    } finally {
      warn.mockRestore();
    }
  });

  test('train transforms: deterministic per rng, shapes', async () => {
    const ds = await ImageFolder.open(root, { transform: pretrainTransform(24) });
    const a = await ds.get(2, Rng.forKey(1, 0, 2));
    const b = await ds.get(2, Rng.forKey(1, 0, 2));
    expect(a.image).toHaveLength(3 * 24 * 24);
    expect(b.image).toEqual(a.image);
    const ft = await ImageFolder.open(root, { transform: finetuneTransform(24) });
    expect((await ft.get(0, new Rng(3))).image).toHaveLength(3 * 24 * 24);
    const resized = await ImageFolder.open(root, { transform: { kind: 'resize', size: 12 } });
    expect((await resized.get(3, new Rng())).image).toHaveLength(3 * 12 * 12);
  });

  test('missing or empty folders: clear errors naming the path', async () => {
    const missing = path.join(root, 'nope');
    await expect(ImageFolder.open(missing)).rejects.toThrow(`ImageFolder: ${missing} does not exist`);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-empty-'));
    try {
      await expect(ImageFolder.open(empty)).rejects.toThrow(`${empty} has no class sub-folders`);
      fs.mkdirSync(path.join(empty, 'a'));
      fs.writeFileSync(path.join(empty, 'a', 'readme.txt'), 'x');
      await expect(ImageFolder.open(empty)).rejects.toThrow(`no images (.jpg, .jpeg, .png, .webp) found under ${empty}`);
      await solidImage(path.join(empty, 'a', 'x.png'), 4, 4, [1, 2, 3]);
      fs.mkdirSync(path.join(empty, 'b'));
      await expect(ImageFolder.open(empty)).rejects.toThrow(`class folder(s) without images under ${empty}: b`);
      expect(() => scanImageFolder(path.join(empty, 'a', 'x.png'))).toThrow(/is not a directory/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
