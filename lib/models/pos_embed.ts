// Fixed 2-D sin-cos position embedding (SPEC.md §2.6): for width D and grid G, dims [0, D/4) hold
// sin of the column coordinate, [D/4, D/2) its cos, then sin and cos of the row coordinate, with
// frequencies 10000^(-m/(D/4)). Computed in float64; no class-token row.
export function sincosPosEmbed(dim: number, grid: number): Float64Array {
  if (!Number.isInteger(dim) || dim % 4 !== 0 || dim <= 0) throw new RangeError(`sincosPosEmbed: width ${dim} must be a positive multiple of 4`);
  const q = dim / 4;
  const out = new Float64Array(grid * grid * dim);
  for (let n = 0; n < grid * grid; n++) {
    const i = Math.floor(n / grid), j = n % grid;
    for (let m = 0; m < q; m++) {
      const w = 1 / 10000 ** (m / q);
      out[n * dim + m] = Math.sin(j * w);
      out[n * dim + q + m] = Math.cos(j * w);
      out[n * dim + 2 * q + m] = Math.sin(i * w);
      out[n * dim + 3 * q + m] = Math.cos(i * w);
    }
  }
  return out;
}
