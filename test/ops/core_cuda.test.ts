// The CUDA gemm (tensor-core path and plain path), elementwise, reduction, fill and cast kernels
// against the CPU ones on fresh random inputs every run (the seed is in each label), by the rule
// of test/helpers/cuda_compare.ts: float32 within relative L2 1e-5; bfloat16 within twice the error
// of the float32 CPU op on bf16-rounded inputs with its output rounded, plus one bf16 step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { backends, kernels, setKernel } from '../../lib/backends';
import { native } from '../../lib/binding';
import { backward, requireGrad } from '../../lib/autograd/tape';
import { linear } from '../../lib/ops/linear';
import { tidy } from '../../lib/tensor/scope';
import { empty, tensor } from '../../lib/tensor/tensor';
import type { Device } from '../../lib/tensor/device';
import { relL2 } from '../helpers/close';
import { Run, expectParity, freshSeed, hostF, put, rand32 } from '../helpers/cuda_compare';
import { cudaSkipReason, cudaUsable, shortLastWaveShapes } from '../helpers/devices';

describe.skipIf(!cudaUsable)(`gemm (cuda) ${cudaSkipReason}`, () => {
  const gemmRun = (m: number, n: number, k: number, ta: boolean, tb: boolean, batch: number, bias: boolean, alpha: number, beta: number): Run =>
    (device, mode, [A, B, BIAS, C0]) => tidy(() => {
      const c = put(C0, [batch * m * n], device, mode);
      native.gemm(c.handle(), put(A, [A.length], device, mode).handle(), put(B, [B.length], device, mode).handle(),
        bias ? put(BIAS, [n], device, mode).handle() : null, m, n, k, ta, tb, alpha, beta, batch, m * k, k * n, m * n);
      return [hostF(c)];
    });

  // [m, n, k, batch]: the tensor-core path (extents multiples of 8) with partial tiles in every
  // dimension, exact tiles, K shorter than one 32-step, a long K, a split K (few tiles, K >= 1024:
  // 5 slices, the last one partial), an odd N (element-wise epilogue where B is [N, K]), a split
  // K with N not a multiple of 8, batches, several 128x128 tiles with partial ones in M and N, a
  // K that is no multiple of 8 (tensor cores only where A is [K, M] and B is [K, N]);
  // then the plain path (odd extents) and a shape where only one operand is aligned. Each runs
  // with each tensor-core family (wgmma runs where the GPU is Hopper; elsewhere it is wmma too).
  const shapes = [[200, 136, 72, 1], [128, 128, 64, 1], [33, 40, 8, 1], [64, 256, 1000, 1], [136, 40, 2600, 1], [16, 13, 24, 1],
    [24, 20, 1032, 1], [7, 24, 48, 3], [130, 8, 16, 2], [300, 392, 200, 1], [64, 40, 27, 2], [17, 33, 9, 1], [5, 100, 1, 2], [40, 17, 24, 1]];
  it('has the wgmma GEMM on a Hopper GPU, so the wgmma family below runs it and not the wmma fallback', () => {
    const b = backends().cuda;
    if (b.computeCapability === '9.0') expect(b.wgmma, `${b.name}: sm_90a code in the addon and the device probe`).toBe(true);
    else expect(b.wgmma, `${b.name} is sm_${b.computeCapability}: no wgmma`).toBe(false);
  });

  it.skipIf(!backends().cuda.gemmSweep)('refuses a tiling variable that names no tiling of its family, naming it (sweep builds)', () => {
    const before = kernels().gemm, seed = freshSeed();
    const inputs = [rand32(64 * 64, seed), rand32(64 * 64, seed + 1), rand32(64, seed + 2), rand32(64 * 64, seed + 3)];
    const cases = [['wgmma', 'CONVMAE_WGMMA_TILE', '5', 4], ['tma', 'CONVMAE_TMA_TILE', '8', 7], ['mma', 'CONVMAE_GEMM_TILE', 'x', 3]] as const;
    for (const [family, env, bad, max] of cases) {
      if (family !== 'mma' && !backends().cuda.wgmma) continue;
      const given = process.env[env];
      try {
        setKernel('gemm', family);
        process.env[env] = bad;
        expect(() => gemmRun(64, 64, 64, false, true, 1, true, 1, 0)('cuda', 'bfloat16', inputs), family)
          .toThrow(new RegExp(`gemm: ${env} must be a tiling from 0 to ${max}, not '${bad}'`));
        process.env[env] = '';
        expect(gemmRun(64, 64, 64, false, true, 1, true, 1, 0)('cuda', 'bfloat16', inputs)[0].length, `${family}, ${env} empty`).toBe(64 * 64);
      } finally {
        setKernel('gemm', before);
        if (given === undefined) delete process.env[env];
        else process.env[env] = given;
      }
    }
  });

  describe.each(['wgmma', 'tma', 'mma', 'wmma', 'auto'] as const)('gemm kernel family %s', (family) => {
    const before = kernels().gemm;
    beforeAll(() => setKernel('gemm', family));
    afterAll(() => setKernel('gemm', before));
    it.each(shapes)('m=%i n=%i k=%i batch=%i in all transpose forms', (m, n, k, batch) => {
      for (const ta of [false, true]) for (const tb of [false, true]) {
        const seed = freshSeed();
        const A = rand32(batch * m * k, seed), B = rand32(batch * k * n, seed + 1), BIAS = rand32(n, seed + 2), C0 = rand32(batch * m * n, seed + 3);
        expectParity(`gemm ${family} ta=${ta} tb=${tb} (seed ${seed})`, gemmRun(m, n, k, ta, tb, batch, true, 1, 0), [A, B, BIAS, C0], ['c']);
        expectParity(`gemm ${family} alpha/beta ta=${ta} tb=${tb} (seed ${seed})`, gemmRun(m, n, k, ta, tb, batch, false, 0.5, 1), [A, B, BIAS, C0], ['c']);
      }
    });
    it('batches that share one operand (stride 0: A for every batch, then B), in all transpose forms', () => {
      const [m, n, k, batch] = [136, 72, 96, 3];
      for (const shared of ['a', 'b'] as const) for (const ta of [false, true]) for (const tb of [false, true]) {
        const seed = freshSeed(), sa = shared === 'a' ? 0 : m * k, sb = shared === 'b' ? 0 : k * n;
        const A = rand32(shared === 'a' ? m * k : batch * m * k, seed), B = rand32(shared === 'b' ? k * n : batch * k * n, seed + 1);
        const BIAS = rand32(n, seed + 2), C0 = rand32(batch * m * n, seed + 3);
        const run: Run = (device, mode, [a, b, bias, c0]) => tidy(() => {
          const c = put(c0, [batch * m * n], device, mode);
          native.gemm(c.handle(), put(a, [a.length], device, mode).handle(), put(b, [b.length], device, mode).handle(),
            put(bias, [n], device, mode).handle(), m, n, k, ta, tb, 1, 0, batch, sa, sb, m * n);
          return [hostF(c)];
        });
        expectParity(`gemm ${family} shared ${shared} ta=${ta} tb=${tb} (seed ${seed})`, run, [A, B, BIAS, C0], ['c']);
      }
    });
    it.each(shortLastWaveShapes())('m=%i n=%i k=%i: the rows of a short last wave split in K, in all transpose forms', (m, n, k) => {
      for (const ta of [false, true]) for (const tb of [false, true]) {
        const seed = freshSeed();
        const A = rand32(m * k, seed), B = rand32(k * n, seed + 1), BIAS = rand32(n, seed + 2), C0 = rand32(m * n, seed + 3);
        expectParity(`gemm ${family} short last wave ta=${ta} tb=${tb} (seed ${seed})`, gemmRun(m, n, k, ta, tb, 1, true, 0.5, 1), [A, B, BIAS, C0], ['c']);
      }
    });
  });

  it('linear forward and backward through the tape on cuda in bf16 match the CPU in float32', () => {
    const seed = freshSeed(), rows = 300, inF = 96, outF = 160;
    const X = rand32(rows * inF, seed), W = rand32(outF * inF, seed + 1, 0.1), B = rand32(outF, seed + 2), DY = rand32(rows * outF, seed + 3);
    const run = (device: Device, dtype: 'float32' | 'bfloat16') => tidy(() => {
      const mk = (d: Float64Array, s: number[]) => requireGrad(put(d, s, device, dtype));
      const x = mk(X, [rows, inF]), w = mk(W, [outF, inF]), b = mk(B, [outF]);
      const y = linear(x, w, b, { gelu: true });
      backward(y, put(DY, [rows, outF], device, dtype));
      return [hostF(y), hostF(x.grad!), hostF(w.grad!), hostF(b.grad!)];
    });
    const cpu = run('cpu', 'float32'), gpu = run('cuda', 'bfloat16');
    // bf16 storage of every operand and output: each result is within a few bf16 steps (2^-8).
    ['y', 'dx', 'dw', 'db'].forEach((name, i) => expect(relL2(gpu[i], cpu[i]), `${name} (seed ${seed})`).toBeLessThanOrEqual(2e-2));
  });
});

describe.skipIf(!cudaUsable)(`elementwise, sum, fill and cast (cuda) ${cudaSkipReason}`, () => {
  it.each([[1, 1], [37, 1], [1000, 3], [4096, 96], [100003, 7]])('binary ops with b tiled over a: %i x %i', (rows, cols) => {
    const seed = freshSeed();
    const A = rand32(rows * cols, seed), B = rand32(cols, seed + 1, 1, 3); // b away from 0 for div
    for (const kind of [0, 1, 2, 3]) {
      const run: Run = (device, mode, [a, b]) => tidy(() => {
        const out = empty([rows * cols], { device, dtype: mode });
        native.binary(kind, out.handle(), put(a, [a.length], device, mode).handle(), put(b, [b.length], device, mode).handle());
        return [hostF(out)];
      });
      expectParity(`binary ${kind} (seed ${seed})`, run, [A, B], ['out']);
    }
  });

  // [3001, 264]: the 8-column path (cols % 8 == 0) with a partial 256-column tile, many chunks, and
  // rows that are no multiple of the 4x8 rows a lane reads per step; [20000, 96]: 313 chunks, so
  // each of the final sum's 8 lanes adds ~39 of them
  it.each([[1, 1], [3, 5], [64, 768], [1000, 3], [5, 70000], [3001, 264], [20000, 96]])('sum over either axis and scale: %i x %i', (rows, cols) => {
    const seed = freshSeed();
    const X = rand32(rows * cols, seed), O = rand32(Math.max(rows, cols), seed + 1);
    for (const axis of [0, 1]) for (const accumulate of [false, true]) {
      const outN = axis === 0 ? cols : rows;
      const run: Run = (device, mode, [x, o]) => tidy(() => {
        const out = put(o.subarray(0, outN), [outN], device, mode);
        native.sum(out.handle(), put(x, [x.length], device, mode).handle(), rows, cols, axis, 0.5, accumulate);
        return [hostF(out)];
      });
      expectParity(`sum axis ${axis} accumulate ${accumulate} (seed ${seed})`, run, [X, O], ['out']);
    }
    const scaleRun: Run = (device, mode, [x]) => tidy(() => {
      const out = empty([x.length], { device, dtype: mode });
      native.scale(out.handle(), put(x, [x.length], device, mode).handle(), -1.5, 0.25);
      return [hostF(out)];
    });
    expectParity(`scale (seed ${seed})`, scaleRun, [X], ['out']);
  });

  it('fill and casts between float32 and bfloat16 agree with the CPU bit for bit', () => {
    const seed = freshSeed();
    tidy(() => {
      for (const n of [5000, 5001]) { // 8-wide and element-wise paths
        const X = rand32(n, seed, 100);
        const f = tensor(X, [n], { dtype: 'float32', device: 'cuda' });
        const viaGpu = f.cast('bfloat16').cast('float32').toFloat32Array();
        const viaCpu = tensor(X, [n], { dtype: 'float32' }).cast('bfloat16').cast('float32').toFloat32Array();
        expect(Array.from(viaGpu), `n=${n} (seed ${seed})`).toEqual(Array.from(viaCpu));
      }
      const filled = empty([1000], { device: 'cuda', dtype: 'bfloat16' });
      native.fill(filled.handle(), 0.1);
      expect(Array.from(new Set(filled.toFloat32Array()))).toEqual([Array.from(tensor([0.1], [1]).cast('bfloat16').toFloat32Array())[0]]);
    });
  });
});

describe.skipIf(!cudaUsable)(`index checks on cuda ${cudaSkipReason}`, () => {
  // Index buffers are checked on the host from the values last uploaded; a device-side write must
  // make the check read the device again, so a bad index written there is still refused.
  it('see indices written on the device by fill, copy, copyRows and cast', () => {
    tidy(() => {
      const x = tensor(rand32(4 * 3, freshSeed()), [4, 3], { dtype: 'float32', device: 'cuda' });
      const out = empty([2, 3], { device: 'cuda' });
      const gather = (idx: ReturnType<typeof tensor>) => native.gatherRows(out.handle(), x.handle(), idx.handle(), 2, 4, 3);
      const writes: [string, (idx: ReturnType<typeof tensor>) => void][] = [
        ['fill', (idx) => native.fill(idx.handle(), 7)],
        ['copy', (idx) => native.copy(idx.handle(), tensor(new Int32Array([1, 9]), [2], { dtype: 'int32', device: 'cuda' }).handle())],
        ['copyRows', (idx) => native.copyRows(idx.handle(), 1, tensor(new Int32Array([-1]), [1], { dtype: 'int32', device: 'cuda' }).handle(), 0, 1, 1)],
        ['cast', (idx) => native.cast(idx.handle(), tensor([2, 40], [2], { dtype: 'float32', device: 'cuda' }).handle())],
      ];
      for (const [name, write] of writes) {
        const idx = tensor(new Int32Array([0, 3]), [2], { dtype: 'int32', device: 'cuda' });
        gather(idx);
        write(idx);
        expect(() => gather(idx), name).toThrow(/gatherRows: `idx`\[\d\] = -?\d+ is outside \[0, 4\)/);
      }
    });
  });
});
