// A training loop's memory is flat across steps: after the first steps (which fill the optimizer
// state and, on cuda, the allocator's cache) every step ends with the same live tensors, native
// buffers and bytes, and on cuda without a new driver allocation. Runs on every device here (the
// cuda case also on the CUDA emulator, npm run test:emu).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';

import { memory } from '../../lib/tensor/memory';
import type { Device } from '../../lib/tensor/device';
import { finetune } from '../../lib/train/finetune';
import { pretrain } from '../../lib/train/pretrain';
import { devices } from '../helpers/devices';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-memflat-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Snapshot = { tensors: number; buffers: number; bytes: number; driverAllocs?: number };
const snap = (device: Device): Snapshot => {
  const m = memory()[device];
  return { tensors: m.tensors, buffers: m.buffers, bytes: m.bytes, ...(device === 'cuda' ? { driverAllocs: m.driverAllocs } : {}) };
};

function expectFlat(label: string, snaps: Snapshot[], settle: number): void {
  expect(snaps.length).toBeGreaterThan(settle + 2);
  snaps.slice(settle + 1).forEach((s, i) => expect(s, `${label}: step ${settle + 2 + i} against step ${settle + 1}`).toEqual(snaps[settle]));
}

describe.each(devices)('training memory on %s', (device) => {
  const common = { data: 'synthetic', model: 'tiny', imgSize: 32, batchSize: 8, limit: 64, workers: 0, progress: false as const, device, steps: 8 };

  it('pretraining: every step after the second ends with the same tensors, buffers and bytes', async () => {
    const snaps: Snapshot[] = [];
    await pretrain({ ...common, out: path.join(tmp, `pre-${device}`), reconstructions: 0, lr: 1e-3, onStep: () => snaps.push(snap(device)) });
    expectFlat(`pretrain on ${device}`, snaps, 2);
  });

  it('finetuning: the same', async () => {
    const snaps: Snapshot[] = [];
    await finetune({ ...common, out: path.join(tmp, `fine-${device}`), valLimit: 16, blr: 0.05, mixup: 0, cutmix: 0, onStep: () => snaps.push(snap(device)) });
    expectFlat(`finetune on ${device}`, snaps, 2);
  });
});
