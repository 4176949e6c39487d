// Losses: masked MSE (with and without norm-pix targets) and soft-target cross-entropy against
// plain-TS references in float32 and float64, gradients by finite differences, label smoothing
// against timm's LabelSmoothingCrossEntropy formula, and every bad argument through the TS API
// and straight through the native functions; on a GPU, the CUDA kernels against the CPU ones.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { backward, clearTape, requireGrad, tapeLength } from '../../lib/autograd/tape';
import { crossEntropy, maskedMseLoss, softTargets } from '../../lib/ops/losses';
import { tidy } from '../../lib/tensor/scope';
import { empty, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { Device } from '../../lib/tensor/device';
import { expectClose, relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { type Run, freshSeed, rand32, put, hostF, expectParity } from '../helpers/cuda_compare';

function refMaskedMse(pred: Float64Array, target: Float64Array, mask: ArrayLike<number>, P: number, normPix: boolean): number {
  const rows = pred.length / P;
  let num = 0, den = 0;
  for (let r = 0; r < rows; r++) {
    const t = Array.from(target.subarray(r * P, (r + 1) * P));
    let mu = 0, inv = 1;
    if (normPix) {
      mu = t.reduce((a, b) => a + b, 0) / P;
      const v = t.reduce((a, b) => a + (b - mu) ** 2, 0) / (P - 1);
      inv = 1 / Math.sqrt(v + 1e-6);
    }
    let e = 0;
    for (let k = 0; k < P; k++) e += (pred[r * P + k] - (t[k] - mu) * inv) ** 2;
    num += mask[r] * (e / P);
    den += mask[r];
  }
  return den === 0 ? 0 : num / den;
}

function logSoftmax(z: ArrayLike<number>): number[] {
  const mx = Math.max(...Array.from(z));
  const lse = mx + Math.log(Array.from(z).reduce((a, b) => a + Math.exp(b - mx), 0));
  return Array.from(z, (v) => v - lse);
}

function refCrossEntropy(logits: Float64Array, targets: ArrayLike<number>, N: number, C: number): number {
  let s = 0;
  for (let n = 0; n < N; n++) {
    const lp = logSoftmax(logits.subarray(n * C, (n + 1) * C));
    for (let c = 0; c < C; c++) s -= targets[n * C + c] * lp[c];
  }
  return s / N;
}

/** A 0/1 mask with both values present (row r masked when r % 3 != 1). */
const mask01 = (rows: number): Float64Array => Float64Array.from({ length: rows }, (_, r) => (r % 3 === 1 ? 0 : 1));

/** Random positive soft targets, each row summing to 1. */
function randomSoftTargets(N: number, C: number, seed: number): Float64Array {
  const t = randn(N * C, seed).map((v) => Math.exp(v));
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += t[n * C + c];
    for (let c = 0; c < C; c++) t[n * C + c] /= s;
  }
  return t;
}

describe('maskedMseLoss', () => {
  const shapes: number[][] = [[2, 7, 5], [1, 1, 3], [3, 4, 48], [11, 2], [2, 3, 1]];
  it.each(shapes.map((s) => [s]))('matches the reference for shape %j in float32 and float64, normPix on and off', (shape) => {
    const P = shape[shape.length - 1];
    const numel = shape.reduce((a, b) => a * b, 1), rows = numel / P;
    const pred = randn(numel, numel + 1), target = randn(numel, numel + 2, 2).map((v) => v + 0.5);
    const mask = mask01(rows);
    for (const normPix of P >= 2 ? [false, true] : [false]) {
      const ref = refMaskedMse(pred, target, mask, P, normPix);
      for (const dtype of ['float32', 'float64'] as const) {
        tidy(() => {
          const loss = maskedMseLoss(tensor(pred, shape, { dtype }), tensor(target, shape, { dtype }),
            tensor(mask, shape.slice(0, -1), { dtype }), normPix);
          expect(loss.shape).toEqual([]);
          expect(loss.dtype).toBe(dtype);
          const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 1e-6, rtol: 1e-5 };
          expectClose([loss.item()], [ref], tol, `maskedMseLoss ${dtype} normPix=${normPix}`);
        });
      }
    }
  });

  it('is 0 with a gradient of 0 when no row is masked', () => {
    tidy(() => {
      const pred = requireGrad(tensor(randn(12, 1), [3, 4], { dtype: 'float64' }));
      const loss = maskedMseLoss(pred, tensor(randn(12, 2), [3, 4], { dtype: 'float64' }), zeros([3], { dtype: 'float64' }), true);
      expect(loss.item()).toBe(0);
      backward(loss);
      expect(Array.from(pred.grad!.toTypedArray() as Float64Array)).toEqual(new Array(12).fill(0));
      pred.grad!.dispose();
    });
  });

  it('with equal masked counts per sample is the mean over masked values (SPEC 2.10)', () => {
    const [N, L, P] = [2, 4, 6];
    const pred = randn(N * L * P, 3), target = randn(N * L * P, 4);
    const mask = [1, 0, 1, 0, 0, 1, 1, 0];
    let s = 0;
    for (let r = 0; r < N * L; r++) if (mask[r]) for (let k = 0; k < P; k++) s += (pred[r * P + k] - target[r * P + k]) ** 2;
    tidy(() => {
      const loss = maskedMseLoss(tensor(pred, [N, L, P], { dtype: 'float64' }), tensor(target, [N, L, P], { dtype: 'float64' }),
        tensor(mask, [N, L], { dtype: 'float64' }), false);
      expectClose([loss.item()], [s / (4 * P)], { atol: 1e-12, rtol: 1e-12 }, 'mean over masked values');
    });
  });

  it.each([[[2, 3, 4], true], [[2, 3, 4], false], [[1, 5, 2], true], [[3, 1, 7], true], [[4, 1], false]] as [number[], boolean][])(
    'gradient matches finite differences for shape %j, normPix %s', (shape, normPix) => {
      const numel = shape.reduce((a, b) => a * b, 1), rows = numel / shape[shape.length - 1];
      const mask = Float64Array.from(mask01(rows), (v, i) => v * (1 + 0.25 * i));
      gradcheck((p, t, m) => maskedMseLoss(p, t, m, normPix), [
        { data: randn(numel, 5 + numel), shape },
        { data: randn(numel, 6 + numel, 3), shape, grad: false },
        { data: mask, shape: shape.slice(0, -1), grad: false },
      ]);
    });

  it('rejects bad arguments through the TS API', () => {
    tidy(() => {
      const p = zeros([2, 3, 4]), m = zeros([2, 3]);
      expect(() => maskedMseLoss(p, zeros([2, 3, 5]), m, false)).toThrow(/maskedMseLoss: expected `target` of the shape of `pred`/);
      expect(() => maskedMseLoss(p, zeros([6, 4]), m, false)).toThrow(RangeError);
      expect(() => maskedMseLoss(p, p, zeros([5]), false)).toThrow(/maskedMseLoss: expected 6 elements .* for `mask`/);
      expect(() => maskedMseLoss(p, p, m, 1 as unknown as boolean)).toThrow(/maskedMseLoss: expected a boolean for `normPix`/);
      expect(() => maskedMseLoss(zeros([3, 1]), zeros([3, 1]), zeros([3]), true)).toThrow(/normPix/);
      expect(() => maskedMseLoss(zeros([3, 0]), zeros([3, 0]), zeros([3]), false)).toThrow(RangeError);
      expect(() => maskedMseLoss(zeros([]), zeros([]), zeros([1]), false)).toThrow(RangeError);
      expect(() => maskedMseLoss(p, p, zeros([2, 3], { dtype: 'float64' }), false)).toThrow(/maskedMseLoss: `mask` is float64 but `pred` is float32/);
      const i = tensor(new Int32Array(24), [2, 3, 4]);
      expect(() => maskedMseLoss(i, i, tensor(new Int32Array(6), [2, 3]), false)).toThrow(TypeError);
      expect(() => maskedMseLoss(p, null as unknown as Tensor, m, false)).toThrow(/maskedMseLoss: expected a Tensor for `target`/);
      const gone = zeros([2, 3, 4]);
      gone.dispose();
      expect(() => maskedMseLoss(p, gone, m, false)).toThrow(/maskedMseLoss: `target` was used after dispose/);
    });
  });

  it('rejects bad buffers and sizes straight through the native functions', () => {
    tidy(() => {
      const [rows, P] = [6, 4];
      const loss = zeros([1]), pred = zeros([rows, P]), target = zeros([rows, P]), mask = zeros([rows]), dpred = zeros([rows, P]);
      const [l, p, t, m, d] = [loss, pred, target, mask, dpred].map((x) => x.handle());
      expect(() => native.maskedMseLoss(l, p, t, m, rows, P, true)).not.toThrow();
      expect(() => native.maskedMseLoss(l, p, t, m, rows, P + 1, true)).toThrow(/maskedMseLoss: `pred` has 24 elements but the given sizes need 30/);
      expect(() => native.maskedMseLoss(l, p, t, p, rows, P, false)).toThrow(/maskedMseLoss: `mask` has 24/);
      expect(() => native.maskedMseLoss(zeros([rows]).handle(), p, t, m, rows, P, false)).toThrow(/maskedMseLoss: `loss` has 6/);
      expect(() => native.maskedMseLoss(l, p, t, m, rows, 1, true)).toThrow(/maskedMseLoss: `normPix` needs `P` >= 2/);
      expect(() => native.maskedMseLoss(l, p, t, m, rows, 0, false)).toThrow(RangeError);
      expect(() => native.maskedMseLoss(l, p, t, m, -1, P, false)).toThrow(RangeError);
      expect(() => native.maskedMseLoss(l, p, t, m, 2 ** 40, 2 ** 40, false)).toThrow(/sizes too large/);
      expect(() => native.maskedMseLoss(l, p, t, m, rows, P, 0 as unknown as boolean)).toThrow(TypeError);
      expect(() => native.maskedMseLoss(l, p, t, zeros([rows], { dtype: 'float64' }).handle(), rows, P, false)).toThrow(TypeError);
      expect(() => native.maskedMseLoss(l, p, p, m, rows, P, false)).not.toThrow();
      const one = zeros([1]), row = zeros([1]);
      expect(() => native.maskedMseLoss(one.handle(), one.handle(), row.handle(), row.handle(), 1, 1, false)).toThrow(/`loss` and `pred` are the same buffer/);
      expect(() => native.maskedMseLossBackward(d, l, p, t, m, rows, P, true)).not.toThrow();
      expect(() => native.maskedMseLossBackward(d, m, p, t, m, rows, P, true)).toThrow(/maskedMseLossBackward: `dloss` has 6/);
      expect(() => native.maskedMseLossBackward(p, l, p, t, m, rows, P, true)).toThrow(/maskedMseLossBackward: `dpred` and `pred` are the same buffer/);
      expect(() => native.maskedMseLossBackward(d, zeros([1], { dtype: 'float64' }).handle(), p, t, m, rows, P, true)).toThrow(TypeError);
      const dead = zeros([1]);
      const dh = dead.handle();
      dead.dispose();
      expect(() => native.maskedMseLossBackward(d, dh, p, t, m, rows, P, true)).toThrow(/maskedMseLossBackward: `dloss` was disposed/);
      expect(() => (native.maskedMseLoss as unknown as () => void)()).toThrow(TypeError);
    });
  });
});

describe('crossEntropy', () => {
  it.each([[1, 1], [3, 5], [7, 10], [4, 1000], [2, 3]])('matches the reference for N=%i C=%i in float32 and float64', (N, C) => {
    const logits = randn(N * C, N * 31 + C, 3), targets = randomSoftTargets(N, C, N + C);
    const ref = refCrossEntropy(logits, targets, N, C);
    for (const dtype of ['float32', 'float64'] as const) {
      tidy(() => {
        const loss = crossEntropy(tensor(logits, [N, C], { dtype }), tensor(targets, [N, C], { dtype }));
        expect(loss.shape).toEqual([]);
        const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 1e-5, rtol: 1e-5 };
        expectClose([loss.item()], [ref], tol, `crossEntropy ${dtype}`);
      });
    }
  });

  it('is stable for large logits', () => {
    const logits = new Float64Array([1000, -1000, 990, 5000, 5001, 4999]);
    const targets = new Float64Array([0.5, 0.25, 0.25, 0, 1, 0]);
    const ref = refCrossEntropy(logits, targets, 2, 3);
    tidy(() => {
      const loss = crossEntropy(tensor(logits, [2, 3]), tensor(targets, [2, 3]));
      expect(Number.isFinite(loss.item())).toBe(true);
      expectClose([loss.item()], [ref], { atol: 1e-4, rtol: 1e-5 }, 'large logits');
    });
  });

  it.each([[2, 3, true], [3, 5, true], [1, 4, false], [4, 1, true], [5, 2, false]])(
    'gradient matches finite differences for N=%i C=%i (targets summing to 1: %s)', (N, C, normalised) => {
      const targets = normalised ? randomSoftTargets(N, C, 9 * N + C) : randn(N * C, 4 + C).map(Math.abs);
      gradcheck((z, t) => crossEntropy(z, t), [
        { data: randn(N * C, 2 * N + C, 2), shape: [N, C] },
        { data: targets, shape: [N, C], grad: false },
      ]);
    });

  it('the backward is (softmax − t)·dloss/N for one-hot targets (native)', () => {
    const [N, C] = [3, 4];
    const logits = randn(N * C, 77), labels = [2, 0, 3];
    const t = Float64Array.from(softTargets(labels, C));
    tidy(() => {
      const dz = zeros([N, C], { dtype: 'float64' });
      native.crossEntropyBackward(dz.handle(), tensor([2.5], [1], { dtype: 'float64' }).handle(),
        tensor(logits, [N, C], { dtype: 'float64' }).handle(), tensor(t, [N, C], { dtype: 'float64' }).handle(), N, C);
      const ref = new Float64Array(N * C);
      for (let n = 0; n < N; n++) {
        const lp = logSoftmax(logits.subarray(n * C, (n + 1) * C));
        for (let c = 0; c < C; c++) ref[n * C + c] = (Math.exp(lp[c]) - t[n * C + c]) * 2.5 / N;
      }
      expectClose(dz.toTypedArray() as Float64Array, ref, { atol: 1e-14, rtol: 1e-12 }, 'dlogits');
    });
  });

  it('records only when logits need a gradient', () => {
    tidy(() => {
      crossEntropy(zeros([2, 3]), zeros([2, 3]));
      expect(tapeLength()).toBe(0);
      crossEntropy(requireGrad(zeros([2, 3])), zeros([2, 3]));
      expect(tapeLength()).toBe(1);
      clearTape();
    });
  });

  it('rejects bad arguments through the TS API', () => {
    tidy(() => {
      const z = zeros([2, 3]);
      expect(() => crossEntropy(z, zeros([2, 4]))).toThrow(/crossEntropy: expected `targets` of shape \[2, 3\]/);
      expect(() => crossEntropy(z, zeros([6]))).toThrow(RangeError);
      expect(() => crossEntropy(zeros([6]), zeros([6]))).toThrow(/crossEntropy: expected a non-empty \[N, C\] tensor for `logits`/);
      expect(() => crossEntropy(zeros([0, 3]), zeros([0, 3]))).toThrow(RangeError);
      expect(() => crossEntropy(zeros([2, 0]), zeros([2, 0]))).toThrow(RangeError);
      expect(() => crossEntropy(z, zeros([2, 3], { dtype: 'float64' }))).toThrow(TypeError);
      expect(() => crossEntropy(tensor(new Int32Array(6), [2, 3]), tensor(new Int32Array(6), [2, 3]))).toThrow(TypeError);
      expect(() => crossEntropy(z, [1, 2] as unknown as Tensor)).toThrow(/crossEntropy: expected a Tensor for `targets`/);
      const gone = zeros([2, 3]);
      gone.dispose();
      expect(() => crossEntropy(gone, z)).toThrow(/crossEntropy: `logits` was used after dispose/);
    });
  });

  it('rejects bad buffers and sizes straight through the native functions', () => {
    tidy(() => {
      const [N, C] = [2, 3];
      const [l, z, t, d] = [zeros([1]), zeros([N, C]), zeros([N, C]), zeros([N, C])].map((x) => x.handle());
      expect(() => native.crossEntropy(l, z, t, N, C)).not.toThrow();
      expect(() => native.crossEntropy(l, z, t, N, C + 1)).toThrow(/crossEntropy: `logits` has 6 elements but the given sizes need 8/);
      expect(() => native.crossEntropy(l, z, t, 0, C)).toThrow(RangeError);
      expect(() => native.crossEntropy(l, z, t, N, 0)).toThrow(RangeError);
      expect(() => native.crossEntropy(l, z, t, 2 ** 40, 2 ** 40)).toThrow(/sizes too large/);
      expect(() => native.crossEntropy(d, z, t, N, C)).toThrow(/crossEntropy: `loss` has 6/);
      expect(() => native.crossEntropy(l, z, zeros([N, C], { dtype: 'float64' }).handle(), N, C)).toThrow(/`targets` is float64 but `loss` is float32/);
      expect(() => native.crossEntropy(l, z, 'x' as never, N, C)).toThrow(/crossEntropy: expected a tensor buffer for `targets`/);
      const one = zeros([1]), other = zeros([1]);
      expect(() => native.crossEntropy(one.handle(), one.handle(), other.handle(), 1, 1)).toThrow(/`loss` and `logits` are the same buffer/);
      expect(() => native.crossEntropyBackward(d, l, z, t, N, C)).not.toThrow();
      expect(() => native.crossEntropyBackward(d, z, z, t, N, C)).toThrow(/crossEntropyBackward: `dloss` has 6/);
      expect(() => native.crossEntropyBackward(t, l, z, t, N, C)).toThrow(/crossEntropyBackward: `dlogits` and `targets` are the same buffer/);
      expect(() => native.crossEntropyBackward(d, l, z, t, N, 1.5)).toThrow(TypeError);
      const dead = zeros([N, C]);
      const dh = dead.handle();
      dead.dispose();
      expect(() => native.crossEntropyBackward(dh, l, z, t, N, C)).toThrow(/crossEntropyBackward: `dlogits` was disposed/);
    });
  });
});

describe('softTargets', () => {
  it('gives (1 − ε)·onehot + ε/C', () => {
    expect(Array.from(softTargets([1, 0], 3))).toEqual([0, 1, 0, 1, 0, 0]);
    const s = softTargets(new Int32Array([2, 0]), 4, 0.1);
    expectClose(s, [0.025, 0.025, 0.925, 0.025, 0.925, 0.025, 0.025, 0.025], { atol: 1e-7, rtol: 0 }, 'smoothed');
    expect(softTargets([], 5).length).toBe(0);
  });

  it('with crossEntropy equals timm LabelSmoothingCrossEntropy: (1 − ε)·nll + ε·mean_c(−log p)', () => {
    const [N, C] = [5, 7];
    const logits = randn(N * C, 123, 2), labels = [3, 0, 6, 6, 1];
    for (const eps of [0, 0.1, 0.3]) {
      let timm = 0;
      for (let n = 0; n < N; n++) {
        const lp = logSoftmax(logits.subarray(n * C, (n + 1) * C));
        const nll = -lp[labels[n]];
        const smooth = -lp.reduce((a, b) => a + b, 0) / C;
        timm += (1 - eps) * nll + eps * smooth;
      }
      timm /= N;
      tidy(() => {
        const t = tensor(Float64Array.from(softTargets(labels, C, eps)), [N, C], { dtype: 'float64' });
        const loss = crossEntropy(tensor(logits, [N, C], { dtype: 'float64' }), t);
        // softTargets rounds ε/C to float32, hence the tolerance.
        expectClose([loss.item()], [timm], { atol: 1e-7, rtol: 1e-6 }, `label smoothing ${eps}`);
      });
    }
  });

  it('validates labels, the class count and the smoothing', () => {
    expect(() => softTargets([0, 3], 3)).toThrow(/softTargets: expected a label in \[0, 3\) for `labels\[1\]` but got 3/);
    expect(() => softTargets([-1], 3)).toThrow(RangeError);
    expect(() => softTargets([0.5], 3)).toThrow(/softTargets: expected an integer label for `labels\[0\]` but got 0.5/);
    expect(() => softTargets([NaN], 3)).toThrow(TypeError);
    expect(() => softTargets(['1'] as unknown as number[], 3)).toThrow(TypeError);
    expect(() => softTargets([0], 0)).toThrow(RangeError);
    expect(() => softTargets([0], 2.5)).toThrow(TypeError);
    expect(() => softTargets([0], 3, 1.5)).toThrow(/softTargets: expected a number in \[0, 1\] for `smoothing` but got 1.5/);
    expect(() => softTargets([0], 3, NaN)).toThrow(TypeError);
    expect(() => softTargets(null as unknown as number[], 3)).toThrow(/softTargets: expected an array of integer labels for `labels`/);
  });
});

// The CUDA kernels against the CPU ones on fresh random inputs every run (the seed is in each
// label). float32: relative L2 error <= 1e-5. bfloat16 (inputs cast on the device): at most twice
// the error of the float32 CPU op run on bf16-rounded inputs with its output rounded to bf16 too,
// plus one bf16 step on one element (2^-7/√n). The scalar loss is stored in bf16, and its rounding
// (up to 2^-8 relative) far exceeds what rounding the inputs does to a mean over many values; and
// the two devices' fp32 losses may round to neighbouring bf16 values, hence the one step.
describe.skipIf(!cudaUsable)(`losses (cuda) ${cudaSkipReason}`, () => {


  const mse = (rows: number, P: number, normPix: boolean): Run => (device, mode, [PR, T, M]) => tidy(() => {
    const loss = empty([1], { device, dtype: mode });
    native.maskedMseLoss(loss.handle(), put(PR, [rows, P], device, mode).handle(), put(T, [rows, P], device, mode).handle(),
      put(M, [rows], device, mode).handle(), rows, P, normPix);
    return [hostF(loss)];
  });
  const mseBackward = (rows: number, P: number, normPix: boolean): Run => (device, mode, [DL, PR, T, M]) => tidy(() => {
    const dpred = empty([rows, P], { device, dtype: mode });
    native.maskedMseLossBackward(dpred.handle(), put(DL, [1], device, mode).handle(), put(PR, [rows, P], device, mode).handle(),
      put(T, [rows, P], device, mode).handle(), put(M, [rows], device, mode).handle(), rows, P, normPix);
    return [hostF(dpred)];
  });
  const ce = (N: number, C: number): Run => (device, mode, [Z, T]) => tidy(() => {
    const loss = empty([1], { device, dtype: mode });
    native.crossEntropy(loss.handle(), put(Z, [N, C], device, mode).handle(), put(T, [N, C], device, mode).handle(), N, C);
    return [hostF(loss)];
  });
  const ceBackward = (N: number, C: number): Run => (device, mode, [DL, Z, T]) => tidy(() => {
    const dz = empty([N, C], { device, dtype: mode });
    native.crossEntropyBackward(dz.handle(), put(DL, [1], device, mode).handle(), put(Z, [N, C], device, mode).handle(),
      put(T, [N, C], device, mode).handle(), N, C);
    return [hostF(dz)];
  });
  /** mask kinds: 'mixed' 0/1 with both present, 'weighted' 1 + i/4 with zeros, 'none' all 0. */
  const maskOf = (rows: number, kind: string) => Float64Array.from({ length: rows }, (_, r) =>
    kind === 'none' ? 0 : r % 3 === 1 ? 0 : kind === 'weighted' ? 1 + 0.25 * (r % 16) : 1);

  // rows, P, normPix, mask: odd sizes, P = 1 and 2 (the smallest unbiased variance), the
  // pretraining target (16·16·3 = 768 values per patch, 49·0.75 masked of 49 tokens per image).
  it.each([
    [14, 5, false, 'mixed'], [14, 5, true, 'mixed'], [3, 1, false, 'mixed'], [12, 48, true, 'weighted'], [7, 2, true, 'mixed'],
    [98, 768, true, 'mixed'], [98, 768, false, 'weighted'], [9, 6, true, 'none'], [1000, 17, true, 'mixed'],
  ] as [number, number, boolean, string][])('maskedMseLoss forward and backward rows=%i P=%i normPix=%s mask=%s', (rows, P, normPix, kind) => {
    const seed = freshSeed();
    const PR = rand32(rows * P, seed), T = rand32(rows * P, seed + 1, 2, 0.5), M = maskOf(rows, kind);
    expectParity(`maskedMseLoss (seed ${seed})`, mse(rows, P, normPix), [PR, T, M], ['loss']);
    for (const dl of [1, Math.fround(0.37 + Math.random())]) {
      expectParity(`maskedMseLossBackward dloss ${dl} (seed ${seed})`, mseBackward(rows, P, normPix), [Float64Array.of(dl), PR, T, M], ['dpred']);
    }
    if (kind === 'none') {
      expect(mse(rows, P, normPix)('cuda', 'float32', [PR, T, M])[0][0]).toBe(0);
      expect(mseBackward(rows, P, normPix)('cuda', 'float32', [Float64Array.of(1), PR, T, M])[0].every((v) => v === 0)).toBe(true);
    }
  });

  it('maskedMseLoss writes 0 for zero rows on cuda', () => {
    tidy(() => {
      const o = { device: 'cuda' as const };
      const loss = tensor([7], [1], o);
      native.maskedMseLoss(loss.handle(), empty([0, 4], o).handle(), empty([0, 4], o).handle(), empty([0], o).handle(), 0, 4, true);
      expect(loss.item()).toBe(0);
      expect(() => native.maskedMseLossBackward(empty([0, 4], o).handle(), tensor([1], [1], o).handle(), empty([0, 4], o).handle(),
        empty([0, 4], o).handle(), empty([0], o).handle(), 0, 4, true)).not.toThrow();
    });
  });

  it.each([[1, 1, 3, true], [3, 5, 3, true], [7, 10, 3, true], [4, 1000, 3, true], [64, 1000, 2, true], [300, 37, 1, true], [5, 2, 1, false]] as
    [number, number, number, boolean][])('crossEntropy forward and backward N=%i C=%i (logit scale %d, targets summing to 1: %s)', (N, C, sd, normalised) => {
    const seed = freshSeed();
    const Z = rand32(N * C, seed, sd);
    const T = normalised ? Float64Array.from(new Float32Array(randomSoftTargets(N, C, seed + 1))) : rand32(N * C, seed + 1).map(Math.abs);
    expectParity(`crossEntropy (seed ${seed})`, ce(N, C), [Z, T], ['loss']);
    expectParity(`crossEntropyBackward (seed ${seed})`, ceBackward(N, C), [Float64Array.of(Math.fround(0.5 + Math.random())), Z, T], ['dlogits']);
  });

  it('crossEntropy is stable for large logits in float32', () => {
    const Z = new Float64Array([1000, -1000, 990, 5000, 5001, 4999]), T = Float64Array.from(new Float32Array([0.5, 0.25, 0.25, 0, 1, 0]));
    const cpu = ce(2, 3)('cpu', 'float32', [Z, T]), gpu = ce(2, 3)('cuda', 'float32', [Z, T]);
    expect(Number.isFinite(gpu[0][0])).toBe(true);
    expect(relL2(gpu[0], cpu[0])).toBeLessThanOrEqual(1e-5);
    const bc = ceBackward(2, 3)('cpu', 'float32', [Float64Array.of(1), Z, T]), bg = ceBackward(2, 3)('cuda', 'float32', [Float64Array.of(1), Z, T]);
    expect(relL2(bg[0], bc[0])).toBeLessThanOrEqual(1e-5);
  });

  it('run through the TS API and the tape on cuda, matching the CPU gradients', () => {
    const seed = freshSeed(), [N, L, P, C] = [2, 6, 12, 9];
    const PR = rand32(N * L * P, seed), T = rand32(N * L * P, seed + 1), M = maskOf(N * L, 'mixed');
    const Z = rand32(N * C, seed + 2, 2), S = Float64Array.from(new Float32Array(randomSoftTargets(N, C, seed + 3)));
    const run = (device: Device) => tidy(() => {
      const o = { device, dtype: 'float32' as const };
      const pred = requireGrad(tensor(PR, [N, L, P], o)), logits = requireGrad(tensor(Z, [N, C], o));
      const l1 = maskedMseLoss(pred, tensor(T, [N, L, P], o), tensor(M, [N, L], o), true);
      expect(l1.device).toBe(device);
      backward(l1); // walks and clears the tape
      const l2 = crossEntropy(logits, tensor(S, [N, C], o));
      backward(l2);
      const out = [[l1.item()], [l2.item()], hostF(pred.grad!), hostF(logits.grad!)];
      pred.grad!.dispose();
      logits.grad!.dispose();
      return out;
    });
    const cpu = run('cpu'), gpu = run('cuda');
    ['mse', 'ce', 'dpred', 'dlogits'].forEach((name, k) => expect(relL2(gpu[k], cpu[k]), `${name} (seed ${seed})`).toBeLessThanOrEqual(1e-5));
  });

  it('reject device mixes and unsupported dtypes on cuda', () => {
    tidy(() => {
      const o = { device: 'cuda' as const };
      const cu = (shape: number[], dtype: 'float32' | 'float64' = 'float32') => empty(shape, { device: 'cuda', dtype }).handle();
      expect(() => maskedMseLoss(zeros([2, 3], o), zeros([2, 3], o), zeros([2]), false)).toThrow(/maskedMseLoss: `mask` is on cpu but `pred` is on cuda/);
      expect(() => crossEntropy(zeros([2, 3], o), zeros([2, 3]))).toThrow(/crossEntropy: `targets` is on cpu but `logits` is on cuda/);
      expect(() => native.maskedMseLoss(cu([1]), cu([2, 3]), zeros([2, 3]).handle(), cu([2]), 2, 3, false)).toThrow(/maskedMseLoss: `target` is on cpu but `loss` is on cuda/);
      expect(() => native.maskedMseLossBackward(cu([2, 3]), zeros([1]).handle(), cu([2, 3]), cu([2, 3]), cu([2]), 2, 3, true)).toThrow(/maskedMseLossBackward: `dloss` is on cpu but `dpred` is on cuda/);
      expect(() => native.crossEntropy(zeros([1]).handle(), cu([2, 3]), cu([2, 3]), 2, 3)).toThrow(/crossEntropy: `logits` is on cuda but `loss` is on cpu/);
      expect(() => native.crossEntropyBackward(cu([2, 3]), cu([1]), cu([2, 3]), zeros([2, 3]).handle(), 2, 3)).toThrow(/crossEntropyBackward: `targets` is on cpu/);
      expect(() => native.crossEntropy(cu([1], 'float64'), cu([2, 3], 'float64'), cu([2, 3], 'float64'), 2, 3)).toThrow(/crossEntropy: `loss` is float64, which cuda kernels/);
      expect(() => native.maskedMseLoss(cu([1]), cu([2, 3]), cu([2, 3]), cu([2]), 2, 4, false)).toThrow(RangeError);
    });
  });
});
