// The gemm family auto (cuda/gemm_auto.cu): it times its candidates once per kind of problem and
// reports what it measured, later calls of the kind run the pick without timing again, every
// timed run sees the caller's C (beta = 1, or C as the residual: the result is one application,
// not several), CONVMAE_GEMM_AUTO chooses the candidates (a change times every kind again; bad
// names are refused naming the variable), and results match the CPU. Its results on every problem
// and epilogue are also checked beside the other families in gemm_epilogue and core_cuda.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { backends, gemmAutoChoices, kernels, setKernel } from '../../lib/backends';
import { native } from '../../lib/binding';
import { tidy } from '../../lib/tensor/scope';
import { tensor } from '../../lib/tensor/tensor';
import { relL2 } from '../helpers/close';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { randn } from '../helpers/gradcheck';

/** The candidates in force: CONVMAE_GEMM_AUTO as this process started (bench/gpu-check.sh sets it to
 *  the kernels that passed its smoke checks), else the card's default list. */
const given = process.env.CONVMAE_GEMM_AUTO;
const candidates = () => (given ? [...new Set(given.split(','))] : backends().cuda.wgmma ? ['wgmma', 'tma', 'tma:4', 'tma:5'] : ['mma']);

/** C = A·Bᵀ + beta·C0 + bias (+ C0 again as the residual, C itself, where residualIsC) on a device in
 *  `dtype`, as float64 on the host. */
function gemm(device: 'cpu' | 'cuda', dtype: 'float32' | 'bfloat16', m: number, n: number, k: number, beta: number, seed: number,
  residualIsC = false): Float64Array {
  return tidy(() => {
    const put = (len: number, s: number) => {
      const t = tensor(new Float32Array(randn(len, s)), [len], { device });
      return dtype === 'float32' ? t : t.cast('bfloat16');
    };
    const c = put(m * n, seed + 3);
    native.gemm(c.handle(), put(m * k, seed).handle(), put(n * k, seed + 1).handle(), put(n, seed + 2).handle(), m, n, k, false, true,
      1, beta, 1, 0, 0, 0, residualIsC ? c.handle() : null, null, null);
    return Float64Array.from(c.toFloat32Array());
  });
}

describe.skipIf(!cudaUsable)(`gemm family auto ${cudaSkipReason}`, () => {
  const before = kernels().gemm;
  beforeAll(() => setKernel('gemm', 'auto'));
  afterEach(() => {
    if (given === undefined) delete process.env.CONVMAE_GEMM_AUTO;
    else process.env.CONVMAE_GEMM_AUTO = given;
    gemmAutoChoices({ reset: true });
  });
  afterAll(() => setKernel('gemm', before));

  it('times each candidate once per kind of problem, reports the times and the pick, and reuses the pick', () => {
    gemmAutoChoices({ reset: true });
    gemm('cuda', 'bfloat16', 96, 64, 80, 0, 1);
    let choices = gemmAutoChoices();
    expect(choices.length).toBe(1);
    const [c] = choices;
    expect(c.problem).toBe('96x80x64 NT +bias');
    expect(c.candidates).toEqual(candidates());
    expect(c.ms.every((t) => t !== null && t >= 0)).toBe(true);
    const best = Math.min(...c.ms.map((t) => t as number));
    expect(c.ms[c.candidates.indexOf(c.pick)]).toBe(best);

    gemm('cuda', 'bfloat16', 96, 64, 80, 0, 2); // the same kind: no new timing
    choices = gemmAutoChoices();
    expect(choices.length).toBe(1);
    expect(choices[0].ms).toEqual(c.ms);
    gemm('cuda', 'bfloat16', 96, 64, 80, 1, 3); // beta != 0 is another kind
    gemm('cuda', 'bfloat16', 48, 64, 80, 0, 4); // so is another M
    expect(gemmAutoChoices().map((x) => x.problem)).toEqual(['96x80x64 NT +bias', '96x80x64 NT +bias +beta', '48x80x64 NT +bias']);
  });

  it('matches the CPU, and with beta = 1 gives one application whatever the number of timed runs', () => {
    for (const beta of [0, 1]) {
      const seed = 10 + beta;
      gemmAutoChoices({ reset: true });
      const cpu = gemm('cpu', 'float32', 136, 72, 200, beta, seed);
      for (let call = 0; call < 2; call++) { // the first call times the candidates, the second runs the pick
        const gpu = gemm('cuda', 'float32', 136, 72, 200, beta, seed);
        expect(relL2(gpu, cpu), `float32, beta ${beta}, call ${call}`).toBeLessThanOrEqual(1e-5);
        const bf = gemm('cuda', 'bfloat16', 136, 72, 200, beta, seed);
        expect(relL2(bf, cpu), `bfloat16, beta ${beta}, call ${call}`).toBeLessThanOrEqual(2e-2);
      }
    }
  });

  it('puts C back before each timed run where C is also the residual (an in-place residual add)', () => {
    const once = (() => { setKernel('gemm', 'wgmma'); try { return gemm('cuda', 'bfloat16', 136, 72, 200, 1, 30); } finally { setKernel('gemm', 'auto'); } })();
    gemmAutoChoices({ reset: true });
    const inPlace = gemm('cuda', 'bfloat16', 136, 72, 200, 0, 30, true); // A·Bᵀ + bias + C0, as beta = 1 gives it
    expect(gemmAutoChoices()[0].problem).toBe('136x200x72 NT +bias +res');
    expect(relL2(inPlace, once)).toBeLessThanOrEqual(1e-2);
  });

  it('takes its candidates from CONVMAE_GEMM_AUTO, times every kind again when it changes, and refuses bad names', () => {
    const [first, second = first] = candidates();
    process.env.CONVMAE_GEMM_AUTO = first;
    gemm('cuda', 'bfloat16', 64, 64, 64, 0, 20);
    expect(gemmAutoChoices().map((c) => [c.candidates, c.pick])).toEqual([[[first], first]]);
    process.env.CONVMAE_GEMM_AUTO = `${second},${first},${second}`;
    gemm('cuda', 'bfloat16', 64, 64, 64, 0, 21);
    expect(gemmAutoChoices().map((c) => c.candidates)).toEqual([[...new Set([second, first])]]);
    for (const [bad, why] of [['cublas', /`cublas` is not a gemm family/], ['mma:x', /no tiling number/], ['mma,', /separated by commas/],
      ['mma:9', /this build has no `mma:9`/]] as const) {
      process.env.CONVMAE_GEMM_AUTO = bad;
      expect(() => gemm('cuda', 'bfloat16', 64, 64, 64, 0, 22), bad).toThrow(why);
    }
    if (!backends().cuda.wgmma) {
      process.env.CONVMAE_GEMM_AUTO = 'tma';
      expect(() => gemm('cuda', 'bfloat16', 64, 64, 64, 0, 23)).toThrow(/`tma` needs a Hopper GPU/);
    }
  });
});
