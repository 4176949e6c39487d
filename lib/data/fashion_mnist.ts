// Fashion-MNIST from its idx files (gzipped or raw).
//
// Contract: `readIdxFile(file, magic)` parses an idx file (gzip detected by its 1f 8b header, not
// by the name) of unsigned bytes: magic 2051 = images [n, rows, cols], 2049 = labels [n]; sizes
// are big-endian uint32. Every inconsistency (short header, wrong magic/type, zero dimension,
// payload size ≠ product of dims, bad gzip stream, label ≥ 10, image/label count mismatch) throws
// an Error naming the file. `findFashionMnistDir()` looks in $CONVMAE_FASHION_MNIST,
// $FASHION_MNIST_DIR, /usr/share/datasets/fashion-mnist (Debian package `dataset-fashion-mnist`),
// ~/.cache/convmae/fashion-mnist, ./data/fashion-mnist, ./fashion-mnist; an explicit directory
// is used alone. File names: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
// `FashionMnist` replicates the grey 28×28 image to 3 channels and applies a TransformSpec
// (default: bilinear resize to 224, ImageNet normalisation). Pixels live in a SharedArrayBuffer,
// so loader workers share them instead of copying.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { Rng } from './rng';
import type { Dataset, RawImage, Sample, WorkerRecipe } from './types';
import { transformRaw, type TransformSpec } from './augment';

export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;

export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

/** Directory of the Debian/Ubuntu package `dataset-fashion-mnist`. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parse the bytes of an (uncompressed) idx file; `file` only names it in errors. */
export function parseIdx(buf: Uint8Array, file: string, expectMagic?: number): IdxArray {
  if (buf.length < 4) throw new Error(`${file}: not an idx file (only ${buf.length} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0, false);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new Error(`${file}: not an idx file (magic number ${magic}, expected ${expectMagic ?? '2051 or 2049'})`);
  }
  if (expectMagic !== undefined && magic !== expectMagic) {
    throw new Error(`${file}: wrong idx magic number ${magic}, expected ${expectMagic} ` +
                    `(${expectMagic === IDX_IMAGES_MAGIC ? 'images' : 'labels'})`);
  }
  const type = buf[2];
  if (type !== 0x08) throw new Error(`${file}: idx element type 0x${type.toString(16)} is not supported (only unsigned bytes, 0x08)`);
  const ndim = buf[3];
  if (ndim < 1) throw new Error(`${file}: idx header has no dimensions`);
  const headerLen = 4 + 4 * ndim;
  if (buf.length < headerLen) throw new Error(`${file}: truncated idx header (${buf.length} bytes, need ${headerLen})`);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    if (d === 0) throw new Error(`${file}: idx dimension ${i} is zero`);
    dims.push(d);
    count *= d;
  }
  const payload = buf.length - headerLen;
  if (payload !== count) {
    throw new Error(`${file}: idx payload is ${payload} bytes but dims [${dims.join(', ')}] need ${count}` +
                    (payload < count ? ' (file truncated?)' : ' (trailing bytes)'));
  }
  return { dims, data: buf.subarray(headerLen) };
}

/** Read an idx file, gunzipping it when it starts with the gzip header. */
export function readIdxFile(file: string, expectMagic?: number): IdxArray {
  let buf: Uint8Array;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read idx file: ${(e as Error).message}`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (e) {
      throw new Error(`${file}: corrupt gzip stream: ${(e as Error).message}`);
    }
  }
  return parseIdx(buf, file, expectMagic);
}

/** Directories searched when no explicit directory is given, in order. */
export function fashionMnistSearchDirs(): string[] {
  const dirs: string[] = [];
  for (const v of [process.env.CONVMAE_FASHION_MNIST, process.env.FASHION_MNIST_DIR]) if (v) dirs.push(v);
  dirs.push(DEBIAN_FASHION_MNIST_DIR,
            path.join(os.homedir(), '.cache', 'convmae', 'fashion-mnist'),
            path.resolve('data', 'fashion-mnist'),
            path.resolve('fashion-mnist'));
  return dirs;
}

export type FashionSplit = 'train' | 'test';

function candidates(split: FashionSplit, what: 'images' | 'labels'): string[] {
  const stem = split === 'train' ? 'train' : 't10k';
  const base = what === 'images' ? `${stem}-images-idx3-ubyte` : `${stem}-labels-idx1-ubyte`;
  const dotted = what === 'images' ? `${stem}-images.idx3-ubyte` : `${stem}-labels.idx1-ubyte`;
  return [`${base}.gz`, base, `${dotted}.gz`, dotted];
}

function findFile(dir: string, split: FashionSplit, what: 'images' | 'labels'): string | null {
  for (const name of candidates(split, what)) {
    const f = path.join(dir, name);
    if (fs.existsSync(f)) return f;
  }
  return null;
}

/** The first directory holding both files of `split`; throws listing where it looked. */
export function findFashionMnistDir(dir?: string, split: FashionSplit = 'train'): string {
  const dirs = dir !== undefined ? [dir] : fashionMnistSearchDirs();
  for (const d of dirs) {
    if (findFile(d, split, 'images') && findFile(d, split, 'labels')) return d;
  }
  const names = `${candidates(split, 'images')[1]}[.gz] and ${candidates(split, 'labels')[1]}[.gz]`;
  if (dir !== undefined) {
    throw new Error(`Fashion-MNIST: ${names} not found in ${dir}` + (fs.existsSync(dir) ? '' : ' (directory does not exist)'));
  }
  throw new Error(`Fashion-MNIST: ${names} not found; searched ${dirs.join(', ')}. ` +
                  `Install the Debian package dataset-fashion-mnist or pass a directory.`);
}

export interface FashionArrays {
  images: Uint8Array; // n×rows×cols, on a SharedArrayBuffer
  labels: Uint8Array; // n, on a SharedArrayBuffer
  count: number;
  rows: number;
  cols: number;
}

function shared(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(src.length));
  out.set(src);
  return out;
}

/** Read and cross-check the image and label files of one split. */
export function loadFashionMnistArrays(dir: string | undefined, split: FashionSplit = 'train'): FashionArrays {
  const d = findFashionMnistDir(dir, split);
  const imgFile = findFile(d, split, 'images')!;
  const lblFile = findFile(d, split, 'labels')!;
  const img = readIdxFile(imgFile, IDX_IMAGES_MAGIC);
  if (img.dims.length !== 3) throw new Error(`${imgFile}: images must have 3 dims, got [${img.dims.join(', ')}]`);
  const lbl = readIdxFile(lblFile, IDX_LABELS_MAGIC);
  if (lbl.dims.length !== 1) throw new Error(`${lblFile}: labels must have 1 dim, got [${lbl.dims.join(', ')}]`);
  if (img.dims[0] !== lbl.dims[0]) {
    throw new Error(`Fashion-MNIST: ${imgFile} has ${img.dims[0]} images but ${lblFile} has ${lbl.dims[0]} labels`);
  }
  for (let i = 0; i < lbl.data.length; i++) {
    if (lbl.data[i] >= FASHION_MNIST_CLASSES.length) throw new Error(`${lblFile}: label ${lbl.data[i]} at index ${i} is not in 0..9`);
  }
  return { images: shared(img.data), labels: shared(lbl.data), count: img.dims[0], rows: img.dims[1], cols: img.dims[2] };
}

export interface FashionMnistOptions {
  /** Directory with the idx files; default: search fashionMnistSearchDirs(). */
  dir?: string;
  split?: FashionSplit;
  /** Output side when no transform is given; default 224. */
  size?: number;
  /** Default: bilinear resize to `size`, ImageNet normalisation. */
  transform?: TransformSpec;
  /** Use only the first `limit` samples. */
  limit?: number;
}

export class FashionMnist implements Dataset {
  readonly length: number;
  readonly numClasses = 10;
  readonly imageSize: number;
  readonly classNames = FASHION_MNIST_CLASSES;
  readonly transform: TransformSpec;

  constructor(readonly arrays: FashionArrays, transform: TransformSpec, limit?: number) {
    this.transform = transform;
    this.imageSize = transform.size;
    this.length = limit !== undefined ? Math.min(limit, arrays.count) : arrays.count;
  }

  static open(opts: FashionMnistOptions = {}): FashionMnist {
    const arrays = loadFashionMnistArrays(opts.dir, opts.split ?? 'train');
    const transform = opts.transform ?? { kind: 'resize', size: opts.size ?? 224, interpolation: 'bilinear' };
    return new FashionMnist(arrays, transform, opts.limit);
  }

  label(index: number): number {
    return this.arrays.labels[index];
  }

  /** Sample `index` as 8-bit RGB (grey replicated), rows×cols. */
  raw(index: number): RawImage {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`FashionMnist: index ${index} out of range [0, ${this.length})`);
    }
    const { rows, cols, images } = this.arrays;
    const n = rows * cols;
    const src = images.subarray(index * n, (index + 1) * n);
    const data = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const v = src[i];
      data[3 * i] = v;
      data[3 * i + 1] = v;
      data[3 * i + 2] = v;
    }
    return { data, width: cols, height: rows };
  }

  get(index: number, rng: Rng): Sample {
    return { image: transformRaw(this.raw(index), this.transform, rng), label: this.label(index) };
  }

  workerRecipe(): WorkerRecipe {
    return {
      module: __filename,
      factory: 'createFashionMnist',
      options: { arrays: this.arrays, transform: this.transform, length: this.length },
    };
  }
}

/** Worker factory (see WorkerRecipe): shares the parent's SharedArrayBuffers. */
export function createFashionMnist(o: { arrays: FashionArrays; transform: TransformSpec; length: number }): FashionMnist {
  return new FashionMnist(o.arrays, o.transform, o.length);
}
