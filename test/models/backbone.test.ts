// The multi-scale feature API (SPEC.md §9.1): E1..E4 at strides 4, 8, 16, 32 from the same
// encoder code path, at the model's size and at other sizes (bicubic-resized position table).
import { describe, expect, it } from 'vitest';

import { backward, clearTape, noGrad } from '../../lib/autograd/tape';
import { preset } from '../../lib/models/config';
import { ConvViT } from '../../lib/models/convvit';
import { resizePosTable } from '../../lib/models/pos_resize';
import { sum } from '../../lib/ops/arith';
import { tidy } from '../../lib/tensor/scope';
import { Tensor, tensor } from '../../lib/tensor/tensor';
import { randn } from '../helpers/gradcheck';

describe('feature backbone', () => {
  it('returns E1..E4 with the right shapes, E3 equal to the stage-3 tokens', () => {
    const m = new ConvViT(preset('tiny', { imgSize: 64 }), { seed: 1 });
    const n = 2;
    tidy(() => noGrad(() => {
      const imgs = tensor(Float32Array.from(randn(n * 3 * 64 * 64, 3)), [n, 3, 64, 64]);
      const f = m.forwardFeatures(imgs);
      expect(f.e1.shape).toEqual([n, 16, 16, 16]);
      expect(f.e2.shape).toEqual([n, 24, 8, 8]);
      expect(f.e3.shape).toEqual([n, 32, 4, 4]);
      expect(f.e4.shape).toEqual([n, 32, 2, 2]);
      let tokens: Float32Array | null = null;
      m.forward(imgs, (name, t: Tensor) => { if (name === 'blocks3.1') tokens = t.toFloat32Array(); });
      const e3 = f.e3.toFloat32Array();
      for (const [b, c, y, x] of [[0, 0, 0, 0], [1, 31, 3, 2], [1, 7, 2, 3]]) {
        expect(e3[((b * 32 + c) * 4 + y) * 4 + x]).toBeCloseTo(tokens![(b * 16 + y * 4 + x) * 32 + c], 5);
      }
      const e4 = f.e4.toFloat32Array();
      expect(e4[0]).toBe(Math.max(e3[0], e3[1], e3[4], e3[5]));
    }));
    m.dispose();
  });

  it('works at other sizes and passes gradients to every stage', () => {
    const m = new ConvViT(preset('tiny', { imgSize: 64 }), { seed: 2 });
    tidy(() => {
      const imgs = tensor(Float32Array.from(randn(3 * 96 * 96, 4)), [1, 3, 96, 96]);
      const f = m.forwardFeatures(imgs);
      expect(f.e1.shape).toEqual([1, 16, 24, 24]);
      expect(f.e3.shape).toEqual([1, 32, 6, 6]);
      expect(f.e4.shape).toEqual([1, 32, 3, 3]);
      backward(sum(f.e4));
    });
    const named = new Map(m.namedParameters());
    for (const k of ['patch_embed1.proj.weight', 'blocks1.0.attn.weight', 'blocks2.0.mlp.fc2.weight', 'blocks3.1.attn.qkv.weight']) {
      expect(named.get(k)!.grad, k).not.toBeNull();
    }
    expect(() => m.forwardFeatures(tensor(new Float32Array(3 * 40 * 40), [1, 3, 40, 40]))).toThrow(/multiple of 16/);
    clearTape();
    m.dispose();
  });

  it('bicubic resizing of the position table keeps constants and the identity', () => {
    const c = 3, g = 4;
    const constant = new Float32Array(g * g * c).fill(0.7);
    for (const v of resizePosTable(constant, g, c, 7)) expect(v).toBeCloseTo(0.7, 6);
    const random = Float32Array.from(randn(g * g * c, 5));
    expect(Array.from(resizePosTable(random, g, c, g))).toEqual(Array.from(random));
    // Downsampling by 2 with align_corners=False samples at source x = 2i + 0.5; away from the
    // clamped border a linear ramp is reproduced exactly.
    const ramp = Float32Array.from({ length: 8 * 8 }, (_, i) => i % 8);
    const half = resizePosTable(ramp, 8, 1, 4);
    expect(half[1 * 4 + 1]).toBeCloseTo(2.5, 5);
    expect(half[2 * 4 + 2]).toBeCloseTo(4.5, 5);
  });
});
