// The GEMM index probe of bench/gemm_probe.ts: on every device here each product reads every
// element from its own place, and where a product is wrong (here a transposed one, a shifted one,
// one that sums neighbours) the probe names where the values came from.
import { describe, expect, it } from 'vitest';

import { judge, probeGemm } from '../../bench/gemm_probe';
import { devices } from '../helpers/devices';

describe.each(devices)('gemm index probe on %s', (device) => {
  it('finds every element in its own place in all transpose forms and both sides', () => {
    const results = probeGemm(device, 128);
    expect(results).toHaveLength(8);
    for (const r of results) expect(r.wrong, `${r.label}: ${r.detail}`).toBe(0);
  });
});

describe('gemm probe verdicts', () => {
  const s = 16;
  const probes = (f: (i: number, j: number) => [number, number]) => {
    const rows = new Float32Array(s * s), cols = new Float32Array(s * s);
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) [rows[i * s + j], cols[i * s + j]] = f(i, j);
    return judge('case', s, rows, cols);
  };

  it('names a transpose as a permutation with where its first elements came from', () => {
    const r = probes((i, j) => [j, i]);
    expect(r.wrong).toBe(s * s - s);
    expect(r.detail).toContain('(0,1)<-(1,0)');
    expect(r.detail).toContain('a permutation');
  });

  it('gives the commonest offset of a shifted product, and calls sums of elements mixed', () => {
    const shifted = probes((i, j) => [i, (j + 8) % s]);
    expect(shifted.detail).toContain('offset (row,col) 0,8 x128');
    const summed = probes((i, j) => [i + 0.5, j]);
    expect(summed.wrong).toBe(s * s);
    expect(summed.detail).toContain(`${s * s} mixed`);
  });
});
