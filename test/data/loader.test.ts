import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { DataLoader, type Batch, type LoaderState } from '../../lib/data/loader';
import { SyntheticShapes } from '../../lib/data/synthetic';
import { FashionMnist } from '../../lib/data/fashion_mnist';
import { ImageFolder } from '../../lib/data/image_folder';
import { pretrainTransform } from '../../lib/data/augment';
import { resetWarnings } from '../../lib/data/warn';
import type { Dataset, Sample } from '../../lib/data/types';
import type { Rng } from '../../lib/data/rng';
import { writeFashionSplit } from './idx_files';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-loader-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function synth(length = 37): SyntheticShapes {
  return new SyntheticShapes({ length, seed: 3, renderSize: 20, transform: pretrainTransform(16) });
}

async function take(l: DataLoader, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await l.next());
  return out;
}

function same(a: Batch[], b: Batch[]): void {
  expect(b.length).toBe(a.length);
  a.forEach((x, i) => {
    expect([b[i].epoch, b[i].step]).toEqual([x.epoch, x.step]);
    expect([...b[i].indices]).toEqual([...x.indices]);
    expect([...b[i].labels]).toEqual([...x.labels]);
    expect(Buffer.from(b[i].images.buffer).equals(Buffer.from(x.images.buffer))).toBe(true);
  });
}

describe('DataLoader (in-process)', () => {
  test('batches, epochs and shuffled order are deterministic', async () => {
    const ds = synth();
    const a = new DataLoader(ds, { batchSize: 8, seed: 11, workers: 0 });
    const b = new DataLoader(ds, { batchSize: 8, seed: 11, workers: 0 });
    expect(a.batchesPerEpoch).toBe(4); // 37 samples, last partial batch dropped
    const ba = await take(a, 9);
    same(ba, await take(b, 9));
    expect(ba.map((x) => [x.epoch, x.step])).toEqual([[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [1, 3], [2, 0]]);
    const b0 = ba[0];
    expect(b0.images).toHaveLength(8 * 3 * 16 * 16);
    expect(b0.size).toBe(8);
    expect(b0.imageSize).toBe(16);
    expect([...b0.labels]).toEqual([...b0.indices].map((i) => i % 10));
    // Shuffled and different per epoch; another seed gives another order.
    const e0 = ba.slice(0, 4).flatMap((x) => [...x.indices]);
    const e1 = ba.slice(4, 8).flatMap((x) => [...x.indices]);
    expect(new Set(e0).size).toBe(32);
    expect(e0).not.toEqual(Array.from({ length: 32 }, (_, i) => i));
    expect(e1).not.toEqual(e0);
    const c = new DataLoader(ds, { batchSize: 8, seed: 12, workers: 0 });
    expect([...(await c.next()).indices]).not.toEqual([...b0.indices]);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  test('no shuffle, keep the last partial batch', async () => {
    const l = new DataLoader(synth(10), { batchSize: 4, shuffle: false, dropLast: false, workers: 0 });
    const bs = await take(l, 3);
    expect(bs.map((b) => [...b.indices])).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(bs[2].images).toHaveLength(2 * 3 * 16 * 16);
    const all: number[] = [];
    for await (const b of l.epochBatches()) all.push(...b.indices);
    expect(all).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(l.state().epoch).toBe(2);
    await l.close();
    await expect(l.next()).rejects.toThrow(/after close/);
  });

  test('exact resume from a mid-epoch state (also after JSON)', async () => {
    const ds = synth();
    const a = new DataLoader(ds, { batchSize: 8, seed: 5, workers: 0 });
    await take(a, 3);
    const saved = JSON.parse(JSON.stringify(a.state())) as LoaderState;
    expect(saved).toEqual({ version: 1, seed: 5, epoch: 0, position: 3, length: 37, batchSize: 8 });
    const rest = await take(a, 6); // crosses into epoch 1
    const b = new DataLoader(ds, { batchSize: 8, seed: 99, workers: 0, state: saved });
    same(rest, await take(b, 6));
    // setState on a loader with prefetched work discards it.
    a.setState(saved);
    same(rest, await take(a, 6));
    expect(() => a.setState({ ...saved, batchSize: 4 })).toThrow(/saved with 37 samples and batch 4, this loader has 37 and 8/);
    expect(() => a.setState({ ...saved, position: 4 })).toThrow(/invalid state/);
    await Promise.all([a.close(), b.close()]);
  });

  test('a dataset without a worker recipe loads in-process with a warning', async () => {
    resetWarnings();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const plain: Dataset = {
      length: 6, numClasses: 2, imageSize: 2,
      label: (i) => i % 2,
      get: (i: number, rng: Rng): Sample => ({ image: new Float32Array(12).fill(i + rng.uniform()), label: i % 2 }),
    };
    try {
      const l = new DataLoader(plain, { batchSize: 3, workers: 2, shuffle: false });
      expect(l.workers).toBe(0);
      const b = await l.next();
      expect(b.images[0]).toBeGreaterThanOrEqual(0);
      expect(b.images[0]).toBeLessThan(1);
      expect(b.images[12]).toBeGreaterThanOrEqual(1);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/no workerRecipe/));
      await l.close();
    } finally {
      warn.mockRestore();
    }
  });

  test('close() waits for the reads of prefetched batches, and starts none after', async () => {
    let active = 0, started = 0;
    const slow: Dataset = {
      length: 12, numClasses: 2, imageSize: 2, label: () => 0,
      get: async (): Promise<Sample> => {
        active++;
        started++;
        await new Promise((r) => setTimeout(r, 20));
        active--;
        return { image: new Float32Array(12), label: 0 };
      },
    };
    const l = new DataLoader(slow, { batchSize: 2, workers: 0, prefetch: 3, shuffle: false });
    await l.next(); // batches 1-3 are being prefetched now
    await l.close();
    expect(active, 'dataset reads still running after close()').toBe(0);
    const afterClose = started;
    await new Promise((r) => setTimeout(r, 60));
    expect(started, 'dataset reads started after close()').toBe(afterClose);
  });

  test('errors from the dataset reach the consumer', async () => {
    const bad: Dataset = {
      length: 4, numClasses: 2, imageSize: 2, label: () => 0,
      get: (i: number): Sample => ({ image: new Float32Array(i === 2 ? 5 : 12), label: 0 }),
    };
    const l = new DataLoader(bad, { batchSize: 2, workers: 0, shuffle: false });
    await l.next();
    await expect(l.next()).rejects.toThrow(/sample 2: image has 5 values/);
    await l.close();
    expect(() => new DataLoader(bad, { batchSize: 5, workers: 0 })).toThrow(/smaller than one batch/);
  });
});

describe('DataLoader (worker threads)', () => {
  test('workers produce exactly the in-process batches, and resume exactly', async () => {
    const ds = synth(45);
    const inproc = new DataLoader(ds, { batchSize: 6, seed: 21, workers: 0 });
    const pooled = new DataLoader(ds, { batchSize: 6, seed: 21, workers: 2, prefetch: 3 });
    expect(pooled.workers).toBe(2);
    const ref = await take(inproc, 10);
    const got = await take(pooled, 4);
    const saved = pooled.state();
    got.push(...(await take(pooled, 6)));
    same(ref, got);
    await pooled.close();
    expect(pooled.workers).toBe(0);
    const resumed = new DataLoader(ds, { batchSize: 6, seed: 21, workers: 2, state: saved });
    same(ref.slice(4), await take(resumed, 6));
    await Promise.all([inproc.close(), resumed.close()]);
  });

  test('workers that cannot build the dataset fall back to in-process loading', async () => {
    resetWarnings();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const ds = synth(12);
      const broken = Object.assign(Object.create(ds) as SyntheticShapes, {
        workerRecipe: () => ({ ...ds.workerRecipe(), factory: 'noSuchFactory' }),
      });
      const l = new DataLoader(broken, { batchSize: 4, seed: 3, workers: 2 });
      const ref = new DataLoader(ds, { batchSize: 4, seed: 3, workers: 0 });
      same(await take(ref, 4), await take(l, 4));
      expect(l.workers).toBe(0);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/exports no function noSuchFactory.*loading in-process/));
      await Promise.all([l.close(), ref.close()]);
    } finally {
      warn.mockRestore();
    }
  });

  test('Fashion-MNIST shares its pixels with the workers', async () => {
    writeFashionSplit(path.join(tmp, 'fm'), 'train', 20, true);
    const ds = FashionMnist.open({ dir: path.join(tmp, 'fm'), transform: pretrainTransform(32) });
    const a = new DataLoader(ds, { batchSize: 4, seed: 1, workers: 2 });
    const b = new DataLoader(ds, { batchSize: 4, seed: 1, workers: 0 });
    same(await take(b, 6), await take(a, 6));
    await Promise.all([a.close(), b.close()]);
  });

  test('image folder in workers: corrupt file warned once in the main thread', async () => {
    const root = path.join(tmp, 'folder');
    for (const c of ['a', 'b']) {
      fs.mkdirSync(path.join(root, c), { recursive: true });
      for (let k = 0; k < 4; k++) {
        await sharp({ create: { width: 30 + k, height: 24, channels: 3, background: { r: 40 * k, g: c === 'a' ? 0 : 200, b: 90 } } })
          .png().toFile(path.join(root, c, `${k}.png`));
      }
    }
    fs.writeFileSync(path.join(root, 'a', '1.png'), 'corrupt');
    resetWarnings();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const ds = await ImageFolder.open(root, { transform: pretrainTransform(16) });
      const w = new DataLoader(ds, { batchSize: 4, seed: 2, workers: 2 });
      const p = new DataLoader(ds, { batchSize: 4, seed: 2, workers: 0 });
      const got = await take(w, 6);
      same(await take(p, 6), got);
      await Promise.all([w.close(), p.close()]);
      const calls = warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes(path.join(root, 'a', '1.png')));
      expect(calls).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });
});
