// Resamples a [G·G, C] position table to [G'·G', C] as PyTorch's F.interpolate(mode='bicubic',
// align_corners=False) does (cubic convolution with a = -0.75, source index (i + 0.5)·G/G' - 0.5,
// border indices clamped): SPEC.md §9.1, for feature extraction at other input sizes.
function cubic(x: number, a = -0.75): number {
  const t = Math.abs(x);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/** Weights and clamped source indices for one output coordinate. */
function taps(out: number, from: number, to: number): { idx: number[]; w: number[] } {
  const src = (out + 0.5) * (from / to) - 0.5;
  const f = Math.floor(src);
  const t = src - f;
  const idx: number[] = [], w: number[] = [];
  for (let k = -1; k <= 2; k++) {
    idx.push(Math.min(from - 1, Math.max(0, f + k)));
    w.push(cubic(k - t));
  }
  return { idx, w };
}

export function resizePosTable(table: Float32Array, grid: number, channels: number, newGrid: number): Float32Array {
  if (table.length !== grid * grid * channels) throw new RangeError(`resizePosTable: table has ${table.length} values, expected ${grid}x${grid}x${channels}`);
  if (newGrid === grid) return table.slice();
  const out = new Float32Array(newGrid * newGrid * channels);
  const t = Array.from({ length: newGrid }, (_, i) => taps(i, grid, newGrid));
  for (let y = 0; y < newGrid; y++) {
    for (let x = 0; x < newGrid; x++) {
      const o = (y * newGrid + x) * channels;
      for (let ky = 0; ky < 4; ky++) {
        for (let kx = 0; kx < 4; kx++) {
          const wgt = t[y].w[ky] * t[x].w[kx];
          const s = (t[y].idx[ky] * grid + t[x].idx[kx]) * channels;
          for (let c = 0; c < channels; c++) out[o + c] += wgt * table[s + c];
        }
      }
    }
  }
  return out;
}
