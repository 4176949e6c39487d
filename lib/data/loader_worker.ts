// Worker-thread side of the batch loader (started by loader.ts, never imported by users).
//
// Contract: workerData = { recipe: WorkerRecipe }. The worker builds the dataset from the recipe,
// answers {type:'ready'} or {type:'init-error', message}, then serves
// {type:'job', id, indices, seed, epoch} with {type:'done', id, images, labels} (buffers
// transferred) or {type:'error', id, message, stack}. One-time warnings are forwarded as
// {type:'warn', key, message}.

import { parentPort, workerData } from 'node:worker_threads';
import type { Dataset, WorkerRecipe } from './types';
import { assembleBatch } from './batch';
import { setWarnSink } from './warn';

interface JobMsg {
  type: 'job';
  id: number;
  indices: Int32Array;
  seed: number;
  epoch: number;
}

async function start(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const forwarded = new Set<string>();
  setWarnSink((key, message) => {
    if (forwarded.has(key)) return;
    forwarded.add(key);
    port.postMessage({ type: 'warn', key, message });
  });
  const recipe = (workerData as { recipe: WorkerRecipe }).recipe;
  let ds: Dataset;
  try {
    const mod = require(recipe.module) as Record<string, unknown>;
    const factory = mod[recipe.factory];
    if (typeof factory !== 'function') throw new Error(`${recipe.module} exports no function ${recipe.factory}`);
    ds = await (factory as (o: unknown) => Dataset | Promise<Dataset>)(recipe.options);
  } catch (e) {
    port.postMessage({ type: 'init-error', message: e instanceof Error ? e.message : String(e) });
    return;
  }
  port.on('message', (msg: JobMsg) => {
    if (msg.type !== 'job') return;
    assembleBatch(ds, msg.indices, msg.seed, msg.epoch).then(
      (b) => port.postMessage({ type: 'done', id: msg.id, images: b.images, labels: b.labels },
                              [b.images.buffer as ArrayBuffer, b.labels.buffer as ArrayBuffer]),
      (e: unknown) => port.postMessage({
        type: 'error', id: msg.id,
        message: e instanceof Error ? e.message : String(e),
        stack: e instanceof Error ? e.stack : undefined,
      }));
  });
  port.postMessage({ type: 'ready' });
}

void start();
