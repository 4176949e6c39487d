// The failure breakdown of bench/fast_smoke.ts: per part, its error and the rows that are off,
// with dqkv cut into its q, k and v thirds, so a GPU run's failure points at a tile.
import { describe, expect, it } from 'vitest';

import { breakdown, ranges } from '../../bench/fast_smoke';

describe('fast_smoke failure breakdown', () => {
  it('writes runs of indices as ranges and stops after the limit', () => {
    expect(ranges([0, 1, 2, 5, 7, 8])).toBe('0-2, 5, 7-8');
    expect(ranges([1, 3, 5, 7], 2)).toBe('1, 3, ...');
    expect(ranges([])).toBe('');
  });

  it('names the part and the rows that are off, splitting dqkv into dq, dk and dv', () => {
    const rows = 32, width = 12; // dqkv of 1 sample, L = 32, 3 x 4 columns
    const want = Float32Array.from({ length: rows * width }, (_, i) => Math.sin(i + 1));
    const got = want.slice();
    for (let r = 16; r < 32; r++) for (let c = 4; c < 8; c++) got[r * width + c] *= -1; // dk wrong in rows 16-31
    const out = Float32Array.from([1, 2, 3]);
    const lines = breakdown(['out', 'dqkv'], [[1, 3], [1, rows, width]], [out, got], [out, want]);
    expect(lines[0]).toBe('out: rel L2 0.00e+0');
    expect(lines[1]).toMatch(/^dq: rel L2 0\.00e\+0$/);
    expect(lines[2]).toMatch(/^dk: rel L2 1\.4[0-9]e\+0, 16\/32 rows off: 16-31$/);
    expect(lines[3]).toMatch(/^dv: rel L2 0\.00e\+0$/);
  });
});
