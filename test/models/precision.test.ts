// The mixed-precision policy (lib/nn/precision.ts): float32 parameters and gradients, bfloat16
// activations on CUDA under 'bf16', float32 everywhere under 'float32' and on the CPU.
import { describe, expect, it } from 'vitest';

import { backward, clearTape, requireGrad } from '../../lib/autograd/tape';
import { preset } from '../../lib/models/config';
import { ConvMAE } from '../../lib/models/convmae';
import { ConvViT } from '../../lib/models/convvit';
import { gemmPaths } from '../../lib/backends';
import { native } from '../../lib/binding';
import { resolvePrecision, useParam, withParamCasts } from '../../lib/nn/precision';
import { castTo } from '../../lib/ops/cast';
import { add, mul, sum } from '../../lib/ops/arith';
import { tidy } from '../../lib/tensor/scope';
import { tensor } from '../../lib/tensor/tensor';
import { relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { randn } from '../helpers/gradcheck';

describe('precision policy', () => {
  it('defaults to float32 on the CPU and bf16 on CUDA, and refuses bf16 on the CPU', () => {
    expect(resolvePrecision('cpu')).toBe('float32');
    expect(resolvePrecision('cuda')).toBe('bf16');
    expect(resolvePrecision('cuda', 'float32')).toBe('float32');
    expect(() => resolvePrecision('cpu', 'bf16')).toThrow(/`precision` bf16 needs device cuda/);
    expect(() => resolvePrecision('cpu', 'fp8')).toThrow(/expected one of bf16, float32 for `precision` but got "fp8"/);
  });

  it('castTo returns the tensor itself for its own dtype and casts the gradient back', () => {
    tidy(() => {
      const x = requireGrad(tensor([1, -2, 3], [3], { dtype: 'float32' }));
      expect(castTo(x, 'float32')).toBe(x);
      const y = castTo(x, 'float64');
      expect(y.dtype).toBe('float64');
      backward(sum(mul(y, tensor([2, 3, 4], [3], { dtype: 'float64' }))));
      expect(x.grad!.dtype).toBe('float32');
      expect(Array.from(x.grad!.toFloat32Array())).toEqual([2, 3, 4]);
    });
  });

  it('useParam leaves a parameter alone when the activations share its dtype', () => {
    tidy(() => {
      const p = tensor([1, 2], [2]);
      expect(useParam(p, tensor([0, 0], [2]))).toBe(p);
      expect(useParam(p, tensor([0, 0], [2], { dtype: 'float64' })).dtype).toBe('float64');
    });
  });

  it('withParamCasts casts the parameters once, in one native call, and useParam hands those casts out', () => {
    const calls = { cast: 0, castMulti: 0 };
    const orig = { cast: native.cast, castMulti: native.castMulti };
    const spy = native as { cast: typeof orig.cast; castMulti: typeof orig.castMulti };
    spy.cast = (...a) => { calls.cast++; return orig.cast(...a); };
    spy.castMulti = (...a) => { calls.castMulti++; return orig.castMulti(...a); };
    try {
      tidy(() => {
        const p = requireGrad(tensor([1, 2], [2])), q = requireGrad(tensor([3], [1]));
        const x64 = tensor([0, 0], [2], { dtype: 'float64' });
        const w = (vals: number[]) => tensor(vals, [vals.length], { dtype: 'float64' });
        const loss = withParamCasts([p, q], 'float64', () => {
          const a = useParam(p, x64);
          expect(a.dtype).toBe('float64');
          expect(useParam(p, x64)).toBe(a);
          expect(useParam(p, tensor([0, 0], [2]))).toBe(p); // float32 activations take p itself
          withParamCasts([p, q], 'float64', () => expect(useParam(p, x64)).toBe(a)); // nested: nothing cast again
          return add(sum(mul(a, w([5, 7]))), sum(mul(useParam(q, x64), w([11]))));
        });
        expect(calls).toEqual({ cast: 0, castMulti: 1 });
        expect(useParam(p, x64).dtype).toBe('float64'); // outside the scope: an ordinary cast
        expect(calls.cast).toBe(1);
        backward(loss);
        expect(calls.castMulti).toBe(2); // the gradients went back in one call too
        expect(p.grad!.dtype).toBe('float32');
        expect(Array.from(p.grad!.toFloat32Array())).toEqual([5, 7]);
        expect(Array.from(q.grad!.toFloat32Array())).toEqual([11]);
        p.grad!.dispose();
        q.grad!.dispose();
      });
    } finally {
      spy.cast = orig.cast;
      spy.castMulti = orig.castMulti;
    }
  });

  it('a model set to bf16 on the CPU says so at forward', () => {
    const m = new ConvMAE(preset('tiny', { imgSize: 32 }), { seed: 1 });
    m.precision = 'bf16';
    tidy(() => {
      expect(() => m.forward({ imgs: tensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]) })).toThrow(/`precision` bf16 needs device cuda/);
    });
    clearTape();
    m.dispose();
  });
});

// bf16 against float32 for a whole step: each op is held to the per-op rule in test/ops; here the
// errors of ~20 layers compound, so the bound is a sanity bound (bf16 keeps 8 significant bits,
// 2^-8 ≈ 0.4% per rounding): the loss within 2% and every gradient within 10% relative L2.
describe.skipIf(!cudaUsable)(`mixed precision on cuda ${cudaSkipReason}`, () => {
  it('a tiny pretraining step in bf16 tracks the float32 step, with float32 gradients', () => {
    const cfg = preset('tiny', { imgSize: 64 });
    const n = 4, imgs = Float32Array.from(randn(n * 3 * 64 * 64, 5)), noise = Float32Array.from(randn(n * 16, 6));
    const step = (precision: 'bf16' | 'float32') => {
      const m = new ConvMAE(cfg, { seed: 7 });
      m.to('cuda');
      m.precision = precision;
      const cast = native.cast;
      let casts = 0;
      (native as { cast: typeof cast }).cast = (...a) => { casts++; return cast(...a); };
      const out = tidy(() => {
        try {
          const o = m.forward({ imgs: tensor(imgs, [n, 3, 64, 64], { device: 'cuda' }), noise });
          expect(o.loss.dtype).toBe('float32');
          expect(o.pred.dtype).toBe('float32');
          backward(o.loss);
          return o.loss.item();
        } finally {
          (native as { cast: typeof cast }).cast = cast;
        }
      });
      // the parameters are cast in one castMulti call each way, not by one cast each; the casts
      // left are of the images, the prediction and the prediction's gradient
      expect(casts, 'single-tensor casts in the step').toBeLessThanOrEqual(precision === 'bf16' ? 6 : 0);
      const grads = new Map(m.namedParameters().map(([k, t]) => {
        expect(t.grad!.dtype).toBe('float32');
        return [k, t.grad!.toFloat32Array()];
      }));
      m.dispose();
      return { loss: out, grads };
    };
    const f = step('float32'), b = step('bf16');
    expect(Math.abs(b.loss - f.loss) / f.loss).toBeLessThanOrEqual(0.02);
    for (const [k, g] of f.grads) expect(relL2(b.grads.get(k)!, g), k).toBeLessThanOrEqual(0.1);
  });

  // Which GEMMs a bf16 step sends to the plain tiled kernel (lib/backends.ts gemmPaths): here only
  // the classifier's mean over tokens (m 1) and its gradient (k 1), 0.6% of the outputs (8 classes,
  // so that the head's rows are a multiple of 8). An op that reached gemm with shapes the tensor
  // cores cannot take on activation-sized data shows: drop path as a batched m = k = 1 gemm (~80 ms
  // of run 7's ConvViT-B step, before session 11) put 11% of this step's outputs there.
  it('a bf16 training step writes nearly all its GEMM outputs on the tensor cores', () => {
    const n = 4, imgs = Float32Array.from(randn(n * 3 * 64 * 64, 9)), noise = Float32Array.from(randn(n * 16, 10));
    const plainShare = (run: () => void) => {
      gemmPaths({ reset: true });
      run();
      const p = gemmPaths({ reset: true });
      expect(p.tensorCore.calls).toBeGreaterThan(0);
      return p.plainBf16.outputs / (p.plainBf16.outputs + p.tensorCore.outputs);
    };
    const mae = new ConvMAE(preset('tiny', { imgSize: 64 }), { seed: 3 });
    mae.to('cuda');
    const pretrain = plainShare(() => tidy(() => {
      backward(mae.forward({ imgs: tensor(imgs, [n, 3, 64, 64], { device: 'cuda' }), noise }).loss);
    }));
    mae.dispose();
    const vit = new ConvViT(preset('tiny', { imgSize: 64, numClasses: 8, dropPath: 0.1 }), { seed: 3 });
    vit.to('cuda');
    vit.train();
    const finetune = plainShare(() => tidy(() => {
      backward(sum(vit.forward(tensor(imgs, [n, 3, 64, 64], { device: 'cuda' }))));
    }));
    vit.dispose();
    expect(pretrain, 'pretraining').toBeLessThanOrEqual(0.02);
    expect(finetune, 'finetuning with drop path').toBeLessThanOrEqual(0.02);
  });

  it('ConvViT returns float32 logits and features under bf16', () => {
    const m = new ConvViT(preset('tiny', { imgSize: 32, numClasses: 3 }), { seed: 2 });
    m.to('cuda');
    tidy(() => {
      const x = tensor(Float32Array.from(randn(2 * 3 * 32 * 32, 3)), [2, 3, 32, 32], { device: 'cuda' });
      expect(m.forward(x).dtype).toBe('float32');
      const f = m.forwardFeatures(x);
      for (const t of [f.e1, f.e2, f.e3, f.e4]) expect(t.dtype).toBe('float32');
    });
    clearTape();
    m.dispose();
  });
});
