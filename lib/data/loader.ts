// Prefetching batch loader with worker threads and exact resume.
//
// Contract: epoch e visits the dataset in the order `Rng.forKey(seed, SHUFFLE_KEY, e).permutation`
// (or 0..n−1 without shuffling), cut into batches of `batchSize` (the last partial batch dropped
// by default, as in the spec's DataLoaders). Sample k of a batch is
// `dataset.get(i, Rng.forKey(seed, epoch, i))`, so batches are bit-identical whatever the worker
// count. `next()` returns batches in order forever (epoch after epoch); `epochBatches()` yields
// the rest of the current epoch. `state()` = { version, seed, epoch, position, length, batchSize }
// describes the next batch `next()` will return; `setState()` (or the `state` option) continues
// exactly from there, discarding prefetched work. Up to `prefetch` batches are built ahead by a
// pool of `workers` threads (default 2) that rebuild the dataset from its `workerRecipe()`; the
// loader falls back to in-process loading (with one warning) when the dataset has no recipe,
// `workers` is 0, or the threads cannot start. Running from TypeScript sources (vitest), workers
// transpile the sources with the `typescript` package (cached by content hash under
// $TMPDIR/convmae-ts-worker-cache). Idle workers are unref'd, so a forgotten
// loader does not keep the process alive, but call `close()` to terminate them.

import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Rng } from './rng';
import type { Dataset, WorkerRecipe } from './types';
import { assembleBatch, type RawBatch } from './batch';
import { warnOnce } from './warn';

const SHUFFLE_KEY = 0x53485546; // "SHUF"

export interface LoaderState {
  version: 1;
  seed: number;
  /** Epoch of the next batch. */
  epoch: number;
  /** Index, within its epoch, of the next batch. */
  position: number;
  /** Dataset length and batch size the state was taken with (checked on restore). */
  length: number;
  batchSize: number;
}

export interface Batch {
  /** N×3×S×S, normalised. */
  images: Float32Array;
  labels: Int32Array;
  /** Dataset indices of the N samples. */
  indices: Int32Array;
  epoch: number;
  /** Batch index within the epoch. */
  step: number;
  /** N. */
  size: number;
  /** S. */
  imageSize: number;
}

export interface LoaderOptions {
  batchSize: number;
  seed?: number;
  shuffle?: boolean;
  /** Drop the last incomplete batch (default true). */
  dropLast?: boolean;
  /** Worker threads (default 2; 0 = in-process). */
  workers?: number;
  /** Batches built ahead of the consumer (default 2 per worker; 1 in-process). */
  prefetch?: number;
  /** Resume from a saved state. */
  state?: LoaderState;
}

// ---------------------------------------------------------------------------------------------
// Worker pool

const BOOT = `
const { workerData } = require('node:worker_threads');
if (workerData.tsCompiler) {
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const crypto = require('node:crypto');
  const cacheDir = path.join(os.tmpdir(), 'convmae-ts-worker-cache');
  let ts = null;
  require.extensions['.ts'] = function (m, filename) {
    const src = fs.readFileSync(filename, 'utf8');
    const key = crypto.createHash('sha256').update(workerData.tsCompiler + '\\0' + filename + '\\0' + src).digest('hex');
    const cached = path.join(cacheDir, key + '.js');
    let out;
    try {
      out = fs.readFileSync(cached, 'utf8');
    } catch {
      ts = ts || require(workerData.tsCompiler);
      out = ts.transpileModule(src, { fileName: filename, compilerOptions: {
        module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText;
      try {
        fs.mkdirSync(cacheDir, { recursive: true });
        const tmp = cached + '.' + process.pid + '.' + Math.random().toString(36).slice(2) + '.tmp';
        fs.writeFileSync(tmp, out);
        fs.renameSync(tmp, cached);
      } catch {}
    }
    m._compile(out, filename);
  };
}
require(workerData.entry);
`;

interface Boot {
  entry: string;
  tsCompiler?: string;
}

/** How to start a worker from this build (compiled JS, or TS sources with `typescript`). */
function workerBoot(): Boot | { error: string } {
  const ext = path.extname(__filename);
  const entry = path.join(__dirname, `loader_worker${ext}`);
  if (ext === '.js') return { entry };
  if (ext !== '.ts') return { error: `unexpected module extension ${ext}` };
  try {
    return { entry, tsCompiler: require.resolve('typescript') };
  } catch {
    return { error: 'running from TypeScript sources and the typescript package is not available' };
  }
}

interface Job {
  id: number;
  indices: Int32Array;
  seed: number;
  epoch: number;
  resolve: (b: RawBatch) => void;
  reject: (e: Error) => void;
  slot: Slot | null;
}

interface Slot {
  worker: Worker;
  jobs: Set<number>;
  alive: boolean;
}

class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private closing = false;

  constructor(n: number, recipe: WorkerRecipe, boot: Boot, private readonly fallback: Dataset) {
    for (let i = 0; i < n; i++) {
      const worker = new Worker(BOOT, { eval: true, workerData: { recipe, entry: boot.entry, tsCompiler: boot.tsCompiler } });
      const slot: Slot = { worker, jobs: new Set(), alive: true };
      worker.unref();
      worker.on('message', (m: { type: string; id?: number; images?: Float32Array; labels?: Int32Array;
                                 message?: string; stack?: string; key?: string }) => {
        if (m.type === 'done' || m.type === 'error') {
          const job = this.jobs.get(m.id!);
          if (!job || job.slot !== slot) return;
          this.release(job);
          if (m.type === 'done') job.resolve({ images: m.images!, labels: m.labels! });
          else {
            const err = new Error(m.message);
            if (m.stack) err.stack = m.stack;
            job.reject(err);
          }
        } else if (m.type === 'warn') {
          warnOnce(m.key!, m.message!);
        } else if (m.type === 'init-error') {
          this.kill(slot, `worker could not build the dataset: ${m.message}`);
        }
      });
      worker.on('error', (e) => this.kill(slot, `worker failed: ${e.message}`));
      worker.on('exit', (code) => {
        if (!this.closing) this.kill(slot, `worker exited with code ${code}`);
      });
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.filter((s) => s.alive).length;
  }

  run(indices: Int32Array, seed: number, epoch: number): Promise<RawBatch> {
    return new Promise<RawBatch>((resolve, reject) => {
      const job: Job = { id: this.nextId++, indices, seed, epoch, resolve, reject, slot: null };
      this.jobs.set(job.id, job);
      this.dispatch(job);
    });
  }

  private dispatch(job: Job): void {
    let best: Slot | null = null;
    for (const s of this.slots) if (s.alive && (best === null || s.jobs.size < best.jobs.size)) best = s;
    if (best === null) {
      // No thread left: build it here.
      this.jobs.delete(job.id);
      assembleBatch(this.fallback, job.indices, job.seed, job.epoch).then(job.resolve, job.reject);
      return;
    }
    job.slot = best;
    best.jobs.add(job.id);
    if (best.jobs.size === 1) best.worker.ref();
    best.worker.postMessage({ type: 'job', id: job.id, indices: job.indices, seed: job.seed, epoch: job.epoch });
  }

  private release(job: Job): void {
    this.jobs.delete(job.id);
    const slot = job.slot;
    if (!slot) return;
    slot.jobs.delete(job.id);
    if (slot.jobs.size === 0) slot.worker.unref();
  }

  /** Retire a failed worker and hand its jobs to the others (or to the main thread). */
  private kill(slot: Slot, reason: string): void {
    if (!slot.alive || this.closing) return;
    slot.alive = false;
    const left = this.size;
    warnOnce(`loader:worker:${reason}:${left}`,
             `DataLoader: ${reason}; ${left > 0 ? `continuing with ${left} worker(s)` : 'loading in-process'}`);
    void slot.worker.terminate().catch(() => undefined);
    for (const id of [...slot.jobs]) {
      const job = this.jobs.get(id);
      slot.jobs.delete(id);
      if (job) {
        job.slot = null;
        this.dispatch(job);
      }
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const job of this.jobs.values()) job.reject(new Error('DataLoader closed'));
    this.jobs.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate().catch(() => undefined)));
    this.slots.length = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Loader

interface Pending {
  epoch: number;
  position: number;
  promise: Promise<Batch>;
}

export class DataLoader {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly batchesPerEpoch: number;
  private seed: number;
  private epoch = 0;
  private position = 0;
  private queue: Pending[] = [];
  private readonly prefetch: number;
  private pool: WorkerPool | null = null;
  private readonly orders = new Map<number, Int32Array>();
  private closed = false;
  /** In-process batch builds not settled yet. */
  private readonly inProcess = new Set<Promise<void>>();

  constructor(readonly dataset: Dataset, opts: LoaderOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize <= 0) {
      throw new RangeError(`DataLoader: batchSize must be a positive integer, got ${opts.batchSize}`);
    }
    this.batchSize = opts.batchSize;
    this.seed = opts.seed ?? 0;
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? true;
    const n = dataset.length;
    this.batchesPerEpoch = this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
    if (this.batchesPerEpoch === 0) {
      throw new RangeError(`DataLoader: dataset of ${n} samples is smaller than one batch of ${this.batchSize}`);
    }
    const workers = opts.workers ?? 2;
    if (workers > 0) {
      const boot = workerBoot();
      const recipe = dataset.workerRecipe?.();
      if ('error' in boot) {
        warnOnce('loader:no-workers', `DataLoader: worker threads unavailable (${boot.error}); loading in-process`);
      } else if (!recipe) {
        warnOnce('loader:no-recipe', 'DataLoader: the dataset has no workerRecipe(); loading in-process');
      } else {
        this.pool = new WorkerPool(workers, recipe, boot, dataset);
      }
    }
    this.prefetch = Math.max(1, opts.prefetch ?? (this.pool ? 2 * workers : 1));
    if (opts.state) this.setState(opts.state);
  }

  /** Worker threads in use (0 = in-process). */
  get workers(): number {
    return this.pool?.size ?? 0;
  }

  /** Dataset indices of epoch `epoch`, in visiting order. */
  order(epoch: number): Int32Array {
    let o = this.orders.get(epoch);
    if (!o) {
      const n = this.dataset.length;
      if (this.shuffle) o = Rng.forKey(this.seed, SHUFFLE_KEY, epoch).permutation(n);
      else o = Int32Array.from({ length: n }, (_, i) => i);
      this.orders.set(epoch, o);
      while (this.orders.size > 3) this.orders.delete(this.orders.keys().next().value as number);
    }
    return o;
  }

  /** Dataset indices of batch `position` of epoch `epoch`. */
  batchIndices(epoch: number, position: number): Int32Array {
    const start = position * this.batchSize;
    return this.order(epoch).slice(start, Math.min(start + this.batchSize, this.dataset.length));
  }

  state(): LoaderState {
    return {
      version: 1, seed: this.seed, epoch: this.epoch, position: this.position,
      length: this.dataset.length, batchSize: this.batchSize,
    };
  }

  setState(s: LoaderState): void {
    if (s.version !== 1) throw new Error(`DataLoader: unsupported state version ${s.version}`);
    if (s.length !== this.dataset.length || s.batchSize !== this.batchSize) {
      throw new Error(`DataLoader: state was saved with ${s.length} samples and batch ${s.batchSize}, ` +
                      `this loader has ${this.dataset.length} and ${this.batchSize}`);
    }
    if (!Number.isInteger(s.epoch) || s.epoch < 0 || !Number.isInteger(s.position) ||
        s.position < 0 || s.position >= this.batchesPerEpoch) {
      throw new RangeError(`DataLoader: invalid state epoch ${s.epoch} position ${s.position}`);
    }
    if (s.seed !== this.seed) this.orders.clear();
    this.seed = s.seed;
    this.epoch = s.epoch;
    this.position = s.position;
    this.queue = [];
  }

  private build(epoch: number, position: number): Promise<Batch> {
    const indices = this.batchIndices(epoch, position);
    const seed = this.seed;
    const raw = this.pool
      ? this.pool.run(indices, seed, epoch)
      : new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        if (this.closed) throw new Error('DataLoader closed');
        return assembleBatch(this.dataset, indices, seed, epoch);
      });
    if (!this.pool) {
      // close() waits for these, so that no dataset read is still running once it has returned
      const settled = raw.then(() => undefined, () => undefined);
      this.inProcess.add(settled);
      void settled.then(() => this.inProcess.delete(settled));
    }
    const p = raw.then((b) => ({
      images: b.images, labels: b.labels, indices, epoch, step: position,
      size: indices.length, imageSize: this.dataset.imageSize,
    }));
    p.catch(() => undefined); // discarded prefetches must not raise unhandled rejections
    return p;
  }

  private fill(): void {
    while (this.queue.length < this.prefetch) {
      let epoch = this.epoch;
      let position = this.position;
      const last = this.queue[this.queue.length - 1];
      if (last) {
        epoch = last.epoch;
        position = last.position + 1;
        if (position === this.batchesPerEpoch) {
          epoch++;
          position = 0;
        }
      }
      this.queue.push({ epoch, position, promise: this.build(epoch, position) });
    }
  }

  /** The next batch (crossing into the next epoch after the last batch of one). */
  async next(): Promise<Batch> {
    if (this.closed) throw new Error('DataLoader: next() after close()');
    this.fill();
    const head = this.queue.shift()!;
    this.position = head.position + 1;
    this.epoch = head.epoch;
    if (this.position === this.batchesPerEpoch) {
      this.epoch++;
      this.position = 0;
    }
    this.fill();
    return head.promise;
  }

  /** The remaining batches of the current epoch. */
  async *epochBatches(): AsyncGenerator<Batch> {
    const epoch = this.epoch;
    while (this.epoch === epoch && !this.closed) yield await this.next();
  }

  /**
   * Terminate the workers and wait for in-process work already started (no dataset read runs once
   * this has resolved); the loader cannot be used afterwards.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.close();
    await Promise.all([...this.inProcess]);
  }
}
