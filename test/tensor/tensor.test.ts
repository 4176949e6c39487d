import { describe, expect, it } from 'vitest';
import ndarray from 'ndarray';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';

import { Tensor, tensor, zeros, full, empty, fromNdarray } from '../../lib/tensor/tensor';
import { tidy, keep } from '../../lib/tensor/scope';
import { emptyCache, memory } from '../../lib/tensor/memory';
import { DTYPES, bf16BitsToFloat, f16BitsToFloat, floatToBf16Bits, floatToF16Bits } from '../../lib/tensor/dtype';
import { native } from '../../lib/binding';
import { devices } from '../helpers/devices';

describe.each(devices)('tensor runtime on %s', (device) => {
  it('round-trips every dtype through creation and readback', () => {
    const vals = [0, 1, -2, 3.5, -0.25, 1024];
    for (const dtype of DTYPES) {
      const t = tensor(vals, [2, 3], { dtype, device });
      expect(t.shape).toEqual([2, 3]);
      expect(t.dtype).toBe(dtype);
      expect(t.device).toBe(device);
      const back = Array.from(t.toFloat32Array());
      expect(back).toEqual(vals.map((v) => (dtype.startsWith('int') ? Math.trunc(v) + 0 : v)));
      t.dispose();
    }
  });

  it('creates from TypedArrays with the inferred dtype and from ndarray', () => {
    const f = tensor(new Float64Array([1, 2, 3, 4]), [2, 2], { device });
    expect(f.dtype).toBe('float64');
    const nd = f.toNdarray();
    expect(nd.shape).toEqual([2, 2]);
    expect(nd.get(1, 0)).toBe(3);
    const fromNd = fromNdarray(ndarray(new Float32Array([1, 2, 3, 4, 5, 6]), [3, 2]).transpose(1, 0), { device });
    expect(fromNd.shape).toEqual([2, 3]);
    expect(Array.from(fromNd.toFloat32Array())).toEqual([1, 3, 5, 2, 4, 6]);
    f.dispose();
    fromNd.dispose();
  });

  it('fills, casts, copies and reshapes', () => {
    tidy(() => {
      const t = full([3, 4], 2.5, { device });
      expect(Array.from(t.toFloat32Array())).toEqual(new Array(12).fill(2.5));
      const r = t.reshape([12]);
      expect(r.shape).toEqual([12]);
      t.dispose();
      expect(r.toFloat32Array()[11]).toBe(2.5); // storage lives while a view holds it
      const i = r.cast('int32');
      expect(Array.from(i.toTypedArray() as Int32Array)).toEqual(new Array(12).fill(2));
      const c = r.to('cpu');
      expect(c.device).toBe('cpu');
    });
  });

  it('throws on use after dispose and disposes idempotently', () => {
    const t = zeros([4], { device });
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.toTypedArray()).toThrow(/after dispose/);
    expect(() => t.reshape([2, 2])).toThrow(/after dispose/);
  });

  it('emptyCache leaves live tensors and their values as they were', () => {
    const t = tensor([1.5, -2, 3], [3], { device });
    const before = memory()[device];
    emptyCache();
    const after = memory()[device];
    expect([after.tensors, after.buffers, after.bytes]).toEqual([before.tensors, before.buffers, before.bytes]);
    expect(Array.from(t.toTypedArray() as Float32Array)).toEqual([1.5, -2, 3]);
    t.dispose();
  });

  it('tidy frees what fn created except what it returns; counters return to their start', () => {
    const before = memory()[device];
    const kept = tidy(() => {
      const a = zeros([100], { device });
      const b = full([10, 10], 1, { device });
      const c = empty([5], { device });
      void a;
      void c;
      return { b, list: [tidy(() => zeros([3], { device }))] };
    });
    const mid = memory()[device];
    expect(mid.tensors - before.tensors).toBe(2);
    expect(mid.buffers - before.buffers).toBe(2);
    kept.b.dispose();
    kept.list[0].dispose();
    const after = memory()[device];
    expect(after.tensors).toBe(before.tensors);
    expect(after.buffers).toBe(before.buffers);
    expect(after.bytes).toBe(before.bytes);
    expect(after.peakBytes).toBeGreaterThanOrEqual(before.bytes + 400);
  });

  it('a disposed tensor\'s native handle stays dead after its slot is reused by a new tensor', () => {
    const old = full([4], 1, { device });
    const handle = old.handle();
    old.dispose();
    const fresh = full([4], 2, { device });  // takes the freed slot (the table reuses the last freed first)
    expect(native.isAlive(handle)).toBe(false);
    expect(() => native.download(handle, new Float32Array(4))).toThrow(/was disposed/);
    expect(() => native.free(handle)).not.toThrow();  // freeing a stale handle again changes nothing
    expect(Array.from(fresh.toFloat32Array())).toEqual([2, 2, 2, 2]);
    expect(native.isAlive(fresh.handle())).toBe(true);
    fresh.dispose();
  });

  it('tidy disposes on throw, keep() exempts, and async fns are refused', () => {
    const before = memory()[device].buffers;
    expect(() => tidy(() => { zeros([8], { device }); throw new Error('boom'); })).toThrow('boom');
    expect(memory()[device].buffers).toBe(before);
    let k: Tensor | undefined;
    tidy(() => { k = keep(zeros([2], { device })); });
    expect(k!.disposed).toBe(false);
    k!.dispose();
    expect(() => tidy((async () => zeros([1])) as never)).toThrow(/synchronous/);
  });
});

describe('the garbage-collection safety net', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;

  // Collects until the live counts return to `want` (finalizers run after a collection, in a later
  // task), at most 50 rounds; returns the counts seen last.
  async function collectUntil(want: { tensors: number; buffers: number }): Promise<{ tensors: number; buffers: number }> {
    let m = memory().cpu;
    for (let i = 0; i < 50 && (m.tensors !== want.tensors || m.buffers !== want.buffers); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
      m = memory().cpu;
    }
    return { tensors: m.tensors, buffers: m.buffers };
  }

  it('counts out and frees tensors dropped without dispose(): made outside a scope, kept, or returned by the outermost tidy', async () => {
    const before = { tensors: memory().cpu.tensors, buffers: memory().cpu.buffers };
    (() => {
      zeros([64]);
      zeros([8]).reshape([2, 4]);  // a view and its base, both dropped
      tidy(() => { keep(zeros([16])); });
      tidy(() => ({ t: zeros([32]) }));
    })();
    expect(memory().cpu.tensors - before.tensors).toBe(5);
    expect(await collectUntil(before)).toEqual(before);
  });

  it('leaves tensors a scope disposed out of it, and counts a disposed one once', async () => {
    const before = { tensors: memory().cpu.tensors, buffers: memory().cpu.buffers };
    tidy(() => { zeros([64]); });
    const t = zeros([8]);
    t.dispose();
    expect({ tensors: memory().cpu.tensors, buffers: memory().cpu.buffers }).toEqual(before);
    expect(await collectUntil({ tensors: before.tensors - 1, buffers: before.buffers })).toEqual(before);
  });
});

describe('native buffers from several threads', () => {
  it('allocate and free concurrently on worker threads and the main thread, the counters back at their start', async () => {
    const root = path.resolve(__dirname, '..', '..');
    // Each worker loads the addon as lib/binding.ts does and allocates and frees CPU buffers.
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      const native = workerData.addon ? require(workerData.addon) : require(workerData.bindings)({ bindings: 'convmae', module_root: workerData.root });
      const live = [];
      for (let i = 0; i < 20000; i++) {
        live.push(native.alloc(0, 0, 1 + (i % 64)));
        if (live.length > 50) native.free(live.splice((i * 7) % live.length, 1)[0]);
      }
      for (const h of live) native.free(h);
      parentPort.postMessage(live.every((h) => !native.isAlive(h)));`;
    const before = memory().cpu;
    const workerData = { addon: process.env.CONVMAE_ADDON ? path.resolve(process.env.CONVMAE_ADDON) : null, root, bindings: require.resolve('bindings') };
    const runs = [0, 1].map(() => new Promise<boolean>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData });
      w.once('message', resolve);
      w.once('error', reject);
    }));
    for (let i = 0; i < 20000; i++) zeros([1 + (i % 64)]).dispose();
    expect(await Promise.all(runs)).toEqual([true, true]);
    const after = memory().cpu;
    expect([after.buffers, after.bytes]).toEqual([before.buffers, before.bytes]);
  });
});

describe('16-bit float conversions', () => {
  it('match IEEE rounding on known values', () => {
    expect(floatToF16Bits(1)).toBe(0x3c00);
    expect(floatToF16Bits(65504)).toBe(0x7bff);
    expect(floatToF16Bits(1e6)).toBe(0x7c00);
    expect(f16BitsToFloat(0x0001)).toBe(2 ** -24);
    expect(floatToBf16Bits(1)).toBe(0x3f80);
    expect(bf16BitsToFloat(0x4049)).toBeCloseTo(3.140625, 6);
  });

  it('native casts agree with the TS conversions', () => {
    const vals = new Float32Array([0, 1, -1.5, 3.14159, 1e-5, 6e-8, 70000, -2.5e-3, 123.456]);
    const t = tensor(vals);
    const h = t.cast('float16');
    const b = t.cast('bfloat16');
    const hb = h.toTypedArray() as Uint16Array;
    const bb = b.toTypedArray() as Uint16Array;
    for (let i = 0; i < vals.length; i++) {
      expect(hb[i]).toBe(floatToF16Bits(vals[i]));
      expect(bb[i]).toBe(floatToBf16Bits(vals[i]));
    }
    [t, h, b].forEach((x) => x.dispose());
  });
});
