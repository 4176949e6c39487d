// Batch assembly shared by the in-process loader and its worker threads.
//
// Contract: `assembleBatch(ds, indices, seed, epoch)` returns the NCHW float batch and int32
// labels of `indices`, where sample k is `ds.get(indices[k], Rng.forKey(seed, epoch, indices[k]))`.
// The result depends only on (dataset, indices, seed, epoch), never on the thread or the order in
// which asynchronous samples finish. Throws if a sample has the wrong size or label.

import { Rng } from './rng';
import type { Dataset, Sample } from './types';

export interface RawBatch {
  images: Float32Array;
  labels: Int32Array;
}

export async function assembleBatch(ds: Dataset, indices: Int32Array, seed: number, epoch: number): Promise<RawBatch> {
  const s = ds.imageSize;
  const per = 3 * s * s;
  const images = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  const place = (k: number, sample: Sample): void => {
    if (sample.image.length !== per) {
      throw new Error(`dataset sample ${indices[k]}: image has ${sample.image.length} values, expected 3x${s}x${s}`);
    }
    if (!Number.isInteger(sample.label) || sample.label < 0 || sample.label >= ds.numClasses) {
      throw new Error(`dataset sample ${indices[k]}: label ${sample.label} not in [0, ${ds.numClasses})`);
    }
    images.set(sample.image, k * per);
    labels[k] = sample.label;
  };
  const pending: Promise<void>[] = [];
  for (let k = 0; k < indices.length; k++) {
    const idx = indices[k];
    const r = ds.get(idx, Rng.forKey(seed, epoch, idx));
    if (r instanceof Promise) pending.push(r.then((sample) => place(k, sample)));
    else place(k, r);
  }
  // Every sample settles before the batch does, so no decode is still running when it has failed.
  const failed = (await Promise.allSettled(pending)).find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return { images, labels };
}
