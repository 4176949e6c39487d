// Short CPU pretraining runs: the loss falls, a resumed run reproduces the uninterrupted one
// exactly, a non-finite loss stops the run naming the step and leaves the last good checkpoint,
// and bad inputs (corrupt checkpoint, missing data folder) give clear errors.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';

import { readSafetensors } from '../../lib/io/safetensors';
import { recordToFloat32 } from '../../lib/io/record';
import { native } from '../../lib/binding';
import { pretrain } from '../../lib/train/pretrain';

const base = { data: 'synthetic', model: 'tiny', imgSize: 32, batchSize: 16, limit: 256, workers: 0, progress: false as const, device: 'cpu' as const, reconstructions: 0 };
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-pretrain-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const tmp = () => fs.mkdtempSync(path.join(root, 'run-'));

describe('pretraining on the CPU', () => {
  it('the loss falls and the run folder holds metrics, plots and checkpoints', async () => {
    const out = tmp();
    const r = await pretrain({ ...base, steps: 40, lr: 2e-3, warmupSteps: 4, out, reconstructions: 2, saveEvery: 20 });
    const first = r.losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = r.losses.slice(-5).reduce((a, b) => a + b) / 5;
    expect(last).toBeLessThan(first * 0.97);
    const rows = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.length).toBe(40);
    expect(Object.keys(rows[0])).toEqual(expect.arrayContaining(['step', 'loss', 'lr', 'epoch']));
    for (const f of ['loss.png', 'reconstructions.png', 'checkpoint-last.safetensors', 'checkpoint-20.safetensors', 'checkpoint-40.safetensors']) {
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    }
    const { tensors, metadata } = readSafetensors(path.join(out, 'checkpoint-last.safetensors'));
    expect(metadata.format_version).toBe('1');
    expect(metadata.kind).toBe('convmae-pretrain');
    expect(JSON.parse(metadata.config).embed_dim).toEqual([16, 24, 32]);
    expect(metadata.step).toBe('40');
    expect(tensors.has('blocks1.0.conv1.weight')).toBe(true);
    expect(tensors.has('optim.blocks1.0.conv1.weight.exp_avg')).toBe(true);
    expect(fs.readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('--resume continues exactly: the same losses as an uninterrupted run', async () => {
    const a = tmp(), b = tmp();
    const straight = await pretrain({ ...base, steps: 8, lr: 1e-3, out: a, saveEvery: 4, config: { dropPath: 0 } });
    const resumed = await pretrain({ ...base, steps: 8, lr: 1e-3, out: b, resume: path.join(a, 'checkpoint-4.safetensors'), config: { dropPath: 0 } });
    expect(resumed.losses).toEqual(straight.losses.slice(4));
    const wa = recordToFloat32(readSafetensors(path.join(a, 'checkpoint-last.safetensors')).tensors.get('decoder_pred.weight')!);
    const wb = recordToFloat32(readSafetensors(path.join(b, 'checkpoint-last.safetensors')).tensors.get('decoder_pred.weight')!);
    expect(Array.from(wb)).toEqual(Array.from(wa));
    await expect(pretrain({ ...base, steps: 9, lr: 1e-3, out: tmp(), resume: path.join(a, 'checkpoint-4.safetensors') })).rejects.toThrow(/totalSteps/);
  });

  it('a non-finite loss stops the run, names the step and keeps the last good checkpoint', async () => {
    const out = tmp();
    await expect(pretrain({
      ...base, steps: 10, lr: 1e-3, out, saveEvery: 1,
      onStep: (row, model) => { if (row.step === 3) native.fill(model.decoder_pred.weight.handle(), NaN); },
    })).rejects.toThrow(/loss became NaN at step 4/);
    const { metadata, tensors } = readSafetensors(path.join(out, 'checkpoint-last.safetensors'));
    expect(metadata.step).toBe('3');
    // The NaN was written after step 3's save: the file on disk is the last good state.
    expect(recordToFloat32(tensors.get('decoder_pred.weight')!).every(Number.isFinite)).toBe(true);
  });

  it('bad inputs give clear errors', async () => {
    const out = tmp();
    const bad = path.join(out, 'corrupt.safetensors');
    fs.writeFileSync(bad, Buffer.from('not a checkpoint at all'));
    await expect(pretrain({ ...base, steps: 2, out, resume: bad })).rejects.toThrow(/corrupt\.safetensors/);
    await expect(pretrain({ ...base, steps: 2, out, data: path.join(out, 'no-such-folder') })).rejects.toThrow(/no-such-folder/);
    await expect(pretrain({ ...base, steps: 2, out, batchSize: 0 })).rejects.toThrow(/batchSize/);
  });
});
