// bench/gemm_sweep.ts: the checksum rule that tells a wrong tiling from a reordered sum, the
// tables it prints, and on cuda a sweep of a small problem over every tiling of the families
// here (in a CONVMAE_GEMM_SWEEP build each tiling is its own kernel; elsewhere all run tiling 0).
import { describe, expect, it } from 'vitest';

import { checksumsAgree, formatSweep, sweep, sweepCases } from '../../bench/gemm_sweep';
import { TILINGS } from '../../bench/gemm_tilings';
import { backends } from '../../lib/backends';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';

describe('gemm_sweep', () => {
  it('accepts the checksums of a reordered sum and refuses a scaled, shifted or NaN output', () => {
    const want: [number, number] = [1000, 20], rr = 1000;  // |Σy·r| scale: sqrt(1000 · 1000) = 1000
    expect(checksumsAgree([1005, 25], want, rr)).toBe(true);
    expect(checksumsAgree([250, 10], want, rr)).toBe(false);   // y / 2
    expect(checksumsAgree([1000, 40], want, rr)).toBe(false);  // same size, other values
    expect(checksumsAgree([NaN, 20], want, rr)).toBe(false);
  });

  it('prints a table per form with the best tiling, and the forward\'s share of the cuBLAS figure', () => {
    const rates = (a: number, b: number | string) => new Map<string, number | string>([['wgmma:0', a], ['tma:0', b]]);
    const text = formatSweep([
      { case: 'gemm s3 qkv 6272x768x2304', form: 'fwd', rates: rates(300, 350) },
      { case: 'gemm s3 qkv 6272x768x2304', form: 'dW', rates: rates(280, 'wrong (Σy² 1 vs 2)') },
    ]).split('\n');
    expect(text).toContain('case | wgmma:0 | tma:0 | best | cuBLAS share (H100)');
    expect(text).toContain('gemm s3 qkv 6272x768x2304 | 300 | 350 | tma:0 350 | 60%');
    expect(text).toContain('gemm s3 qkv 6272x768x2304 | 280 | wrong (Σy² 1 vs 2) | wgmma:0 280');
  });

  it('sweeps the model\'s GEMM cases at a batch, and knows each family\'s tilings', () => {
    expect(sweepCases(128).map((c) => c.name)).toContain('gemm s1 fc1 100352x256x1024+gelu');
    expect(sweepCases(128, /^gemm s3/).every((c) => c.name.startsWith('gemm s3'))).toBe(true);
    expect(Object.keys(TILINGS).sort()).toEqual(['mma', 'tma', 'wgmma', 'wmma']);
  });

  it.skipIf(!cudaUsable)(`times every tiling of a small problem in the three forms, none wrong (cuda) ${cudaSkipReason}`, () => {
    const families = backends().cuda.wgmma ? ['tma', 'mma'] as const : ['mma'] as const;
    const results = sweep([{ name: 'gemm small 136x64x200+gelu', m: 136, k: 64, n: 200, gelu: true }], [...families], 1);
    expect(results.map((r) => r.form)).toEqual(['fwd', 'dX', 'dW']);
    for (const r of results) {
      expect([...r.rates.keys()]).toEqual(families.flatMap((f) => Array.from({ length: TILINGS[f].count }, (_, t) => `${f}:${t}`)));
      for (const [key, v] of r.rates) expect(typeof v, `${r.form} ${key}: ${v}`).toBe('number');
    }
  });
});
