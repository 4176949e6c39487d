// The CUDA kernel-family choices: defaults, setKernel round trips, and errors that name the
// allowed values (which kernels each family runs is checked by the CUDA op suites); gemmPaths'
// counts of which path CUDA gemm took.
import { afterEach, describe, expect, it } from 'vitest';

import { gemmPaths, kernels, setKernel } from '../lib/backends';
import { native } from '../lib/binding';
import { tidy } from '../lib/tensor/scope';
import { empty, tensor } from '../lib/tensor/tensor';
import { cudaSkipReason, cudaUsable } from './helpers/devices';

describe('kernel choices', () => {
  const initial = kernels();
  afterEach(() => {
    setKernel('gemm', initial.gemm);
    setKernel('attention', initial.attention);
    setKernel('layernorm', initial.layernorm);
    setKernel('dwconv', initial.dwconv);
  });

  it('default to the fast families (checked on an H100) unless CONVMAE_KERNELS says otherwise', () => {
    if (process.env.CONVMAE_KERNELS) return;
    expect(initial).toEqual({ gemm: 'auto', attention: 'mma', layernorm: 'rows', dwconv: 'cells' });
  });

  it('setKernel changes what kernels() reports', () => {
    setKernel('gemm', 'wmma');
    setKernel('attention', 'simt');
    setKernel('layernorm', 'rows');
    setKernel('dwconv', 'cells');
    expect(kernels()).toEqual({ gemm: 'wmma', attention: 'simt', layernorm: 'rows', dwconv: 'cells' });
    setKernel('gemm', 'wgmma');
    expect(kernels().gemm).toBe('wgmma');
    setKernel('gemm', 'mma');
    expect(kernels().gemm).toBe('mma');
    setKernel('gemm', 'tma');
    expect(kernels().gemm).toBe('tma');
    setKernel('gemm', 'auto');
    expect(kernels().gemm).toBe('auto');
  });

  it('rejects unknown ops and names with the allowed values', () => {
    expect(() => setKernel('gemm', 'cublas' as never)).toThrow(/`cublas` is not a kernel of gemm \(allowed: auto, wgmma, tma, mma, wmma\)/);
    expect(() => setKernel('conv' as never, 'x' as never)).toThrow(/unknown op `conv`.*gemm=auto\|wgmma\|tma\|mma\|wmma/);
    expect(() => (setKernel as (a: unknown, b: unknown) => void)(1, 2)).toThrow(TypeError);
    expect(kernels()).toEqual(initial);
  });
});

describe('gemmPaths', () => {
  it('counts no CPU gemm, resets to zero and refuses a non-boolean', () => {
    gemmPaths({ reset: true });
    tidy(() => {
      const a = tensor(new Float32Array(16).fill(1), [4, 4]), c = empty([4, 4]);
      native.gemm(c.handle(), a.handle(), a.handle(), null, 4, 4, 4, false, false, 1, 0, 1, 0, 0, 0);
    });
    const zero = { calls: 0, outputs: 0 };
    expect(gemmPaths()).toEqual({ tensorCore: zero, plainBf16: zero, plainFloat32: zero });
    expect(() => (native.gemmPaths as (x: unknown) => unknown)('yes')).toThrow(/gemmPaths: expected \(reset: boolean\)/);
  });

  it.skipIf(!cudaUsable)(`counts each CUDA gemm on the path it took ${cudaSkipReason}`, () => {
    gemmPaths({ reset: true });
    tidy(() => {
      // bf16 with rows of 16: the tensor cores; bf16 with rows of 12: the plain kernel; float32: the plain kernel
      const run = (dtype: 'bfloat16' | 'float32', m: number, n: number, k: number, batch: number) => {
        const a = tensor(new Float32Array(batch * m * k).fill(1), [batch, m, k], { dtype, device: 'cuda' });
        const b = tensor(new Float32Array(batch * k * n).fill(1), [batch, k, n], { dtype, device: 'cuda' });
        const c = empty([batch, m, n], { dtype, device: 'cuda' });
        native.gemm(c.handle(), a.handle(), b.handle(), null, m, n, k, false, false, 1, 0, batch, m * k, k * n, m * n);
        return Array.from(c.toFloat32Array());
      };
      expect(run('bfloat16', 8, 16, 16, 2)).toEqual(new Array(2 * 8 * 16).fill(16));
      expect(run('bfloat16', 8, 12, 12, 1)).toEqual(new Array(8 * 12).fill(12));
      expect(run('float32', 3, 5, 7, 1)).toEqual(new Array(15).fill(7));
    });
    expect(gemmPaths({ reset: true })).toEqual({
      tensorCore: { calls: 1, outputs: 2 * 8 * 16 }, plainBf16: { calls: 1, outputs: 8 * 12 }, plainFloat32: { calls: 1, outputs: 15 },
    });
    expect(gemmPaths().tensorCore.calls).toBe(0);
  });
});
