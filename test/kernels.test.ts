// The CUDA kernel-family choices: defaults, setKernel round trips, and errors that name the
// allowed values. (Which kernels each family runs is checked by the CUDA op suites.)
import { afterEach, describe, expect, it } from 'vitest';

import { kernels, setKernel } from '../lib/backends';

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
    expect(initial).toEqual({ gemm: 'wgmma', attention: 'mma', layernorm: 'rows', dwconv: 'cells' });
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
    expect(() => setKernel('gemm', 'cublas' as never)).toThrow(/`cublas` is not a kernel of gemm \(allowed: wgmma, tma, mma, wmma, auto\)/);
    expect(() => setKernel('conv' as never, 'x' as never)).toThrow(/unknown op `conv`.*gemm=wgmma\|tma\|mma\|wmma\|auto/);
    expect(() => (setKernel as (a: unknown, b: unknown) => void)(1, 2)).toThrow(TypeError);
    expect(kernels()).toEqual(initial);
  });
});
