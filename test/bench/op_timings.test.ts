// The op timings of bench/op_timings.ts and the device timer under them (cuda/timer.cu): a case
// timed on each device (the CPU on its wall clock, cuda on the device's clock with the wall time
// beside it), the table that prints them, and the timer's argument checks; on a CPU-only build the
// timer names the missing CUDA.
import { describe, expect, it } from 'vitest';

import { formatCublasShare, formatTable, opCases, timeOps, withAttentionWarps } from '../../bench/op_timings';
import { backends, kernels } from '../../lib/backends';
import { native } from '../../lib/binding';
import * as ops from '../../lib/ops';
import { tidy } from '../../lib/tensor/scope';
import { tensor } from '../../lib/tensor/tensor';
import { cudaSkipReason, cudaUsable, devices } from '../helpers/devices';

describe.each(devices)('op timings on %s', (device) => {
  it('time a case forward and forward+backward, on the device clock with the wall time beside it', () => {
    const rows = timeOps(1, device, 2, () => {}, /^gelu /);
    expect(rows).toHaveLength(1);
    const [r] = rows;
    expect(r.error).toBeUndefined();
    for (const t of [r.fwd, r.fwdBwd!, r.fwdWall, r.fwdBwdWall!]) expect(t).toBeGreaterThan(0);
    if (device === 'cpu') expect([r.fwd, r.fwdBwd]).toEqual([r.fwdWall, r.fwdBwdWall]);
    const table = formatTable(rows, { [r.name]: { fwd: 2 * r.fwd, fwd_bwd: null } }).split('\n');
    expect(table[0]).toBe('op | fwd ms | fwd rate | f+b ms | torch fwd | torch f+b | fwd x | f+b x | wall fwd | wall f+b');
    expect(table[1].split(' | ')).toHaveLength(10);
    expect(table[1].split(' | ')[6]).toBe('2.00');
  });
});

describe('attention rows at forced warps a block (sweep builds)', () => {
  it('lists each attention shape again at a warp count an H100 does not choose for both directions, only when asked', () => {
    const forced = opCases(128, true).filter((c) => c.kind === 'attention' && c.warps !== undefined);
    expect(forced.map((c) => [c.name, c.kind === 'attention' && c.warps])).toEqual([
      ['attention L49 h12 d64 (8 warps)', 8], ['attention L196 h16 d32 (8 warps)', 8], ['attention L196 h16 d32 (4 warps)', 4],
      ['attention L196 h12 d64 (finetune, 4 warps)', 4]]);
    expect(opCases(128).some((c) => c.kind === 'attention' && c.warps !== undefined)).toBe(false);
  });

  it.skipIf(!cudaUsable || !backends().cuda.gemmSweep || kernels().attention !== 'mma')('times them with CONVMAE_ATTENTION_WARPS set, and puts the variable back', () => {
    const given = process.env.CONVMAE_ATTENTION_WARPS;
    const rows = timeOps(1, 'cuda', 1, () => {}, /warps\)$/);
    expect(rows.map((r) => [r.name, r.error])).toEqual([
      ['attention L49 h12 d64 (8 warps)', undefined], ['attention L196 h16 d32 (8 warps)', undefined],
      ['attention L196 h16 d32 (4 warps)', undefined], ['attention L196 h12 d64 (finetune, 4 warps)', undefined]]);
    expect(process.env.CONVMAE_ATTENTION_WARPS).toBe(given);
    expect(withAttentionWarps(8, () => process.env.CONVMAE_ATTENTION_WARPS)).toBe('8');
    expect(process.env.CONVMAE_ATTENTION_WARPS).toBe(given);
  });
});

describe('the GEMM rows against the cuBLAS figures', () => {
  it('lists every batch-128 GEMM case whose shape issue #5 gives, plain and with GELU, at its share', () => {
    const gemms = opCases(128).filter((c) => c.kind === 'gemm');
    const rows = gemms.map((c) => ({ name: c.name, fwd: 1e-3, fwdBwd: null, fwdWall: 1e-3, fwdBwdWall: null,
      hostBound: { fwd: false, fwdBwd: false }, work: { flops: c.kind === 'gemm' ? 2 * c.m * c.k * c.n : 0 } }));
    const lines = formatCublasShare(rows).split('\n');
    expect(lines[0]).toBe('gemm forward | ours TF/s | cuBLAS TF/s (H100, issue #5) | share');
    // every case: the 7 model products, the 4 fc1 ones without GELU, and 8192³
    expect(lines).toHaveLength(1 + gemms.length);
    expect(lines.find((l) => l.startsWith('gemm square 8192x8192x8192 |'))).toBe(`gemm square 8192x8192x8192 | ${(2 * 8192 ** 3 / 1e-3 / 1e12).toPrecision(3)} | 770 | ${(100 * (2 * 8192 ** 3 / 1e-3 / 1e12) / 770).toFixed(0)}%`);
    expect(lines.filter((l) => l.includes('100352x256x1024')).map((l) => l.split(' | ')[0])).toEqual(['gemm s1 fc1 100352x256x1024+gelu', 'gemm s1 fc1 100352x256x1024']);
    // at another batch no model shape is one of the issue's: nothing to list
    expect(formatCublasShare(opCases(64).filter((c) => c.kind === 'gemm' && c.m !== 8192).map((c) => ({ ...rows[0], name: c.name })))).toBe('');
  });
});

describe.skipIf(!cudaUsable)(`device timer (cuda) ${cudaSkipReason}`, () => {
  it('brackets the work queued between timerBegin and timerEnd, and checks its arguments', () => {
    tidy(() => {
      const x = tensor(new Float32Array(1 << 16).fill(1), [1 << 16], { device: 'cuda' });
      native.timerBegin(0);
      for (let i = 0; i < 4; i++) ops.gelu(x);
      const ms = native.timerEnd();
      expect(Number.isFinite(ms) && ms >= 0).toBe(true);
    });
    expect(() => native.timerEnd()).toThrow(/timerEnd: timerEnd without a timerBegin before it/);
    expect(() => native.timerBegin(-1)).toThrow(/timerBegin: expected `holdMicros` in \[0, 1e7\] but got -1/);
    expect(() => (native.timerBegin as (a: unknown) => void)('1')).toThrow(/timerBegin: expected a number of microseconds/);
  });
});

describe.skipIf(cudaUsable)('device timer without CUDA', () => {
  it('says that this addon or machine has no CUDA', () => {
    expect(() => native.timerBegin(10)).toThrow(/timerBegin: /);
  });
});
