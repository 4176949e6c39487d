// Finetuning (lib/train/finetune.ts): a short tiny run on synthetic data learns (loss falls,
// accuracy above chance) and writes its outputs; loading the official tiny pretraining .pth
// follows SPEC 6.2 (exactly four missing keys, head re-initialised); a run resumed from its
// halfway checkpoint repeats the uninterrupted run's losses and weights exactly.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';

import { readSafetensors } from '../../lib/io/safetensors';
import { recordToFloat32 } from '../../lib/io/record';
import { readCheckpoint } from '../../lib/models/checkpoint';
import { preset } from '../../lib/models/config';
import { ConvViT } from '../../lib/models/convvit';
import { EpochLog, StepLog, loadInitWeights } from '../../lib/train/loop_utils';
import { finetune } from '../../lib/train/finetune';

const root = path.resolve(__dirname, '..', '..');
const PTH = path.join(root, 'test', 'fixtures', 'pth', 'pretrain-tiny-normpix.checkpoint.pth');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-finetune-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const FOUR = ['fc_norm.bias', 'fc_norm.weight', 'head.bias', 'head.weight'];

describe('finetune', () => {
  it('a short tiny run on synthetic data learns and writes its outputs', async () => {
    const out = path.join(tmp, 'learn');
    const epochs: EpochLog[] = [];
    const steps: StepLog[] = [];
    const r = await finetune({
      data: 'synthetic', model: 'tiny', imgSize: 32, batchSize: 16, steps: 60, limit: 320, valLimit: 200, blr: 0.05, warmupSteps: 5,
      mixup: 0, cutmix: 0, workers: 0, device: 'cpu', out, progress: false, onEpoch: (l) => epochs.push(l), onStep: (s) => steps.push(s),
    });
    expect(r.losses).toHaveLength(60);
    expect(mean(r.losses.slice(-15))).toBeLessThan(mean(r.losses.slice(0, 15)) - 0.05);
    expect(r.lastEval!.count).toBe(200);
    expect(r.lastEval!.acc1).toBeGreaterThan(13); // chance is 10%
    expect(r.lastEval!.acc5).toBeGreaterThanOrEqual(r.lastEval!.acc1);
    // Evaluated every epoch (20 steps), the last at the end.
    expect(epochs.map((e) => e.step)).toEqual([20, 40, 60]);
    expect(r.bestAcc1).toBe(Math.max(...epochs.map((e) => e.eval.acc1)));
    for (const f of ['best.safetensors', 'checkpoint-last.safetensors', 'metrics.jsonl', 'loss.png']) expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    const rows = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(60);
    for (const row of rows) for (const k of ['step', 'loss', 'lr']) expect(typeof row[k], k).toBe('number');
    const evalRows = rows.filter((x) => x.acc1 !== undefined);
    expect(evalRows.map((x) => x.step)).toEqual([20, 40, 60]);
    for (const k of ['acc1', 'acc5', 'val_loss', 'val_count']) expect(typeof evalRows[0][k], k).toBe('number');
    expect(steps[59].acc1).toBe(r.lastEval!.acc1);
    // Per-step warmup then cosine towards min_lr.
    expect(rows[0].lr).toBe(0);
    expect(rows[5].lr).toBeGreaterThan(rows[59].lr);
    const best = readSafetensors(path.join(out, 'best.safetensors'));
    expect(best.metadata.kind).toBe('convvit-classifier');
    expect(Number(best.metadata.acc1)).toBe(r.bestAcc1);
    expect(best.tensors.has('head.weight') && best.tensors.has('fc_norm.weight')).toBe(true);
    expect([...best.tensors.keys()].some((k) => k.startsWith('optim.'))).toBe(false);
  });

  it('loads the official tiny pretraining .pth as SPEC 6.2 (exactly the four head keys missing)', () => {
    const ck = readCheckpoint(PTH);
    const model = new ConvViT(preset('tiny', { imgSize: 224, numClasses: 10, dropPath: 0.1 }));
    try {
      const report = loadInitWeights(model, ck, PTH, { headStd: 2e-5, seed: 0, reinit: 'missing', cmd: 'finetune' });
      expect(report.missing.slice().sort()).toEqual(FOUR);
      expect(report.reinitialised.slice().sort()).toEqual(FOUR);
      expect(report.ignored).toEqual(expect.arrayContaining(['mask_token', 'decoder_pos_embed', 'norm.weight', 'norm.bias',
        'stage1_output_decode.weight', 'stage2_output_decode.bias', 'decoder_pred.weight']));
      const sd = model.stateDict();
      const w = recordToFloat32(sd.get('head.weight')!);
      const std = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
      expect(std).toBeGreaterThan(1e-5);
      expect(std).toBeLessThan(4e-5);
      expect(Array.from(recordToFloat32(sd.get('head.bias')!))).toEqual(new Array(10).fill(0));
      expect(Array.from(recordToFloat32(sd.get('fc_norm.weight')!))).toEqual(new Array(32).fill(1));
      expect(Array.from(recordToFloat32(sd.get('fc_norm.bias')!))).toEqual(new Array(32).fill(0));
      for (const k of ['pos_embed', 'patch_embed1.proj.weight', 'blocks1.0.attn.weight', 'blocks3.1.mlp.fc2.bias', 'patch_embed4.weight']) {
        expect(Array.from(recordToFloat32(sd.get(k)!)), k).toEqual(Array.from(recordToFloat32(ck.stateDict.get(k)!)));
      }
      // A checkpoint without an encoder tensor is refused with the key named.
      const broken = { ...ck, stateDict: new Map([...ck.stateDict].filter(([k]) => k !== 'blocks3.1.attn.qkv.weight')) };
      expect(() => loadInitWeights(model, broken, 'broken.pth', { headStd: 2e-5, seed: 0, reinit: 'missing', cmd: 'finetune' }))
        .toThrow(/missing keys must be exactly head\.weight, head\.bias, fc_norm\.weight, fc_norm\.bias.*blocks3\.1\.attn\.qkv\.weight/);
    } finally {
      model.dispose();
    }
  });

  it('finetune --init with the official .pth (224 px, two steps)', async () => {
    const r = await finetune({
      data: 'synthetic', init: PTH, batchSize: 2, steps: 2, limit: 4, valLimit: 2, workers: 0, device: 'cpu', out: path.join(tmp, 'pth'), progress: false,
    });
    expect(r.init!.missing.slice().sort()).toEqual(FOUR);
    expect(r.config.imgSize).toBe(224);
    expect(r.config.embedDim).toEqual([16, 24, 32]);
    expect(r.config.numClasses).toBe(10);
    expect(r.config.dropPath).toBe(0); // tiny
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.lastEval!.count).toBe(2);
    await expect(finetune({ data: 'synthetic', init: PTH, imgSize: 64, steps: 1, out: path.join(tmp, 'bad'), progress: false }))
      .rejects.toThrow(/224 px.*--img-size 224/);
  });

  it('resuming from the halfway checkpoint repeats the uninterrupted run exactly', async () => {
    const base = {
      data: 'synthetic', model: 'tiny', imgSize: 32, batchSize: 8, steps: 6, limit: 32, valLimit: 16, evalEvery: 2, saveEvery: 3,
      dropPath: 0.2, workers: 0, device: 'cpu' as const, progress: false as const, // mixup/cutmix and drop path on
    };
    const a = path.join(tmp, 'straight');
    const full = await finetune({ ...base, out: a });
    const b = path.join(tmp, 'resumed');
    fs.cpSync(a, b, { recursive: true });
    fs.rmSync(path.join(b, 'checkpoint-last.safetensors'));
    const rest = await finetune({ ...base, out: b, resume: path.join(b, 'checkpoint-3.safetensors') });
    expect(rest.losses).toEqual(full.losses.slice(3));
    const strip = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => {
      const { imagesPerSec: _i, elapsedSec: _e, ...row } = JSON.parse(l);
      return row;
    });
    expect(strip(path.join(b, 'metrics.jsonl'))).toEqual(strip(path.join(a, 'metrics.jsonl')));
    const wa = readSafetensors(path.join(a, 'checkpoint-last.safetensors')).tensors;
    const wb = readSafetensors(path.join(b, 'checkpoint-last.safetensors')).tensors;
    expect([...wb.keys()]).toEqual([...wa.keys()]);
    for (const [k, r] of wa) expect(Buffer.from(wb.get(k)!.data).equals(Buffer.from(r.data)), k).toBe(true);
    // A changed setting is refused.
    await expect(finetune({ ...base, batchSize: 4, out: b, resume: path.join(b, 'checkpoint-3.safetensors') })).rejects.toThrow(/batchSize/);
  });
});
