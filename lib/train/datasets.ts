// Opens the dataset a `--data` value names: `synthetic` (the built-in procedural set), `fashion-mnist`
// (the idx files of Debian's dataset-fashion-mnist package, or CONVMAE_FASHION_MNIST / `dir`), or
// a path to an image folder (class sub-folders; `train/` and `val/` inside it are used for the
// splits when present).
import * as fs from 'fs';
import * as path from 'path';

import { TransformSpec } from '../data/augment';
import { FashionMnist } from '../data/fashion_mnist';
import { ImageFolder, scanImageFolder } from '../data/image_folder';
import { SyntheticShapes } from '../data/synthetic';
import { Dataset } from '../data/types';

export type Split = 'train' | 'val';

export interface OpenOptions {
  split: Split;
  transform: TransformSpec;
  /** Use at most this many samples. */
  limit?: number;
  /** Seed of the synthetic scenes (validation uses another stream). */
  seed?: number;
  /** Fashion-MNIST directory. */
  dir?: string;
}

export function describeData(spec: string): string {
  if (spec === 'synthetic') return 'built-in synthetic shapes (10 classes)';
  if (spec === 'fashion-mnist') return 'Fashion-MNIST (10 classes)';
  return `image folder ${spec}`;
}

export function openDataset(spec: string, o: OpenOptions): Dataset {
  if (typeof spec !== 'string' || spec.length === 0) throw new TypeError('data: expected synthetic, fashion-mnist or a folder path for `--data`');
  if (spec === 'synthetic') {
    const length = o.limit ?? (o.split === 'train' ? 10000 : 2000);
    return new SyntheticShapes({ length, seed: (o.seed ?? 0) + (o.split === 'train' ? 0 : 1_000_003), transform: o.transform });
  }
  if (spec === 'fashion-mnist') {
    return FashionMnist.open({ dir: o.dir ?? process.env.CONVMAE_FASHION_MNIST, split: o.split === 'train' ? 'train' : 'test', transform: o.transform, limit: o.limit });
  }
  if (!fs.existsSync(spec) || !fs.statSync(spec).isDirectory()) {
    throw new Error(`data: '${spec}' is not synthetic, fashion-mnist or an existing image folder`);
  }
  const sub = path.join(spec, o.split);
  const root = fs.existsSync(sub) && fs.statSync(sub).isDirectory() ? sub : spec;
  const index = scanImageFolder(root);
  const ds = new ImageFolder(index, o.transform);
  return o.limit !== undefined && o.limit < ds.length ? limitDataset(ds, o.limit) : ds;
}

/** The first `limit` samples of a dataset (in-process loading). */
function limitDataset(ds: Dataset, limit: number): Dataset {
  return {
    length: limit,
    numClasses: ds.numClasses,
    imageSize: ds.imageSize,
    classNames: ds.classNames,
    label: (i) => ds.label(i),
    get: (i, rng) => ds.get(i, rng),
  };
}
