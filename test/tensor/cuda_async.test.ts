// Work on cuda is queued without the host waiting for the GPU. dispose() hands a block back to
// the caching allocator without waiting for the kernels queued on it (native/core.cc js_free):
// reuse is ordered by the one package stream. Here each input is freed right after the kernel
// that reads it is queued and its block is at once taken and overwritten by the next
// allocation; every result must still be the one its inputs give. And a whole training step
// (forward, backward, AdamW) queues its work with no wait at all (memory().cuda.streamWaits).
import { describe, expect, it } from 'vitest';

import { makeTrainStep, StepKind } from '../../bench/train_step';
import { memory } from '../../lib/tensor/memory';

import { matmul } from '../../lib/ops/matmul';
import { scale } from '../../lib/ops/elementwise';
import { full, tensor } from '../../lib/tensor/tensor';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';

const waits = () => memory().cuda.streamWaits ?? NaN;

describe.skipIf(!cudaUsable)(`work queued without waiting for the GPU (cuda) ${cudaSkipReason}`, () => {
  it.each(['pretrain', 'finetune'] as StepKind[])('a bf16 %s step of the tiny model makes the host wait for the GPU zero times', (kind) => {
    const step = makeTrainStep(kind, 'cuda', 'bf16', 4, 'tiny');
    try {
      step.run(0);
      step.run(1);
      const before = waits();
      step.run(2);
      step.run(3);
      expect(waits() - before, 'waits in two steps (each a synchronize, download or staging wait)').toBe(0);
      expect(step.run(4, undefined, true), 'reading the loss').toBeTypeOf('number');
      expect(waits() - before, 'the loss read is one wait').toBe(1);
    } finally {
      step.dispose();
    }
  });

  it('a chain that frees each input as soon as its kernel is queued ends with the right value', () => {
    const n = 1 << 20;
    let a = full([n], 1, { device: 'cuda' });
    for (let i = 0; i < 20; i++) {
      const b = scale(a, 2);
      a.dispose(); // b's kernel may not have run yet
      const overwrite = full([n], -1, { device: 'cuda' }); // likely a's block
      overwrite.dispose();
      a = b;
    }
    const host = a.toTypedArray() as Float32Array;
    a.dispose();
    expect(host.every((v) => v === 2 ** 20), `first: ${host[0]}`).toBe(true);
  });

  it('a long product reads its inputs, not what the freed blocks hold next', () => {
    const s = 2048; // ~17 GFLOP in float32: milliseconds of work still queued when the inputs go
    const a = full([s, s], 1, { device: 'cuda' }), b = full([s, s], 0.5, { device: 'cuda' });
    const c = matmul(a, b);
    a.dispose();
    b.dispose();
    const reused = [full([s, s], 1000, { device: 'cuda' }), full([s, s], 1000, { device: 'cuda' })];
    const host = c.toTypedArray() as Float32Array;
    c.dispose();
    expect(Array.from(reused[0].toTypedArray() as Float32Array).slice(0, 4)).toEqual([1000, 1000, 1000, 1000]);
    reused.forEach((t) => t.dispose());
    expect(host.every((v) => v === s / 2), `c[0] = ${host[0]}`).toBe(true);
  });

  it('an upload into a just-freed block waits its turn behind the kernel that read the block', () => {
    const n = 1 << 22;
    const src = full([n], 3, { device: 'cuda' });
    const doubled = scale(src, 2);
    src.dispose();
    const uploaded = tensor(new Float32Array(n).fill(5), [n], { device: 'cuda' }); // likely src's block
    expect((doubled.toTypedArray() as Float32Array).every((v) => v === 6)).toBe(true);
    expect((uploaded.toTypedArray() as Float32Array).every((v) => v === 5)).toBe(true);
    doubled.dispose();
    uploaded.dispose();
  });
});
