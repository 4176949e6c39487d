import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, describe, expect, test } from 'vitest';
import {
  DEBIAN_FASHION_MNIST_DIR, FashionMnist, createFashionMnist, findFashionMnistDir, parseIdx, readIdxFile,
} from '../../lib/data/fashion_mnist';
import { Rng } from '../../lib/data/rng';
import { pretrainTransform } from '../../lib/data/augment';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../lib/data/types';
import { idxBytes, writeFashionSplit } from './idx_files';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-fmnist-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('idx reader', () => {
  test('raw and gzipped files give the same arrays', () => {
    writeFashionSplit(path.join(tmp, 'raw'), 'train', 12, false);
    writeFashionSplit(path.join(tmp, 'gz'), 'train', 12, true);
    const a = readIdxFile(path.join(tmp, 'raw', 'train-images-idx3-ubyte'), 2051);
    const b = readIdxFile(path.join(tmp, 'gz', 'train-images-idx3-ubyte.gz'), 2051);
    expect(a.dims).toEqual([12, 28, 28]);
    expect(b.dims).toEqual([12, 28, 28]);
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    expect(a.data[784 + 5]).toBe((7 + 5) % 256);
    const l = readIdxFile(path.join(tmp, 'gz', 'train-labels-idx1-ubyte.gz'), 2049);
    expect(l.dims).toEqual([12]);
    expect([...l.data]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  });

  test('corrupt files give errors naming the file', () => {
    const bad = (name: string, bytes: Uint8Array): string => {
      const f = path.join(tmp, name);
      fs.writeFileSync(f, bytes);
      return f;
    };
    const truncated = bad('trunc-idx3', idxBytes(2051, [2, 28, 28], new Uint8Array(784)));
    expect(() => readIdxFile(truncated, 2051)).toThrow(new RegExp(`${truncated}.*payload is 784 bytes.*1568.*truncated`));
    const trailing = bad('trail-idx1', idxBytes(2049, [2], new Uint8Array(3)));
    expect(() => readIdxFile(trailing, 2049)).toThrow(/trailing bytes/);
    const wrongMagic = bad('labels-as-images', idxBytes(2049, [2], new Uint8Array(2)));
    expect(() => readIdxFile(wrongMagic, 2051)).toThrow(new RegExp(`${wrongMagic}: wrong idx magic number 2049, expected 2051`));
    const notIdx = bad('junk.gz.not', Buffer.from('hello world, not an idx file'));
    expect(() => readIdxFile(notIdx)).toThrow(new RegExp(`${notIdx}: not an idx file`));
    const badGz = bad('bad.gz', Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from('garbage garbage')]));
    expect(() => readIdxFile(badGz)).toThrow(new RegExp(`${badGz}: corrupt gzip stream`));
    const truncGz = bad('trunc.gz', zlib.gzipSync(idxBytes(2049, [4], new Uint8Array(4))).subarray(0, 12));
    expect(() => readIdxFile(truncGz)).toThrow(/corrupt gzip stream/);
    const floats = bad('float-idx', Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]));
    expect(() => readIdxFile(floats)).toThrow(/element type 0xd is not supported/);
    expect(() => parseIdx(new Uint8Array([0, 0, 8]), 'x.idx')).toThrow(/x.idx: not an idx file/);
    expect(() => readIdxFile(path.join(tmp, 'missing-file'))).toThrow(/missing-file: cannot read/);
  });
});

describe('FashionMnist dataset', () => {
  test('explicit directory, grey to RGB, identity at 28 px', () => {
    const dir = path.join(tmp, 'gz');
    const ds = FashionMnist.open({ dir, transform: { kind: 'resize', size: 28 } });
    expect(ds.length).toBe(12);
    expect(ds.numClasses).toBe(10);
    expect(ds.classNames[9]).toBe('Ankle boot');
    const s = ds.get(3, new Rng());
    expect(s.label).toBe(3);
    expect(s.image).toHaveLength(3 * 28 * 28);
    for (const k of [0, 100, 783]) {
      const v = ((3 * 7 + k) % 256) / 255;
      for (let c = 0; c < 3; c++) expect(s.image[c * 784 + k]).toBeCloseTo((v - IMAGENET_MEAN[c]) / IMAGENET_STD[c], 5);
    }
  });

  test('default: bilinear resize to 224 and normalisation; shared memory', () => {
    const ds = FashionMnist.open({ dir: path.join(tmp, 'raw'), limit: 5 });
    expect(ds.length).toBe(5);
    expect(ds.imageSize).toBe(224);
    const img = ds.get(0, new Rng()).image;
    expect(img).toHaveLength(3 * 224 * 224);
    expect(img.reduce((a, b) => Math.min(a, b), Infinity)).toBeGreaterThanOrEqual(-IMAGENET_MEAN[0] / IMAGENET_STD[0] - 1e-5);
    expect(img.reduce((a, b) => Math.max(a, b), -Infinity)).toBeLessThanOrEqual((1 - IMAGENET_MEAN[2]) / IMAGENET_STD[2] + 1e-5);
    expect(ds.arrays.images.buffer).toBeInstanceOf(SharedArrayBuffer);
    const r = ds.workerRecipe();
    const copy = createFashionMnist(structuredClone(r.options) as never);
    expect(copy.length).toBe(5);
    expect(copy.get(4, new Rng()).image).toEqual(ds.get(4, new Rng()).image);
    const aug = FashionMnist.open({ dir: path.join(tmp, 'raw'), transform: pretrainTransform(32) });
    expect(aug.get(1, new Rng(1)).image).toHaveLength(3 * 32 * 32);
  });

  test('test split, and count mismatch between the two files', () => {
    writeFashionSplit(path.join(tmp, 'split'), 't10k', 4, true);
    expect(FashionMnist.open({ dir: path.join(tmp, 'split'), split: 'test', size: 28 }).length).toBe(4);
    expect(() => FashionMnist.open({ dir: path.join(tmp, 'split'), split: 'train' })).toThrow(/train-images-idx3-ubyte\[\.gz\].*not found in/);
    const mm = path.join(tmp, 'mismatch');
    writeFashionSplit(mm, 'train', 4, false);
    fs.writeFileSync(path.join(mm, 'train-labels-idx1-ubyte'), idxBytes(2049, [3], new Uint8Array(3)));
    expect(() => FashionMnist.open({ dir: mm })).toThrow(/has 4 images but .*train-labels-idx1-ubyte has 3 labels/);
    fs.writeFileSync(path.join(mm, 'train-labels-idx1-ubyte'), idxBytes(2049, [4], new Uint8Array([0, 1, 12, 3])));
    expect(() => FashionMnist.open({ dir: mm })).toThrow(/label 12 at index 2/);
  });

  test('missing directory: clear error', () => {
    const nowhere = path.join(tmp, 'does-not-exist');
    expect(() => findFashionMnistDir(nowhere)).toThrow(new RegExp(`not found in ${nowhere} \\(directory does not exist\\)`));
  });

  test.skipIf(!fs.existsSync(path.join(DEBIAN_FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')))(
    'finds the Debian package files by default', () => {
      expect(findFashionMnistDir()).toBeTruthy();
      const test10k = FashionMnist.open({ split: 'test', size: 28 });
      expect(test10k.length).toBe(10000);
      const counts = new Array(10).fill(0);
      for (let i = 0; i < test10k.length; i++) counts[test10k.label(i)]++;
      expect(counts).toEqual(new Array(10).fill(1000));
    });
});
