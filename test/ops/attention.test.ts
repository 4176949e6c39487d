// attention: forward against a plain-TS reference (float32 and float64, odd shapes), the saved
// probabilities, gradients by finite differences, tape and memory behaviour, and every bad
// argument through the TS API and straight through the native functions; on a GPU, the CUDA
// kernels against the CPU ones.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { backward, clearTape, noGrad, requireGrad, tapeLength } from '../../lib/autograd/tape';
import { attention } from '../../lib/ops/attention';
import { tidy } from '../../lib/tensor/scope';
import { empty, liveTensorCount, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { Device } from '../../lib/tensor/device';
import { expectClose, relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { type Run, freshSeed, rand32, put, hostF, expectParity } from '../helpers/cuda_compare';

/** out [N, L, H*Dh] and probs [N, H, L, L] in float64, straight from the definition. */
function refAttention(qkv: Float64Array, N: number, L: number, H: number, Dh: number): { out: Float64Array; probs: Float64Array } {
  const D = H * Dh, W = 3 * D, scale = 1 / Math.sqrt(Dh);
  const out = new Float64Array(N * L * D), probs = new Float64Array(N * H * L * L);
  const at = (n: number, i: number, which: number, h: number, c: number) => qkv[(n * L + i) * W + which * D + h * Dh + c];
  for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) for (let i = 0; i < L; i++) {
    const s = new Float64Array(L);
    for (let j = 0; j < L; j++) {
      let d = 0;
      for (let c = 0; c < Dh; c++) d += at(n, i, 0, h, c) * at(n, j, 1, h, c);
      s[j] = d * scale;
    }
    const mx = Math.max(...s);
    let z = 0;
    for (let j = 0; j < L; j++) z += (s[j] = Math.exp(s[j] - mx));
    for (let j = 0; j < L; j++) {
      const p = s[j] / z;
      probs[((n * H + h) * L + i) * L + j] = p;
      for (let c = 0; c < Dh; c++) out[(n * L + i) * D + h * Dh + c] += p * at(n, j, 2, h, c);
    }
  }
  return { out, probs };
}

const SHAPES: [number, number, number, number][] = [[2, 5, 2, 3], [1, 7, 3, 4], [3, 1, 1, 1], [2, 13, 4, 8], [1, 50, 2, 16]];

describe('attention forward', () => {
  it.each(SHAPES)('matches the reference for N=%i L=%i H=%i Dh=%i in float32 and float64', (N, L, H, Dh) => {
    const data = randn(N * L * 3 * H * Dh, N * 1000 + L * 10 + H, 1.5);
    const ref = refAttention(data, N, L, H, Dh);
    for (const dtype of ['float32', 'float64'] as const) {
      tidy(() => {
        const qkv = tensor(data, [N, L, 3 * H * Dh], { dtype });
        const out = attention(qkv, H);
        expect(out.shape).toEqual([N, L, H * Dh]);
        expect(out.dtype).toBe(dtype);
        const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 1e-5, rtol: 1e-4 };
        expectClose(out.toTypedArray() as Float64Array, ref.out, tol, `attention ${dtype}`);
      });
    }
  });

  it('writes the softmax probabilities for the backward (native)', () => {
    const [N, L, H, Dh] = [2, 6, 3, 2];
    const data = randn(N * L * 3 * H * Dh, 11, 2);
    const ref = refAttention(data, N, L, H, Dh);
    tidy(() => {
      const qkv = tensor(data, [N, L, 3 * H * Dh], { dtype: 'float64' });
      const out = zeros([N, L, H * Dh], { dtype: 'float64' });
      const probs = zeros([N, H, L, L], { dtype: 'float64' });
      native.attention(out.handle(), probs.handle(), qkv.handle(), N, L, H, Dh, 1 / Math.sqrt(Dh));
      expectClose(probs.toTypedArray() as Float64Array, ref.probs, { atol: 1e-14, rtol: 1e-12 }, 'probs');
      expectClose(out.toTypedArray() as Float64Array, ref.out, { atol: 1e-12, rtol: 1e-10 }, 'out');
    });
  });

  it('is stable for large scores (the row max is subtracted)', () => {
    const [N, L, H, Dh] = [1, 4, 1, 2];
    const data = randn(N * L * 3 * H * Dh, 5, 300);
    const ref = refAttention(data, N, L, H, Dh);
    tidy(() => {
      const out = attention(tensor(data, [N, L, 3 * H * Dh], { dtype: 'float32' }), H);
      const o = out.toTypedArray() as Float32Array;
      expect(o.every(Number.isFinite)).toBe(true);
      expectClose(o, ref.out, { atol: 1e-3, rtol: 1e-4 }, 'large scores');
    });
  });

  it('handles empty batches and empty token sets', () => {
    tidy(() => {
      expect(attention(zeros([0, 4, 6]), 2).shape).toEqual([0, 4, 2]);
      expect(attention(zeros([2, 0, 6]), 1).shape).toEqual([2, 0, 2]);
    });
  });
});

describe('attention backward', () => {
  it.each([[2, 5, 2, 3], [1, 4, 3, 1], [1, 3, 1, 5], [3, 2, 2, 2], [1, 1, 2, 3]])(
    'matches finite differences for N=%i L=%i H=%i Dh=%i', (N, L, H, Dh) => {
      const shape = [N, L, 3 * H * Dh];
      gradcheck((qkv) => attention(qkv, H), [{ data: randn(shape[0] * shape[1] * shape[2], 17 + N + L + H + Dh), shape }]);
    });

  it('saves the probabilities on the tape only while recording, and frees them with it', () => {
    const before = liveTensorCount('cpu');
    const qkv = requireGrad(tensor(randn(2 * 3 * 12, 3), [2, 3, 12], { dtype: 'float64' }));
    const a = attention(qkv, 2);
    expect(tapeLength()).toBe(1);
    expect(liveTensorCount('cpu')).toBe(before + 3); // qkv, out and the saved probs
    clearTape();
    expect(liveTensorCount('cpu')).toBe(before + 2);
    const b = noGrad(() => attention(qkv, 2));
    expect(tapeLength()).toBe(0);
    expect(liveTensorCount('cpu')).toBe(before + 3);
    const x = tensor(randn(12, 4), [1, 1, 12]);
    const c = attention(x, 2);
    expect(tapeLength()).toBe(0);
    expect(liveTensorCount('cpu')).toBe(before + 5); // qkv, a, b, x, c: no probs kept
    [a, b, c, x, qkv].forEach((t) => t.dispose());
    expect(liveTensorCount('cpu')).toBe(before);
  });
});

describe('attention errors', () => {
  it('rejects bad arguments through the TS API', () => {
    tidy(() => {
      const ok = zeros([2, 3, 12]);
      expect(() => attention(ok, 0)).toThrow(RangeError);
      expect(() => attention(ok, 1.5)).toThrow(TypeError);
      expect(() => attention(ok, 5)).toThrow(/attention: expected a last dim of `qkv` divisible by 3\*heads = 15/);
      expect(() => attention(zeros([2, 12]), 1)).toThrow(/attention: expected a \[N, L, 3\*D\] tensor/);
      expect(() => attention(zeros([2, 3, 0]), 1)).toThrow(RangeError);
      expect(() => attention(tensor(new Int32Array(12), [1, 1, 12]), 2)).toThrow(TypeError);
      expect(() => attention('qkv' as unknown as Tensor, 2)).toThrow(/attention: expected a Tensor for `qkv`/);
      const gone = zeros([1, 2, 6]);
      gone.dispose();
      expect(() => attention(gone, 1)).toThrow(/attention: `qkv` was used after dispose/);
    });
  });

  it('rejects bad buffers and sizes straight through the native functions', () => {
    tidy(() => {
      const [N, L, H, Dh] = [2, 3, 2, 2];
      const qkv = zeros([N, L, 3 * H * Dh]), out = zeros([N, L, H * Dh]), probs = zeros([N, H, L, L]);
      const q = qkv.handle(), o = out.handle(), p = probs.handle();
      const s = 1 / Math.sqrt(Dh);
      expect(() => native.attention(o, p, q, N, L, H, Dh, s)).not.toThrow();
      expect(() => native.attention(o, p, q, N, L + 1, H, Dh, s)).toThrow(RangeError);
      expect(() => native.attention(o, p, q, N, L, H, Dh + 1, s)).toThrow(/attention: `qkv` has 72 elements but the given sizes need 108/);
      expect(() => native.attention(o, q, p, N, L, H, Dh, s)).toThrow(/attention: `qkv` has/);
      expect(() => native.attention(o, p, q, -1, L, H, Dh, s)).toThrow(RangeError);
      expect(() => native.attention(o, p, q, N, L, 0, Dh, s)).toThrow(RangeError);
      expect(() => native.attention(o, p, q, N, L, H, 0, s)).toThrow(RangeError);
      expect(() => native.attention(o, p, q, N, L, H, Dh, NaN)).toThrow(RangeError);
      expect(() => native.attention(o, p, q, N, 2 ** 40, 2 ** 40, 2 ** 40, s)).toThrow(/sizes too large/);
      expect(() => native.attention(o, p, q, N, L, H, 1.5, s)).toThrow(TypeError);
      const sq = zeros([4]), small = zeros([12]);
      expect(() => native.attention(sq.handle(), sq.handle(), small.handle(), 1, 2, 1, 2, s)).toThrow(/attention: `out` and `probs` are the same buffer/);
      expect(() => native.attention({} as never, p, q, N, L, H, Dh, s)).toThrow(/attention: expected a tensor buffer for `out`/);
      expect(() => (native.attention as unknown as () => void)()).toThrow(TypeError);
      const q64 = zeros([N, L, 3 * H * Dh], { dtype: 'float64' });
      expect(() => native.attention(o, p, q64.handle(), N, L, H, Dh, s)).toThrow(/attention: `qkv` is float64 but `out` is float32/);
      const i32 = tensor(new Int32Array(N * L * H * Dh), [N * L * H * Dh]);
      expect(() => native.attention(i32.handle(), p, q, N, L, H, Dh, s)).toThrow(TypeError);
      const dead = zeros([N, L, H * Dh]);
      const dh = dead.handle();
      dead.dispose();
      expect(() => native.attention(dh, p, q, N, L, H, Dh, s)).toThrow(/attention: `out` was disposed/);

      const dqkv = zeros([N, L, 3 * H * Dh]);
      const d = dqkv.handle();
      expect(() => native.attentionBackward(d, o, q, p, N, L, H, Dh, s)).not.toThrow();
      expect(() => native.attentionBackward(d, o, q, o, N, L, H, Dh, s)).toThrow(/attentionBackward: `probs` has/);
      expect(() => native.attentionBackward(d, p, q, p, N, L, H, Dh, s)).toThrow(/attentionBackward: `dout` has/);
      expect(() => native.attentionBackward(q, o, q, p, N, L, H, Dh, s)).toThrow(/attentionBackward: `dqkv` and `qkv` are the same buffer/);
      expect(() => native.attentionBackward(d, o, q64.handle(), p, N, L, H, Dh, s)).toThrow(TypeError);
      expect(() => native.attentionBackward(d, o, q, p, N, L, H, Dh, Infinity)).toThrow(RangeError);
    });
  });
});

// The CUDA kernels against the CPU ones on fresh random inputs every run (the seed is in each
// label). float32: relative L2 error <= 1e-5. bfloat16 (inputs cast on the device, the backward's
// saved probs included): at most twice the error of the float32 CPU op run on bf16-rounded inputs
// with its outputs rounded to bf16 too (a bf16 op stores bf16 outputs), plus one bf16 step on one
// element (2^-7/√n), as the two devices' fp32 results may round to neighbouring bf16 values.
describe.skipIf(!cudaUsable)(`attention (cuda) ${cudaSkipReason}`, () => {


  const forward = (N: number, L: number, H: number, Dh: number): Run => (device, mode, [QKV]) => tidy(() => {
    const o = { device, dtype: mode };
    const out = empty([N, L, H * Dh], o), probs = empty([N, H, L, L], o);
    native.attention(out.handle(), probs.handle(), put(QKV, [N, L, 3 * H * Dh], device, mode).handle(), N, L, H, Dh, Dh ** -0.5);
    return [hostF(out), hostF(probs)];
  });
  const backwardRun = (N: number, L: number, H: number, Dh: number): Run => (device, mode, [DO, QKV, P]) => tidy(() => {
    const dqkv = empty([N, L, 3 * H * Dh], { device, dtype: mode });
    native.attentionBackward(dqkv.handle(), put(DO, [N, L, H * Dh], device, mode).handle(),
      put(QKV, [N, L, 3 * H * Dh], device, mode).handle(), put(P, [N, H, L, L], device, mode).handle(), N, L, H, Dh, Dh ** -0.5);
    return [hostF(dqkv)];
  });

  // N, L, H, Dh: odd sizes, one token, the fixtures' head dims 8 and 16, the models' shapes
  // (L = 49 with Dh = 64, L = 196 with Dh = 32; fewer samples and heads), the widest head (128) and
  // one wider than a 128-dim sweep, odd L at the register-blocked head dims 32 and 64 (a warp's
  // second row missing); all of these run the shared-memory kernels. The last case is
  // too large for shared memory (L = 300, Dh = 128) and runs the global-memory kernels.
  it.each([[2, 5, 2, 3], [1, 7, 3, 4], [3, 1, 1, 1], [2, 13, 4, 8], [1, 50, 2, 16], [2, 49, 3, 64], [1, 196, 2, 32],
    [1, 33, 2, 128], [1, 9, 1, 136], [1, 7, 1, 32], [2, 1, 1, 64], [1, 300, 1, 128]])('forward and backward N=%i L=%i H=%i Dh=%i', (N, L, H, Dh) => {
    const seed = freshSeed();
    const QKV = rand32(N * L * 3 * H * Dh, seed, 1.5), DO = rand32(N * L * H * Dh, seed + 1);
    expectParity(`attention (seed ${seed})`, forward(N, L, H, Dh), [QKV], ['out', 'probs']);
    const [, P] = forward(N, L, H, Dh)('cpu', 'float32', [QKV]);
    expectParity(`attentionBackward (seed ${seed})`, backwardRun(N, L, H, Dh), [DO, QKV, P], ['dqkv']);
  });

  it('is stable for large scores in float32 (the row max is subtracted)', () => {
    const seed = freshSeed(), [N, L, H, Dh] = [2, 40, 2, 8];
    const QKV = rand32(N * L * 3 * H * Dh, seed, 30), DO = rand32(N * L * H * Dh, seed + 1);
    const cpu = forward(N, L, H, Dh)('cpu', 'float32', [QKV]), gpu = forward(N, L, H, Dh)('cuda', 'float32', [QKV]);
    expect(gpu.every((a) => a.every(Number.isFinite))).toBe(true);
    // Softmax turns an absolute score error δ into a relative probability error δ, and a score of
    // size |s| is already off by up to |s|·2^-24 once stored in float32: two float32 computations
    // can differ by twice that, so the bound scales with the largest score (about 1e3 here).
    let maxScore = 0;
    const W = 3 * H * Dh;
    for (let b = 0; b < N; b++) for (let h = 0; h < H; h++) for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) {
      let s = 0;
      for (let e = 0; e < Dh; e++) s += QKV[(b * L + i) * W + h * Dh + e] * QKV[(b * L + j) * W + H * Dh + h * Dh + e];
      maxScore = Math.max(maxScore, Math.abs(s) * Dh ** -0.5);
    }
    const tol = Math.max(1e-5, 2 * 2 ** -24 * maxScore);
    expect(relL2(gpu[0], cpu[0]), `out (seed ${seed}, max score ${maxScore})`).toBeLessThanOrEqual(tol);
    expect(relL2(gpu[1], cpu[1]), `probs (seed ${seed}, max score ${maxScore})`).toBeLessThanOrEqual(tol);
    const bc = backwardRun(N, L, H, Dh)('cpu', 'float32', [DO, QKV, cpu[1]]), bg = backwardRun(N, L, H, Dh)('cuda', 'float32', [DO, QKV, cpu[1]]);
    expect(relL2(bg[0], bc[0]), `dqkv (seed ${seed}, max score ${maxScore})`).toBeLessThanOrEqual(tol);
  });

  it('runs through the TS API and the tape on cuda, matching the CPU gradient', () => {
    const seed = freshSeed(), [N, L, H, Dh] = [2, 11, 2, 8];
    const QKV = rand32(N * L * 3 * H * Dh, seed), DO = rand32(N * L * H * Dh, seed + 1);
    const run = (device: Device) => tidy(() => {
      const qkv = requireGrad(tensor(QKV, [N, L, 3 * H * Dh], { dtype: 'float32', device }));
      const out = attention(qkv, H);
      expect(out.device).toBe(device);
      backward(out, tensor(DO, [N, L, H * Dh], { dtype: 'float32', device }));
      const res = [hostF(out), hostF(qkv.grad!)];
      qkv.grad!.dispose();
      return res;
    });
    const cpu = run('cpu'), gpu = run('cuda');
    expect(relL2(gpu[0], cpu[0]), `out (seed ${seed})`).toBeLessThanOrEqual(1e-5);
    expect(relL2(gpu[1], cpu[1]), `dqkv (seed ${seed})`).toBeLessThanOrEqual(1e-5);
    tidy(() => {
      expect(attention(zeros([0, 4, 6], { device: 'cuda' }), 2).shape).toEqual([0, 4, 2]);
      expect(attention(zeros([2, 0, 6], { device: 'cuda' }), 1).shape).toEqual([2, 0, 2]);
    });
  });

  it('rejects device mixes and unsupported dtypes on cuda', () => {
    tidy(() => {
      const [N, L, H, Dh] = [1, 2, 1, 2];
      const cu = (shape: number[], dtype: 'float32' | 'float64' = 'float32') => empty(shape, { device: 'cuda', dtype }).handle();
      const q = cu([N, L, 3 * H * Dh]), o = cu([N, L, H * Dh]), p = cu([N, H, L, L]);
      expect(() => native.attention(o, p, q, N, L, H, Dh, 1)).not.toThrow();
      expect(() => native.attention(zeros([N, L, H * Dh]).handle(), zeros([N, H, L, L]).handle(), q, N, L, H, Dh, 1))
        .toThrow(/attention: `qkv` is on cuda but `out` is on cpu/);
      expect(() => native.attention(o, zeros([N, H, L, L]).handle(), q, N, L, H, Dh, 1)).toThrow(/attention: `probs` is on cpu but `out` is on cuda/);
      expect(() => native.attention(cu([N, L, H * Dh], 'float64'), cu([N, H, L, L], 'float64'), cu([N, L, 3 * H * Dh], 'float64'), N, L, H, Dh, 1))
        .toThrow(/attention: `out` is float64, which cuda kernels/);
      const d = cu([N, L, 3 * H * Dh]);
      expect(() => native.attentionBackward(d, o, q, p, N, L, H, Dh, 1)).not.toThrow();
      expect(() => native.attentionBackward(d, zeros([N, L, H * Dh]).handle(), q, p, N, L, H, Dh, 1)).toThrow(/attentionBackward: `dout` is on cpu but `dqkv` is on cuda/);
      expect(() => native.attentionBackward(d, o, q, p, N, L + 1, H, Dh, 1)).toThrow(RangeError);
      expect(() => attention(zeros([1, 2, 6]).to('cuda').cast('float64'), 1)).toThrow(TypeError);
    });
  });
});
