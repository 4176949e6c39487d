// Class-per-folder image dataset (torchvision ImageFolder layout), decoded with sharp.
//
// Contract: `root/<class>/**/<file>.{jpg,jpeg,png,webp}` (extensions case-insensitive, hidden
// entries ignored, symlinks followed); class names sorted by code unit give labels 0..C−1; files
// are sorted within each class. A missing root, a root without class folders, or no images at all
// throws an Error naming the path. An image that fails to decode is not fatal: it is reported once
// per file (console.warn via warnOnce, naming the file) and sample i is then served from the next
// decodable file (i+1, i+2, … cyclically), with that file's label. `validate: true` decodes every
// file up front and drops the bad ones instead. Transforms run through sharp (extract → resize
// with the 'cubic' (Catmull-Rom, = PIL bicubic) or 'linear' kernel → flop) using the same
// geometry samplers as the pure-TS path; the image is not auto-rotated (like PIL).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type Sharp from 'sharp';
import type { Rng } from './rng';
import type { Dataset, Sample, WorkerRecipe } from './types';
import { IMAGENET_MEAN, IMAGENET_STD } from './types';
import { evalGeometry, evalTransform, normalizeRaw, randomErase, sampleTrainGeometry, type TransformSpec } from './augment';
import { warnOnce } from './warn';

/** sharp, loaded on first use, so that commands that read no image files never load libvips. */
let sharpModule: typeof Sharp | null = null;
function sharp(...args: Parameters<typeof Sharp>): ReturnType<typeof Sharp> {
  sharpModule ??= require('sharp') as typeof Sharp;
  return sharpModule(...args);
}

export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

export interface FolderIndex {
  root: string;
  classes: string[];
  files: string[];
  labels: Int32Array;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function listFiles(dir: string, exts: readonly string[], out: string[]): void {
  const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  for (const n of names) {
    const p = path.join(dir, n);
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      continue; // dangling link
    }
    if (st.isDirectory()) listFiles(p, exts, out);
    else if (st.isFile() && exts.includes(path.extname(n).toLowerCase())) out.push(p);
  }
}

/** List classes and files; throws a clear Error for a missing or empty folder. */
export function scanImageFolder(root: string, extensions: readonly string[] = IMAGE_EXTENSIONS): FolderIndex {
  const abs = path.resolve(root);
  if (!fs.existsSync(abs)) throw new Error(`ImageFolder: ${abs} does not exist`);
  if (!isDir(abs)) throw new Error(`ImageFolder: ${abs} is not a directory`);
  const classes = fs.readdirSync(abs).filter((n) => !n.startsWith('.') && isDir(path.join(abs, n))).sort();
  if (classes.length === 0) throw new Error(`ImageFolder: ${abs} has no class sub-folders (expected root/<class>/<image>)`);
  const files: string[] = [];
  const labels: number[] = [];
  const empty: string[] = [];
  classes.forEach((c, label) => {
    const before = files.length;
    listFiles(path.join(abs, c), extensions, files);
    if (files.length === before) empty.push(c);
    for (let i = before; i < files.length; i++) labels.push(label);
  });
  if (files.length === 0) {
    throw new Error(`ImageFolder: no images (${extensions.join(', ')}) found under ${abs}`);
  }
  if (empty.length > 0) {
    throw new Error(`ImageFolder: class folder(s) without images under ${abs}: ${empty.join(', ')}`);
  }
  return { root: abs, classes, files, labels: Int32Array.from(labels) };
}

export interface ImageFolderOptions {
  /** Default: evaluation transform (resize 256, centre crop 224). */
  transform?: TransformSpec;
  /** Decode every image at open time and drop those that fail (slow for big folders). */
  validate?: boolean;
  extensions?: readonly string[];
}

function decodeWarning(file: string, err: unknown): void {
  const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
  warnOnce(`image-folder:${file}`, `ImageFolder: skipping ${file}: cannot decode image (${msg})`);
}

export class ImageFolder implements Dataset {
  readonly length: number;
  readonly numClasses: number;
  readonly imageSize: number;
  readonly classNames: readonly string[];
  private readonly bad = new Set<number>();

  constructor(readonly index: FolderIndex, readonly transform: TransformSpec) {
    this.length = index.files.length;
    this.numClasses = index.classes.length;
    this.classNames = index.classes;
    this.imageSize = transform.size;
  }

  static async open(root: string, opts: ImageFolderOptions = {}): Promise<ImageFolder> {
    let index = scanImageFolder(root, opts.extensions);
    if (opts.validate) {
      const ok = new Uint8Array(index.files.length);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < index.files.length) {
          const i = next++;
          try {
            await sharp(index.files[i], { failOn: 'error' }).raw().toBuffer();
            ok[i] = 1;
          } catch (e) {
            decodeWarning(index.files[i], e);
          }
        }
      };
      await Promise.all(Array.from({ length: 4 }, worker));
      const keep = [...ok.keys()].filter((i) => ok[i]);
      if (keep.length === 0) throw new Error(`ImageFolder: none of the images under ${index.root} could be decoded`);
      index = { ...index, files: keep.map((i) => index.files[i]), labels: Int32Array.from(keep.map((i) => index.labels[i])) };
    }
    return new ImageFolder(index, opts.transform ?? evalTransform(224));
  }

  label(i: number): number {
    return this.index.labels[i];
  }

  async get(index: number, rng: Rng): Promise<Sample> {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`ImageFolder: index ${index} out of range [0, ${this.length})`);
    }
    for (let k = 0; k < this.length; k++) {
      const j = (index + k) % this.length;
      if (this.bad.has(j)) continue;
      try {
        return { image: await this.load(this.index.files[j], rng), label: this.index.labels[j] };
      } catch (e) {
        this.bad.add(j);
        decodeWarning(this.index.files[j], e);
      }
    }
    throw new Error(`ImageFolder: none of the images under ${this.index.root} could be decoded`);
  }

  /** Decode and transform one file to a normalised 3×size×size image. */
  async load(file: string, rng: Rng): Promise<Float32Array> {
    const spec = this.transform;
    const size = spec.size;
    const kernel = (spec.interpolation ?? (spec.kind === 'resize' ? 'bilinear' : 'bicubic')) === 'bicubic' ? 'cubic' : 'linear';
    const meta = await sharp(file, { failOn: 'error' }).metadata();
    const W = meta.width;
    const H = meta.height;
    if (!W || !H) throw new Error('no image dimensions');
    let img = sharp(file, { failOn: 'error' });
    let erase = 0;
    if (spec.kind === 'train') {
      const { box, flip } = sampleTrainGeometry(W, H, spec, rng);
      img = img.extract({ left: box.x, top: box.y, width: box.w, height: box.h })
        .resize(size, size, { fit: 'fill', kernel });
      if (flip) img = img.flop();
      erase = spec.reprob ?? 0;
    } else if (spec.kind === 'eval') {
      const g = evalGeometry(W, H, size, spec.cropPct ?? 0.875);
      img = img.resize(g.resizeW, g.resizeH, { fit: 'fill', kernel })
        .extract({ left: g.window.x, top: g.window.y, width: size, height: size });
    } else {
      img = img.resize(size, size, { fit: 'fill', kernel });
    }
    const { data, info } = await img.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.width !== size || info.height !== size) throw new Error(`decoded to ${info.width}x${info.height}, expected ${size}x${size}`);
    let rgb: Uint8Array = data;
    if (info.channels === 1) {
      rgb = new Uint8Array(size * size * 3);
      for (let i = 0; i < size * size; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i];
    } else if (info.channels !== 3 || data.length !== size * size * 3) {
      throw new Error(`unexpected decoded layout: ${info.channels} channels, ${data.length} bytes`);
    }
    const out = normalizeRaw({ data: rgb, width: size, height: size }, spec.mean ?? IMAGENET_MEAN, spec.std ?? IMAGENET_STD);
    if (erase > 0) randomErase(out, size, size, rng, erase);
    return out;
  }

  workerRecipe(): WorkerRecipe {
    return { module: __filename, factory: 'createImageFolder', options: { index: this.index, transform: this.transform } };
  }
}

/** Worker factory (see WorkerRecipe): reuses the parent's file list. */
export function createImageFolder(o: { index: FolderIndex; transform: TransformSpec }): ImageFolder {
  return new ImageFolder(o.index, o.transform);
}
