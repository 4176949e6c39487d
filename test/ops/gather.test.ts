// gatherRows against a plain-TS gather, its scatter-add gradient (repeated indices summed) by
// finite differences, and out-of-range indices and other bad arguments throwing; on a GPU, the
// CUDA kernels against the CPU ones.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { backward, requireGrad } from '../../lib/autograd/tape';
import { gatherRows } from '../../lib/ops/gather';
import { tidy } from '../../lib/tensor/scope';
import { empty, liveTensorCount, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import type { Device } from '../../lib/tensor/device';
import { relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { type Mode, freshSeed, rand32, roundBf16, put, hostF, firstDiff } from '../helpers/cuda_compare';

const idxOf = (a: number[]) => tensor(Int32Array.from(a), [a.length], { dtype: 'int32' });
const H = (t: Tensor) => t.handle();

describe('gatherRows (cpu)', () => {
  it.each([[5, 3, [4, 0, 2]], [7, 1, [6, 6, 0, 3, 3, 3]], [1, 9, [0, 0]], [12, 17, [11, 1, 5, 8, 2, 0, 9]], [3, 4, []]])(
    'R=%i C=%i idx=%j', (r, c, idx) => {
      for (const dtype of ['float32', 'float64'] as DType[]) {
        tidy(() => {
          const X = randn(r * c, r + c);
          const x = tensor(X, [r, c], { dtype });
          const xs = Float64Array.from(x.toTypedArray() as Float32Array);
          const out = gatherRows(x, idxOf(idx as number[]));
          expect(out.shape).toEqual([idx.length, c]);
          const want = new Float64Array(idx.length * c);
          (idx as number[]).forEach((i, m) => want.set(xs.subarray(i * c, (i + 1) * c), m * c));
          expect(Float64Array.from(out.toTypedArray() as Float32Array)).toEqual(want);
        });
      }
    });

  it('views leading dims as rows', () => {
    tidy(() => {
      const x = tensor(randn(2 * 3 * 4, 1), [2, 3, 4], { dtype: 'float64' });
      const out = gatherRows(x, idxOf([5, 0]));
      const xs = x.toTypedArray() as Float64Array;
      expect(Array.from(out.toTypedArray() as Float64Array)).toEqual([...xs.subarray(20, 24), ...xs.subarray(0, 4)]);
    });
  });

  it('gradients by finite differences, repeated indices included', () => {
    for (const [r, c, idx] of [[4, 3, [3, 1, 3, 3, 0]], [5, 2, [0, 1, 2, 3, 4]], [3, 5, [2]]] as [number, number, number[]][]) {
      gradcheck((x) => gatherRows(x, idxOf(idx)), [{ data: randn(r * c, 3), shape: [r, c] }]);
    }
    tidy(() => {
      // The gradient of a twice-gathered row is the sum of its two output gradients.
      const x = requireGrad(tensor(randn(6, 4), [3, 2], { dtype: 'float64' }));
      const out = gatherRows(x, idxOf([1, 1, 2]));
      const dy = tensor([1, 2, 10, 20, 100, 200], [3, 2], { dtype: 'float64' });
      const before = liveTensorCount('cpu');
      backward(out, dy);
      expect(Array.from(x.grad!.toTypedArray() as Float64Array)).toEqual([0, 0, 11, 22, 100, 200]);
      expect(liveTensorCount('cpu')).toBe(before + 1); // x.grad
      x.grad!.dispose();
    });
  });

  it('bad arguments throw', () => {
    tidy(() => {
      const x = tensor(randn(12, 1), [4, 3], { dtype: 'float32' });
      expect(() => gatherRows(x, idxOf([0, 4]))).toThrow(/gatherRows.*idx.*outside/);
      expect(() => gatherRows(x, idxOf([-1]))).toThrow(RangeError);
      expect(() => gatherRows(x, idxOf([0]).cast('float32'))).toThrow(/gatherRows.*int32/);
      expect(() => gatherRows(x, tensor(BigInt64Array.from([0n]), [1]))).toThrow(TypeError);
      expect(() => gatherRows(x, idxOf([0, 1]).reshape([1, 2]))).toThrow(RangeError);
      expect(() => gatherRows(x.cast('int32'), idxOf([0]))).toThrow(TypeError);
      expect(() => gatherRows(tensor([1], []), idxOf([0]))).toThrow(RangeError);
      expect(() => gatherRows(x, [0] as unknown as Tensor)).toThrow(TypeError);
      const dead = idxOf([0]);
      dead.dispose();
      expect(() => gatherRows(x, dead)).toThrow(/gatherRows.*dispose/);
      const out = zeros([2, 3]), idx = idxOf([3, 0]);
      native.gatherRows(H(out), H(x), H(idx), 2, 4, 3);
      expect(() => native.gatherRows(H(out), H(x), H(idx), 2, 3, 3)).toThrow(RangeError);
      expect(() => native.gatherRows(H(out), H(x), H(idx), 2, 4, 2)).toThrow(RangeError);
      expect(() => native.gatherRows(H(out), H(x), H(idxOf([3, 4])), 2, 4, 3)).toThrow(/idx.*outside/);
      expect(() => native.gatherRows(H(out), H(x), H(idxOf([3])), 2, 4, 3)).toThrow(RangeError);
      expect(() => native.gatherRows(H(out), H(x.cast('float64')), H(idx), 2, 4, 3)).toThrow(TypeError);
      expect(() => native.gatherRows(H(out), H(x), H(idx.cast('float32')), 2, 4, 3)).toThrow(TypeError);
      expect(() => native.gatherRows(H(out), H(x), H(idx), -2, 4, 3)).toThrow(RangeError);
      const dx = zeros([4, 3]);
      native.scatterAddRows(H(dx), H(out), H(idx), 2, 4, 3);
      expect(() => native.scatterAddRows(H(dx), H(out), H(idxOf([0, 7])), 2, 4, 3)).toThrow(/scatterAddRows.*outside/);
      expect(() => native.scatterAddRows(H(dx), H(dx), H(idxOf([0, 1, 2, 3])), 4, 4, 3)).toThrow(/different tensors/);
      expect(() => native.scatterAddRows(H(out), H(dx), H(idx), 2, 4, 3)).toThrow(RangeError);
    });
  });
});

// The CUDA twins against the CPU ops on fresh random inputs every run (the seed is in each label).
// gatherRows is a copy: float32 equals the CPU exactly, bfloat16 (inputs cast on the device)
// equals the CPU run on bf16-rounded inputs. scatterAddRows sums with fp32 atomics in any order:
// float32 within relative L2 1e-5; bfloat16 within twice the error that rounding the inputs causes.
describe.skipIf(!cudaUsable)(`gatherRows / scatterAddRows (cuda) ${cudaSkipReason}`, () => {
  /** m indices in [0, hi) from a seed (repeats likely when m > hi). */
  const randomIdx = (m: number, hi: number, seed: number) => Array.from(randn(m, seed), (v) => Math.min(hi - 1, Math.floor(hi * (0.5 + 0.5 * Math.tanh(v)))));

  function gather(device: Device, mode: Mode, X: Float64Array, idx: number[], r: number, c: number): Float64Array {
    return tidy(() => {
      const i = tensor(Int32Array.from(idx), [idx.length], { dtype: 'int32', device });
      return hostF(gatherRows(put(X, [r, c], device, mode), i));
    });
  }

  function scatter(device: Device, mode: Mode, DX: Float64Array, DY: Float64Array, idx: number[], r: number, c: number): Float64Array {
    return tidy(() => {
      const i = tensor(Int32Array.from(idx), [idx.length], { dtype: 'int32', device });
      const dx = put(DX, [r, c], device, mode);
      native.scatterAddRows(H(dx), H(put(DY, [idx.length, c], device, mode)), H(i), idx.length, r, c);
      return hostF(dx);
    });
  }

  it.each([[5, 3, 7], [7, 1, 40], [1, 9, 2], [300, 17, 100], [3136, 256, 784], [3, 4, 0], [0, 4, 0]])('gatherRows R=%i C=%i M=%i', (r, c, m) => {
    const seed = freshSeed();
    const X = rand32(r * c, seed), idx = randomIdx(m, r, seed + 1);
    const cpu = gather('cpu', 'float32', X, idx, r, c);
    const cpuRounded = gather('cpu', 'float32', roundBf16(X), idx, r, c);
    const gpu = gather('cuda', 'float32', X, idx, r, c), bf = gather('cuda', 'bfloat16', X, idx, r, c);
    expect(firstDiff(gpu, cpu), `float32 (seed ${seed})`).toBe(-1);
    expect(relL2(gpu, cpu)).toBeLessThanOrEqual(1e-5);
    expect(firstDiff(bf, cpuRounded), `bfloat16 (seed ${seed})`).toBe(-1);
    expect(relL2(bf, cpu)).toBeLessThanOrEqual(2 * relL2(cpuRounded, cpu));
  });

  it.each([
    // R, C, M, idx: 'random' (repeats) or 'one' (every index the same row)
    [5, 3, 7, 'random'],
    [64, 48, 400, 'random'],
    [3136, 256, 784, 'random'],
    [8, 256, 500, 'one'],
    [6, 33, 0, 'random'],
  ] as [number, number, number, string][])('scatterAddRows R=%i C=%i M=%i idx=%s sums repeated indices', (r, c, m, kind) => {
    const seed = freshSeed();
    const DX = rand32(r * c, seed), DY = rand32(m * c, seed + 1);
    const idx = kind === 'one' ? new Array<number>(m).fill(3) : randomIdx(m, r, seed + 2);
    const cpu = scatter('cpu', 'float32', DX, DY, idx, r, c);
    const gpu = scatter('cuda', 'float32', DX, DY, idx, r, c);
    expect(relL2(gpu, cpu), `float32 (seed ${seed})`).toBeLessThanOrEqual(1e-5);
    if (r * c < 256 || m === 0) return; // too few sums for a stable bf16 error ratio (see dwconv.test.ts)
    const cpuRounded = scatter('cpu', 'float32', roundBf16(DX), roundBf16(DY), idx, r, c);
    const bf = scatter('cuda', 'bfloat16', DX, DY, idx, r, c);
    const budget = relL2(cpuRounded, cpu);
    expect(relL2(bf, cpu), `bfloat16 (seed ${seed}; input rounding alone: ${budget})`).toBeLessThanOrEqual(2 * budget);
  });

  it('gives the gather gradient through the tape on cuda', () => {
    const seed = freshSeed(), r = 9, c = 5;
    const X = rand32(r * c, seed), idx = [4, 4, 0, 8, 4, 1], DY = rand32(idx.length * c, seed + 1);
    const grad = (device: Device) => tidy(() => {
      const x = requireGrad(tensor(X, [r, c], { dtype: 'float32', device }));
      const out = gatherRows(x, tensor(Int32Array.from(idx), [idx.length], { dtype: 'int32', device }));
      backward(out, tensor(DY, [idx.length, c], { dtype: 'float32', device }));
      const g = hostF(x.grad!);
      x.grad!.dispose();
      return g;
    });
    expect(relL2(grad('cuda'), grad('cpu')), `seed ${seed}`).toBeLessThanOrEqual(1e-5);
  });

  it('rejects device mixes and out-of-range indices before any kernel runs', () => {
    tidy(() => {
      const o = { dtype: 'float32' as const, device: 'cuda' as const };
      const cudaIdx = (a: number[]) => tensor(Int32Array.from(a), [a.length], { dtype: 'int32', device: 'cuda' });
      const x = tensor(randn(12, 1), [4, 3], o);
      expect(gatherRows(x, cudaIdx([3, 0])).device).toBe('cuda');
      expect(() => gatherRows(x, idxOf([0]))).toThrow(/gatherRows: `idx` is on cpu but `x` is on cuda/);
      expect(() => gatherRows(x, cudaIdx([0, 4]))).toThrow(/gatherRows: `idx`\[1\] = 4 is outside \[0, 4\)/);
      expect(() => gatherRows(x, cudaIdx([-1]))).toThrow(RangeError);
      const out = empty([2, 3], o), idx = cudaIdx([3, 0]);
      native.gatherRows(H(out), H(x), H(idx), 2, 4, 3);
      expect(() => native.gatherRows(H(out), H(x), H(idxOf([3, 0])), 2, 4, 3)).toThrow(/gatherRows: `idx` is on cpu but cuda was expected/);
      expect(() => native.gatherRows(H(out), H(x.to('cpu')), H(idx), 2, 4, 3)).toThrow(/gatherRows: `x` is on cpu but `out` is on cuda/);
      expect(() => native.gatherRows(H(out), H(x.cast('bfloat16')), H(idx), 2, 4, 3)).toThrow(TypeError);
      const dx = empty([4, 3], o);
      native.scatterAddRows(H(dx), H(out), H(idx), 2, 4, 3);
      expect(() => native.scatterAddRows(H(dx), H(out), H(cudaIdx([0, 7])), 2, 4, 3)).toThrow(/scatterAddRows: `idx`\[1\] = 7 is outside/);
      expect(() => native.scatterAddRows(H(dx), H(out), H(cudaIdx([-3, 0])), 2, 4, 3)).toThrow(RangeError);
      expect(() => native.scatterAddRows(H(dx), H(out.to('cpu')), H(idx), 2, 4, 3)).toThrow(/scatterAddRows: `dy` is on cpu/);
      expect(() => native.scatterAddRows(H(dx.to('cpu')), H(out.to('cpu')), H(idx), 2, 4, 3)).toThrow(/scatterAddRows: `idx` is on cuda but cpu was expected/);
    });
  });
});
