// bench/gemm_pick.ts: the candidates it accepts (a gemm family, family:tiling of a sweep build, or auto)
// and the ones it refuses by name before timing anything.
import { describe, expect, it } from 'vitest';

import { parseCandidate } from '../../bench/gemm_pick';
import { backends } from '../../lib/backends';

describe('gemm_pick candidates', () => {
  it('takes a family as its tiling 0 and refuses unknown families, tilings past the family\'s and malformed names', () => {
    expect(parseCandidate('wgmma')).toEqual({ family: 'wgmma', tiling: 0 });
    expect(parseCandidate('tma:0')).toEqual({ family: 'tma', tiling: 0 });
    expect(parseCandidate('auto')).toEqual({ family: 'auto', tiling: 0 });
    expect(() => parseCandidate('auto:1')).toThrow(/but got auto:1/);
    expect(() => parseCandidate('cublas')).toThrow(/expected a gemm family .* but got cublas/);
    expect(() => parseCandidate('tma:8')).toThrow(/but got tma:8/);
    expect(() => parseCandidate('tma:x')).toThrow(/but got tma:x/);
    expect(() => parseCandidate('tma:1:2')).toThrow(/but got tma:1:2/);
  });

  it('takes family:tiling only from an addon built with CONVMAE_GEMM_SWEEP=1', () => {
    if (backends().cuda.gemmSweep) expect(parseCandidate('tma:4')).toEqual({ family: 'tma', tiling: 4 });
    else expect(() => parseCandidate('tma:4')).toThrow(/tma:4 needs an addon built with CONVMAE_GEMM_SWEEP=1/);
  });
});
