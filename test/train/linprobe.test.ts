// Linear probing (lib/train/linprobe.ts): BatchNorm1d against hand-computed statistics; a probe
// from a pretraining checkpoint trains only the head (every encoder tensor unchanged bit for bit,
// fc_norm frozen at 1/0, the official head.0/head.1 keys); a cached-feature probe on synthetic
// data reaches above-chance accuracy, and its best.safetensors evaluated on the images (no cache)
// gives the same accuracy; the probe resumes exactly.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';

import { readSafetensors } from '../../lib/io/safetensors';
import { recordToFloat32 } from '../../lib/io/record';
import { saveModel } from '../../lib/models/checkpoint';
import { preset } from '../../lib/models/config';
import { ConvMAE } from '../../lib/models/convmae';
import { tidy } from '../../lib/tensor/scope';
import { tensor } from '../../lib/tensor/tensor';
import { evaluateCheckpoint, loadClassifier } from '../../lib/train/evaluate';
import { BatchNorm1d, LinearProbeModel, linprobe } from '../../lib/train/linprobe';
import { expectClose } from '../helpers/close';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-linprobe-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('BatchNorm1d (affine-free, PyTorch semantics)', () => {
  it('normalises with batch statistics in training, running statistics in eval', () => {
    const bn = new BatchNorm1d(2, 1e-6, 0.1);
    const x = [1, 10, 3, 20, 5, 60]; // columns [1, 3, 5] (mean 3, var 8/3) and [10, 20, 60] (mean 30, var 1400/3)
    const y = tidy(() => bn.forward(tensor(Float32Array.from(x), [3, 2])).toFloat32Array());
    const s0 = Math.sqrt(8 / 3 + 1e-6), s1 = Math.sqrt(1400 / 3 + 1e-6);
    expectClose(y, [-2 / s0, -20 / s1, 0, -10 / s1, 2 / s0, 30 / s1], { atol: 1e-6, rtol: 1e-5 }, 'train output');
    // running = 0.9·init + 0.1·batch, with the unbiased variance (n/(n−1)).
    expectClose(bn.running_mean.toFloat32Array(), [0.3, 3], { atol: 1e-6, rtol: 1e-6 }, 'running_mean');
    expectClose(bn.running_var.toFloat32Array(), [0.9 + 0.1 * 4, 0.9 + 0.1 * 700], { atol: 1e-5, rtol: 1e-6 }, 'running_var');
    expect((bn.num_batches_tracked.toTypedArray() as BigInt64Array)[0]).toBe(1n);
    bn.eval();
    const z = tidy(() => bn.forward(tensor(Float32Array.of(0.3, 3), [1, 2])).toFloat32Array());
    expectClose(z, [0, 0], { atol: 1e-6, rtol: 0 }, 'eval output');
    expect((bn.num_batches_tracked.toTypedArray() as BigInt64Array)[0]).toBe(1n);
    const sd = bn.stateDict();
    expect([...sd.keys()]).toEqual(['running_mean', 'running_var', 'num_batches_tracked']);
    expect(sd.get('num_batches_tracked')).toMatchObject({ dtype: 'int64', shape: [] });
    bn.dispose();
  });
});

describe('linprobe', () => {
  it('trains only the head on a frozen encoder, with the official checkpoint keys', async () => {
    const init = path.join(tmp, 'pretrained.safetensors');
    const mae = new ConvMAE(preset('tiny', { imgSize: 32 }), { seed: 5 });
    saveModel(mae, init);
    mae.dispose();
    const out = path.join(tmp, 'frozen');
    const r = await linprobe({ data: 'synthetic', init, batchSize: 8, steps: 4, saveEvery: 2, limit: 32, valLimit: 8, workers: 0, device: 'cpu', out, progress: false });
    expect(r.init!.missing.slice().sort()).toEqual(['fc_norm.bias', 'fc_norm.weight', 'head.bias', 'head.weight']);
    const before = readSafetensors(init).tensors;
    const after = readSafetensors(path.join(out, 'checkpoint-last.safetensors')).tensors;
    const weights = [...after.keys()].filter((k) => !k.startsWith('optim.'));
    const encoder = weights.filter((k) => !k.startsWith('head.') && !k.startsWith('fc_norm.'));
    expect(encoder.length).toBeGreaterThan(40);
    for (const k of encoder) expect(Buffer.from(after.get(k)!.data).equals(Buffer.from(before.get(k)!.data)), k).toBe(true);
    expect(weights.filter((k) => k.startsWith('head.') || k.startsWith('fc_norm.')).sort()).toEqual([
      'fc_norm.bias', 'fc_norm.weight', 'head.0.num_batches_tracked', 'head.0.running_mean', 'head.0.running_var', 'head.1.bias', 'head.1.weight']);
    expect(Array.from(recordToFloat32(after.get('fc_norm.weight')!))).toEqual(new Array(32).fill(1));
    expect(Array.from(recordToFloat32(after.get('fc_norm.bias')!))).toEqual(new Array(32).fill(0));
    expect(after.get('head.0.num_batches_tracked')).toMatchObject({ dtype: 'int64', shape: [] });
    expect(recordToFloat32(after.get('head.0.num_batches_tracked')!)[0]).toBe(4);
    expect(after.get('head.1.weight')!.shape).toEqual([10, 32]);
    expect([...after.keys()].filter((k) => k.startsWith('optim.')).sort()).toEqual(
      ['optim.head.1.bias.momentum_buffer', 'optim.head.1.weight.momentum_buffer']);
    // Between steps 2 and 4 only the head and the BatchNorm statistics changed.
    const mid = readSafetensors(path.join(out, 'checkpoint-2.safetensors')).tensors;
    const changed = weights.filter((k) => !Buffer.from(mid.get(k)!.data).equals(Buffer.from(after.get(k)!.data)));
    expect(changed.sort()).toEqual(['head.0.num_batches_tracked', 'head.0.running_mean', 'head.0.running_var', 'head.1.bias', 'head.1.weight']);
    // The classifier loads back (strict) as a linear probe.
    const probe = loadClassifier(path.join(out, 'checkpoint-last.safetensors'));
    expect(probe).toBeInstanceOf(LinearProbeModel);
    probe.dispose();
  });

  it('a cached-feature probe on synthetic data beats chance, and evaluating its best checkpoint on images agrees', async () => {
    const out = path.join(tmp, 'cached');
    const r = await linprobe({
      data: 'synthetic', model: 'tiny', imgSize: 64, batchSize: 32, steps: 300, limit: 640, valLimit: 200, evalEvery: 100, blr: 100,
      cacheFeatures: true, workers: 0, device: 'cpu', out, progress: false,
    });
    expect(mean(r.losses.slice(-30))).toBeLessThan(mean(r.losses.slice(0, 30)) - 0.05);
    expect(r.lastEval!.acc1).toBeGreaterThan(15); // chance is 10%
    const ev = await evaluateCheckpoint({ init: r.best!, data: 'synthetic', limit: 200, batchSize: 32, device: 'cpu', out });
    expect(ev.classifier).toBe('linear-probe');
    expect(ev.count).toBe(200);
    expect(ev.acc1).toBe(r.bestAcc1);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'eval.json'), 'utf8')).acc1).toBe(ev.acc1);
  });

  it('resumes exactly (cached features)', async () => {
    const base = {
      data: 'synthetic', model: 'tiny', imgSize: 32, batchSize: 8, steps: 8, limit: 24, valLimit: 8, saveEvery: 4, blr: 50,
      cacheFeatures: true, workers: 0, device: 'cpu' as const, progress: false as const,
    };
    const a = path.join(tmp, 'lp-straight'), b = path.join(tmp, 'lp-resumed');
    const full = await linprobe({ ...base, out: a });
    const rest = await linprobe({ ...base, out: b, resume: path.join(a, 'checkpoint-4.safetensors') });
    expect(rest.losses).toEqual(full.losses.slice(4));
    const wa = readSafetensors(path.join(a, 'checkpoint-last.safetensors')).tensors;
    const wb = readSafetensors(path.join(b, 'checkpoint-last.safetensors')).tensors;
    for (const [k, t] of wa) expect(Buffer.from(wb.get(k)!.data).equals(Buffer.from(t.data)), k).toBe(true);
  });
});
