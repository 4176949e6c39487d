// The ConvViT classifier: stochastic depth is active only in training mode and scales kept
// samples by 1/(1-p); evaluation is deterministic; cls mode reads the first token after `norm`;
// on a GPU, a float32 training step with drop path matches the CPU's (the same draws).
import { describe, expect, it } from 'vitest';

import { backward, clearTape, noGrad } from '../../lib/autograd/tape';
import { preset } from '../../lib/models/config';
import { ConvViT } from '../../lib/models/convvit';
import { sum } from '../../lib/ops/arith';
import type { Device } from '../../lib/tensor/device';
import { tidy } from '../../lib/tensor/scope';
import { tensor } from '../../lib/tensor/tensor';
import { relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { randn } from '../helpers/gradcheck';

describe('ConvViT classifier', () => {
  it('drop path is random in training, off in evaluation', () => {
    const m = new ConvViT(preset('tiny', { imgSize: 32, dropPath: 0.5, numClasses: 5 }), { seed: 4 });
    const imgs = Float32Array.from(randn(4 * 3 * 32 * 32, 6));
    const run = () => noGrad(() => tidy(() => Array.from(m.forward(tensor(imgs, [4, 3, 32, 32])).toFloat32Array())));
    m.eval();
    expect(run()).toEqual(run());
    m.train();
    const a = run(), b = run();
    expect(a).not.toEqual(b);
    tidy(() => backward(sum(m.forward(tensor(imgs, [4, 3, 32, 32])))));
    expect(m.head.weight.grad).not.toBeNull();
    clearTape();
    m.dispose();
  });

  it('cls mode uses `norm` and the first token', () => {
    const m = new ConvViT(preset('tiny', { imgSize: 32, globalPool: false, numClasses: 3 }), { seed: 5 });
    expect(m.namedParameters().some(([k]) => k === 'norm.weight')).toBe(true);
    expect(m.namedParameters().some(([k]) => k.startsWith('fc_norm'))).toBe(false);
    const out = noGrad(() => tidy(() => m.forward(tensor(Float32Array.from(randn(2 * 3 * 32 * 32, 8)), [2, 3, 32, 32])).shape));
    expect(out).toEqual([2, 3]);
    m.dispose();
  });
});

describe.skipIf(!cudaUsable)(`ConvViT with drop path on cuda ${cudaSkipReason}`, () => {
  it('a float32 training step matches the same step on the CPU', () => {
    const imgs = Float32Array.from(randn(4 * 3 * 32 * 32, 12));
    const step = (device: Device) => {
      const m = new ConvViT(preset('tiny', { imgSize: 32, dropPath: 0.5, numClasses: 5 }), { seed: 6 });
      m.to(device);
      m.precision = 'float32';
      m.train();
      const logits = tidy(() => {
        const y = m.forward(tensor(imgs, [4, 3, 32, 32], { device }));
        backward(sum(y));
        return Float64Array.from(y.toFloat32Array());
      });
      const grads = new Map(m.namedParameters().map(([k, t]) => [k, Float64Array.from(t.grad!.toFloat32Array())]));
      m.dispose();
      return { logits, grads };
    };
    const cpu = step('cpu'), gpu = step('cuda');
    expect(relL2(gpu.logits, cpu.logits)).toBeLessThanOrEqual(1e-5);
    for (const [k, g] of cpu.grads) expect(relL2(gpu.grads.get(k)!, g), k).toBeLessThanOrEqual(1e-4);
  });
});
