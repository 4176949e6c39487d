// attention: forward and lse against a plain-TS reference (float32 and float64, odd shapes), the
// backward's formulas from out and lse, gradients by finite differences, tape and memory
// behaviour, and every bad argument through the TS API and straight through the native functions;
// on a GPU, both CUDA kernel families (mma and simt) against the CPU op.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { backends, kernels, setKernel } from '../../lib/backends';
import { backward, clearTape, noGrad, requireGrad, tapeLength } from '../../lib/autograd/tape';
import { mul, sum } from '../../lib/ops/arith';
import { attention } from '../../lib/ops/attention';
import { tidy } from '../../lib/tensor/scope';
import { empty, liveTensorCount, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { Device } from '../../lib/tensor/device';
import { expectClose, relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { type Mode, type Run, expectParity, freshSeed, hostF, put, rand32, roundBf16 } from '../helpers/cuda_compare';

interface Ref {
  out: Float64Array;
  lse: Float64Array;
  probs: Float64Array;
}

/** out [N, L, H*Dh], lse [N, H, L] and the probabilities [N, H, L, L] in float64, from the definition. */
function refAttention(qkv: Float64Array, N: number, L: number, H: number, Dh: number): Ref {
  const D = H * Dh, W = 3 * D, scale = 1 / Math.sqrt(Dh);
  const out = new Float64Array(N * L * D), lse = new Float64Array(N * H * L), probs = new Float64Array(N * H * L * L);
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
    lse[(n * H + h) * L + i] = mx + Math.log(z);
    for (let j = 0; j < L; j++) {
      const p = s[j] / z;
      probs[((n * H + h) * L + i) * L + j] = p;
      for (let c = 0; c < Dh; c++) out[(n * L + i) * D + h * Dh + c] += p * at(n, j, 2, h, c);
    }
  }
  return { out, lse, probs };
}

/** dqkv from dout and the exact probabilities: dV = Pᵀ·dO, dS = P ⊙ (dO·Vᵀ − rowsum(dO ⊙ O)), dQ = s·dS·K, dK = s·dSᵀ·Q. */
function refBackward(dout: Float64Array, qkv: Float64Array, ref: Ref, N: number, L: number, H: number, Dh: number): Float64Array {
  const D = H * Dh, W = 3 * D, scale = 1 / Math.sqrt(Dh);
  const dqkv = new Float64Array(N * L * W);
  const at = (n: number, i: number, which: number, h: number, c: number) => (n * L + i) * W + which * D + h * Dh + c;
  const dat = (n: number, i: number, h: number, c: number) => (n * L + i) * D + h * Dh + c;
  for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) for (let i = 0; i < L; i++) {
    let rowD = 0;
    for (let c = 0; c < Dh; c++) rowD += dout[dat(n, i, h, c)] * ref.out[dat(n, i, h, c)];
    for (let j = 0; j < L; j++) {
      const p = ref.probs[((n * H + h) * L + i) * L + j];
      let dp = 0;
      for (let c = 0; c < Dh; c++) dp += dout[dat(n, i, h, c)] * qkv[at(n, j, 2, h, c)];
      const ds = p * (dp - rowD) * scale;
      for (let c = 0; c < Dh; c++) {
        dqkv[at(n, i, 0, h, c)] += ds * qkv[at(n, j, 1, h, c)];
        dqkv[at(n, j, 1, h, c)] += ds * qkv[at(n, i, 0, h, c)];
        dqkv[at(n, j, 2, h, c)] += p * dout[dat(n, i, h, c)];
      }
    }
  }
  return dqkv;
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

  it.each(['float32', 'float64'] as const)('writes the float32 log-sum-exp of each score row (native, %s)', (dtype) => {
    const [N, L, H, Dh] = [2, 6, 3, 2];
    const data = randn(N * L * 3 * H * Dh, 11, 2);
    const ref = refAttention(data, N, L, H, Dh);
    tidy(() => {
      const qkv = tensor(data, [N, L, 3 * H * Dh], { dtype });
      const out = zeros([N, L, H * Dh], { dtype });
      const lse = zeros([N, H, L], { dtype: 'float32' });
      native.attention(out.handle(), lse.handle(), qkv.handle(), N, L, H, Dh, 1 / Math.sqrt(Dh));
      // lse is computed in double and rounded once to float32: within one float32 step.
      expectClose(lse.toTypedArray() as Float32Array, ref.lse, { atol: 1e-12, rtol: 2 ** -23 }, 'lse');
      const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 1e-5, rtol: 1e-4 };
      expectClose(out.toTypedArray() as Float64Array, ref.out, tol, 'out');
    });
  });

  it('is stable for large scores (the row max is subtracted)', () => {
    const [N, L, H, Dh] = [1, 4, 1, 2];
    const data = randn(N * L * 3 * H * Dh, 5, 300);
    const ref = refAttention(data, N, L, H, Dh);
    tidy(() => {
      const qkv = tensor(data, [N, L, 3 * H * Dh], { dtype: 'float32' });
      const out = empty([N, L, H * Dh]), lse = empty([N, H, L]);
      native.attention(out.handle(), lse.handle(), qkv.handle(), N, L, H, Dh, 1 / Math.sqrt(Dh));
      const o = out.toTypedArray() as Float32Array;
      expect(o.every(Number.isFinite)).toBe(true);
      expectClose(o, ref.out, { atol: 1e-3, rtol: 1e-4 }, 'large scores');
      expectClose(lse.toTypedArray() as Float32Array, ref.lse, { atol: 1e-3, rtol: 1e-5 }, 'large scores lse');
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

  it('recomputes P from out and lse: dqkv matches the formulas (native, float64)', () => {
    const [N, L, H, Dh] = [2, 7, 3, 4];
    const data = randn(N * L * 3 * H * Dh, 29, 1.5), dout = randn(N * L * H * Dh, 31);
    const ref = refAttention(data, N, L, H, Dh);
    tidy(() => {
      const o = { dtype: 'float64' } as const;
      const qkv = tensor(data, [N, L, 3 * H * Dh], o), out = zeros([N, L, H * Dh], o), lse = zeros([N, H, L], { dtype: 'float32' });
      native.attention(out.handle(), lse.handle(), qkv.handle(), N, L, H, Dh, 1 / Math.sqrt(Dh));
      const dqkv = zeros([N, L, 3 * H * Dh], o);
      native.attentionBackward(dqkv.handle(), tensor(dout, [N, L, H * Dh], o).handle(), qkv.handle(), out.handle(), lse.handle(),
        N, L, H, Dh, 1 / Math.sqrt(Dh));
      // The float32 lse costs each row of P a relative error of up to |lse|·2^-24 (|lse| < 8 here),
      // which sums of terms of size <= 1 carry as absolute errors up to about 1e-6.
      expectClose(dqkv.toTypedArray() as Float64Array, refBackward(dout, data, ref, N, L, H, Dh), { atol: 1e-6, rtol: 1e-6 }, 'dqkv');
    });
  });

  it('saves lse and a view of out on the tape only while recording, and frees them with it', () => {
    const before = liveTensorCount('cpu');
    const qkv = requireGrad(tensor(randn(2 * 3 * 12, 3), [2, 3, 12], { dtype: 'float64' }));
    const a = attention(qkv, 2);
    expect(tapeLength()).toBe(1);
    expect(liveTensorCount('cpu')).toBe(before + 4); // qkv, out, and the saved lse and view of out
    clearTape();
    expect(liveTensorCount('cpu')).toBe(before + 2);
    const b = noGrad(() => attention(qkv, 2));
    expect(tapeLength()).toBe(0);
    expect(liveTensorCount('cpu')).toBe(before + 3);
    const x = tensor(randn(12, 4), [1, 1, 12]);
    const c = attention(x, 2);
    expect(tapeLength()).toBe(0);
    expect(liveTensorCount('cpu')).toBe(before + 5); // qkv, a, b, x, c: nothing saved
    [a, b, c, x, qkv].forEach((t) => t.dispose());
    expect(liveTensorCount('cpu')).toBe(before);
  });

  it('needs nothing of the caller after the forward (out disposed before backward); memory stays flat', () => {
    const [N, L, H, Dh] = [2, 5, 2, 3];
    const qkv = requireGrad(tensor(randn(N * L * 3 * H * Dh, 41), [N, L, 3 * H * Dh], { dtype: 'float64' }));
    const r = tensor(randn(N * L * H * Dh, 43), [N, L, H * Dh], { dtype: 'float64' });
    const before = liveTensorCount('cpu');
    const gradOf = (loss: Tensor): Float64Array => {
      backward(loss);
      loss.dispose();
      const g = qkv.grad!.toTypedArray() as Float64Array;
      qkv.grad!.dispose();
      qkv.grad = null;
      return g;
    };
    const out = attention(qkv, H), prod = mul(out, r);
    const kept = gradOf(sum(prod));
    [out, prod].forEach((t) => t.dispose());
    expect(liveTensorCount('cpu')).toBe(before);
    for (let step = 0; step < 3; step++) {
      // tidy disposes the attention output before the backward runs.
      expect(gradOf(tidy(() => sum(mul(attention(qkv, H), r))))).toEqual(kept);
      expect(liveTensorCount('cpu')).toBe(before);
    }
    [qkv, r].forEach((t) => t.dispose());
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
      const qkv = zeros([N, L, 3 * H * Dh]), out = zeros([N, L, H * Dh]), lse = zeros([N, H, L]);
      const q = qkv.handle(), o = out.handle(), ls = lse.handle();
      const s = 1 / Math.sqrt(Dh);
      expect(() => native.attention(o, ls, q, N, L, H, Dh, s)).not.toThrow();
      expect(() => native.attention(o, ls, q, N, L + 1, H, Dh, s)).toThrow(RangeError);
      expect(() => native.attention(o, ls, q, N, L, H, Dh + 1, s)).toThrow(/attention: `qkv` has 72 elements but the given sizes need 108/);
      expect(() => native.attention(o, q, ls, N, L, H, Dh, s)).toThrow(/attention: `lse` has 72 elements but the given sizes need 12/);
      expect(() => native.attention(o, ls, q, -1, L, H, Dh, s)).toThrow(RangeError);
      expect(() => native.attention(o, ls, q, N, L, 0, Dh, s)).toThrow(RangeError);
      expect(() => native.attention(o, ls, q, N, L, H, 0, s)).toThrow(RangeError);
      expect(() => native.attention(o, ls, q, N, L, H, Dh, NaN)).toThrow(RangeError);
      expect(() => native.attention(o, ls, q, N, 2 ** 40, 2 ** 40, 2 ** 40, s)).toThrow(/sizes too large/);
      expect(() => native.attention(o, ls, q, N, L, H, 1.5, s)).toThrow(TypeError);
      // Dh = 1 gives out and lse the same element count.
      const sq = zeros([2]), small = zeros([6]);
      expect(() => native.attention(sq.handle(), sq.handle(), small.handle(), 1, 2, 1, 1, s)).toThrow(/attention: `out` and `lse` are the same buffer/);
      expect(() => native.attention({} as never, ls, q, N, L, H, Dh, s)).toThrow(/attention: expected a tensor buffer for `out`/);
      expect(() => (native.attention as unknown as () => void)()).toThrow(TypeError);
      const q64 = zeros([N, L, 3 * H * Dh], { dtype: 'float64' });
      expect(() => native.attention(o, ls, q64.handle(), N, L, H, Dh, s)).toThrow(/attention: `qkv` is float64 but `out` is float32/);
      const o64 = zeros([N, L, H * Dh], { dtype: 'float64' }), l64 = zeros([N, H, L], { dtype: 'float64' });
      expect(() => native.attention(o64.handle(), l64.handle(), q64.handle(), N, L, H, Dh, s)).toThrow(/attention: `lse` is float64 but float32 was expected/);
      expect(() => native.attention(o64.handle(), ls, q64.handle(), N, L, H, Dh, s)).not.toThrow();
      const i32 = tensor(new Int32Array(N * L * H * Dh), [N * L * H * Dh]);
      expect(() => native.attention(i32.handle(), ls, q, N, L, H, Dh, s)).toThrow(TypeError);
      const dead = zeros([N, L, H * Dh]);
      const dh = dead.handle();
      dead.dispose();
      expect(() => native.attention(dh, ls, q, N, L, H, Dh, s)).toThrow(/attention: `out` was disposed/);

      const dqkv = zeros([N, L, 3 * H * Dh]);
      const d = dqkv.handle();
      expect(() => native.attentionBackward(d, o, q, o, ls, N, L, H, Dh, s)).not.toThrow();
      expect(() => native.attentionBackward(d, o, q, o, o, N, L, H, Dh, s)).toThrow(/attentionBackward: `lse` has 24 elements but the given sizes need 12/);
      expect(() => native.attentionBackward(d, o, q, q, ls, N, L, H, Dh, s)).toThrow(/attentionBackward: `out` has 72/);
      expect(() => native.attentionBackward(d, ls, q, o, ls, N, L, H, Dh, s)).toThrow(/attentionBackward: `dout` has/);
      expect(() => native.attentionBackward(q, o, q, o, ls, N, L, H, Dh, s)).toThrow(/attentionBackward: `dqkv` and `qkv` are the same buffer/);
      expect(() => native.attentionBackward(d, o, q64.handle(), o, ls, N, L, H, Dh, s)).toThrow(TypeError);
      expect(() => native.attentionBackward(d, o, q, o64.handle(), ls, N, L, H, Dh, s)).toThrow(/attentionBackward: `out` is float64 but `dqkv` is float32/);
      expect(() => native.attentionBackward(d, o, q, o, l64.handle(), N, L, H, Dh, s)).toThrow(/attentionBackward: `lse` is float64 but float32 was expected/);
      expect(() => native.attentionBackward(d, o, q, o, ls, N, L, H, Dh, Infinity)).toThrow(RangeError);
    });
  });
});

// The CUDA kernels against the CPU ones on fresh random inputs every run (the seed is in each
// label), once per kernel family. float32 (always the simt kernels): relative L2 error <= 1e-5.
// bfloat16 (inputs cast on the device): at most twice the error of the float32 CPU op run on
// bf16-rounded inputs with its outputs rounded to bf16 too (a bf16 op stores bf16 outputs), plus
// one bf16 step on one element (2^-7/√n), as the two devices' fp32 results may round to
// neighbouring bf16 values. The backward runs on the forward's out and lse from the same device
// and mode, so its check covers the pair as training runs it. lse is stored in float32 whatever the
// storage: from bf16 inputs it must match the float32 CPU op on the same (rounded) inputs within
// the float32 bound.
describe.skipIf(!cudaUsable)(`attention (cuda) ${cudaSkipReason}`, () => {
  const scaleOf = (Dh: number) => Dh ** -0.5;

  /** out and lse of the forward on a device, in a storage mode. */
  const forward = (N: number, L: number, H: number, Dh: number): Run => (device, mode, [QKV]) => tidy(() => {
    const out = empty([N, L, H * Dh], { device, dtype: mode }), lse = empty([N, H, L], { device });
    native.attention(out.handle(), lse.handle(), put(QKV, [N, L, 3 * H * Dh], device, mode).handle(), N, L, H, Dh, scaleOf(Dh));
    return [hostF(out), hostF(lse)];
  });
  /** dqkv from dout, qkv and the forward's out and lse (all float32 inputs, uploaded as given). */
  const backwardOn = (N: number, L: number, H: number, Dh: number, device: Device, mode: Mode, [DO, QKV, OUT, LSE]: Float64Array[]) =>
    tidy(() => {
      const dqkv = empty([N, L, 3 * H * Dh], { device, dtype: mode });
      native.attentionBackward(dqkv.handle(), put(DO, [N, L, H * Dh], device, mode).handle(), put(QKV, [N, L, 3 * H * Dh], device, mode).handle(),
        put(OUT, [N, L, H * Dh], device, mode).handle(), put(LSE, [N, H, L], device, 'float32').handle(), N, L, H, Dh, scaleOf(Dh));
      return [hostF(dqkv)];
    });
  /** The float32 CPU pair as bf16 storage rounds it: qkv, dout and the stored out in bf16. */
  const roundedPair = (N: number, L: number, H: number, Dh: number) => ([DO, QKV]: Float64Array[]) => {
    const [OUT, LSE] = forward(N, L, H, Dh)('cpu', 'float32', [roundBf16(QKV)]);
    return backwardOn(N, L, H, Dh, 'cpu', 'float32', [roundBf16(DO), roundBf16(QKV), roundBf16(OUT), LSE]);
  };
  /** Forward then backward on one device and mode, as training runs them. */
  const forwardBackward = (N: number, L: number, H: number, Dh: number): Run => (device, mode, [DO, QKV]) => tidy(() => {
    const o = { device, dtype: mode };
    const qkv = put(QKV, [N, L, 3 * H * Dh], device, mode);
    const out = empty([N, L, H * Dh], o), lse = empty([N, H, L], { device }), dqkv = empty([N, L, 3 * H * Dh], o);
    native.attention(out.handle(), lse.handle(), qkv.handle(), N, L, H, Dh, scaleOf(Dh));
    native.attentionBackward(dqkv.handle(), put(DO, [N, L, H * Dh], device, mode).handle(), qkv.handle(), out.handle(), lse.handle(),
      N, L, H, Dh, scaleOf(Dh));
    return [hostF(dqkv)];
  });

  function expectLse(label: string, N: number, L: number, H: number, Dh: number, QKV: Float64Array): void {
    const f = forward(N, L, H, Dh);
    const cpu = f('cpu', 'float32', [QKV])[1], gpu = f('cuda', 'float32', [QKV])[1];
    expect(relL2(gpu, cpu), `${label} lse float32`).toBeLessThanOrEqual(1e-5);
    const cpuRounded = f('cpu', 'float32', [roundBf16(QKV)])[1], gpuBf16 = f('cuda', 'bfloat16', [QKV])[1];
    expect(relL2(gpuBf16, cpuRounded), `${label} lse bfloat16 (against the float32 op on the rounded inputs)`).toBeLessThanOrEqual(1e-5);
  }

  // N, L, H, Dh. The mma kernels take bf16 with Dh 32, 64 or 80 and L <= 256; the rest run simt.
  //   the models' shapes (fewer samples): L 49 H 12 Dh 64 (stage 3), L 196 H 16 Dh 32 (decoder),
  //   L 196 Dh 64 (stage 3 when finetuning); Dh 80; odd L at the mma head dims (1, 7, 50, 197; a
  //   partial last 16-row tile, a partial last 64-key chunk); L 256, the mma limit, at each of its head dims; L 257 (past it: simt);
  //   head dims outside the mma set: odd sizes, one token, the fixtures' 8 and 16, 48, the widest
  //   head (128) and one wider than a 128-dim sweep; L 300 at Dh 128 is too large for shared memory
  //   and runs the global-memory kernels. Blocks of 8 warps (one block an SM by shared memory, on
  //   the emulator as on an H100): the backward of the L 196 and L 256 cases at Dh 64 and 80, the
  //   forward at L 256 Dh 80; 4 warps elsewhere.
  const CASES: [number, number, number, number][] = [
    [2, 49, 12, 64], [1, 196, 16, 32], [1, 196, 2, 64], [2, 50, 2, 80],
    [3, 1, 2, 64], [2, 7, 3, 32], [1, 7, 1, 80], [1, 50, 2, 64], [1, 197, 2, 32], [2, 1, 1, 80],
    [1, 256, 2, 32], [1, 256, 1, 64], [1, 256, 1, 80], [1, 257, 1, 64],
    [2, 5, 2, 3], [1, 7, 3, 4], [3, 1, 1, 1], [2, 13, 4, 8], [1, 50, 2, 16], [2, 9, 2, 48],
    [1, 33, 2, 128], [1, 9, 1, 136], [1, 300, 1, 128],
  ];

  const initial = kernels().attention;
  for (const family of ['mma', 'simt'] as const) {
    describe(`attention kernel family ${family}`, () => {
      beforeAll(() => setKernel('attention', family));
      afterAll(() => setKernel('attention', initial));

      it.each(CASES)('forward, lse and backward N=%i L=%i H=%i Dh=%i', (N, L, H, Dh) => {
        const seed = freshSeed();
        const QKV = rand32(N * L * 3 * H * Dh, seed, 1.5), DO = rand32(N * L * H * Dh, seed + 1);
        const label = `attention ${family} (seed ${seed})`;
        expectParity(label, forward(N, L, H, Dh), [QKV], ['out']);
        expectLse(label, N, L, H, Dh, QKV);
        expectParity(`${label} backward`, forwardBackward(N, L, H, Dh), [DO, QKV], ['dqkv'], roundedPair(N, L, H, Dh));
      });

      if (family === 'mma') {
        it.skipIf(!backends().cuda.gemmSweep)('takes its warps a block from CONVMAE_ATTENTION_WARPS on a sweep build, and refuses other values', () => {
          const given = process.env.CONVMAE_ATTENTION_WARPS;
          const seed = freshSeed(), [N, L, H, Dh] = [1, 49, 2, 64];
          const QKV = rand32(N * L * 3 * H * Dh, seed, 1.5), DO = rand32(N * L * H * Dh, seed + 1);
          try {
            for (const w of ['4', '8']) {
              process.env.CONVMAE_ATTENTION_WARPS = w;
              expectParity(`attention at ${w} warps (seed ${seed})`, forwardBackward(N, L, H, Dh), [DO, QKV], ['dqkv'], roundedPair(N, L, H, Dh));
            }
            process.env.CONVMAE_ATTENTION_WARPS = '6';
            expect(() => forward(N, L, H, Dh)('cuda', 'bfloat16', [QKV])).toThrow(/attention: CONVMAE_ATTENTION_WARPS must be 4 or 8, not '6'/);
          } finally {
            if (given === undefined) delete process.env.CONVMAE_ATTENTION_WARPS;
            else process.env.CONVMAE_ATTENTION_WARPS = given;
          }
        });
      }

      it('is deterministic in bfloat16 (no atomics)', () => {
        const seed = freshSeed(), [N, L, H, Dh] = [2, 196, 2, 32];
        const QKV = rand32(N * L * 3 * H * Dh, seed, 1.5), DO = rand32(N * L * H * Dh, seed + 1);
        const run = forwardBackward(N, L, H, Dh);
        expect(run('cuda', 'bfloat16', [DO, QKV])[0], `seed ${seed}`).toEqual(run('cuda', 'bfloat16', [DO, QKV])[0]);
      });

      it('runs through the TS API and the tape in bfloat16, as the native calls do', () => {
        const seed = freshSeed(), [N, L, H, Dh] = [2, 49, 3, 64];
        const QKV = rand32(N * L * 3 * H * Dh, seed), DO = rand32(N * L * H * Dh, seed + 1);
        const res = tidy(() => {
          const qkv = requireGrad(put(QKV, [N, L, 3 * H * Dh], 'cuda', 'bfloat16'));
          const out = attention(qkv, H);
          expect(out.dtype).toBe('bfloat16');
          backward(out, put(DO, [N, L, H * Dh], 'cuda', 'bfloat16'));
          const r = [hostF(out), hostF(qkv.grad!)];
          qkv.grad!.dispose();
          return r;
        });
        expect(res[0], `out (seed ${seed})`).toEqual(forward(N, L, H, Dh)('cuda', 'bfloat16', [QKV])[0]);
        expect(res[1], `dqkv (seed ${seed})`).toEqual(forwardBackward(N, L, H, Dh)('cuda', 'bfloat16', [DO, QKV])[0]);
      });
    });
  }

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
    expect(relL2(gpu[1], cpu[1]), `lse (seed ${seed}, max score ${maxScore})`).toBeLessThanOrEqual(tol);
    // Both backwards from the CPU's out and lse: the GPU recomputes P from its own scores.
    const inputs = [DO, QKV, cpu[0], cpu[1]];
    const bc = backwardOn(N, L, H, Dh, 'cpu', 'float32', inputs), bg = backwardOn(N, L, H, Dh, 'cuda', 'float32', inputs);
    expect(bg[0].every(Number.isFinite)).toBe(true);
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
      const q = cu([N, L, 3 * H * Dh]), o = cu([N, L, H * Dh]), ls = cu([N, H, L]);
      expect(() => native.attention(o, ls, q, N, L, H, Dh, 1)).not.toThrow();
      expect(() => native.attention(zeros([N, L, H * Dh]).handle(), zeros([N, H, L]).handle(), q, N, L, H, Dh, 1))
        .toThrow(/attention: `qkv` is on cuda but `out` is on cpu/);
      expect(() => native.attention(o, zeros([N, H, L]).handle(), q, N, L, H, Dh, 1)).toThrow(/attention: `lse` is on cpu but cuda was expected/);
      expect(() => native.attention(cu([N, L, H * Dh], 'float64'), ls, cu([N, L, 3 * H * Dh], 'float64'), N, L, H, Dh, 1))
        .toThrow(/attention: `out` is float64, which cuda kernels/);
      const d = cu([N, L, 3 * H * Dh]);
      expect(() => native.attentionBackward(d, o, q, o, ls, N, L, H, Dh, 1)).not.toThrow();
      expect(() => native.attentionBackward(d, zeros([N, L, H * Dh]).handle(), q, o, ls, N, L, H, Dh, 1)).toThrow(/attentionBackward: `dout` is on cpu but `dqkv` is on cuda/);
      expect(() => native.attentionBackward(d, o, q, o, zeros([N, H, L]).handle(), N, L, H, Dh, 1)).toThrow(/attentionBackward: `lse` is on cpu but cuda was expected/);
      expect(() => native.attentionBackward(d, o, q, o, ls, N, L + 1, H, Dh, 1)).toThrow(RangeError);
      expect(() => attention(zeros([1, 2, 6]).to('cuda').cast('float64'), 1)).toThrow(TypeError);
    });
  });
});
