// The tile rearrangements (rowsToPatches, imageToRows, patchify, rowsToMap) against plain-TS
// references of their formulas, gradients by finite differences, and bad arguments throwing; on a
// GPU, the CUDA kernels against the CPU ones.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { preset } from '../../lib/models/config';
import { ConvViT } from '../../lib/models/convvit';
import { backward, requireGrad } from '../../lib/autograd/tape';
import { imageToRows, patchify, rowsToMap, rowsToPatches } from '../../lib/ops/patches';
import { disposeLayout, fullLayout, makeVisibleLayout } from '../../lib/ops/visible_layout';
import { tidy } from '../../lib/tensor/scope';
import { empty, liveTensorCount, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import type { Device } from '../../lib/tensor/device';
import { expectClose, relL2 } from '../helpers/close';
import { randomCells } from '../helpers/cells';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { type Mode, freshSeed, rand32, roundBf16, put, hostF, firstDiff } from '../helpers/cuda_compare';

const DTYPES: DType[] = ['float32', 'float64'];
const host = (t: Tensor) => Float64Array.from(t.toTypedArray() as Float64Array);
const round = (a: Float64Array, dtype: DType) => (dtype === 'float32' ? Float64Array.from(new Float32Array(a)) : a);
const H = (t: Tensor) => t.handle();

/** Map position (y, x) of row r: sample n = floor(r / (k t²)), slot cell from cells. */
function rowPos(r: number, k: number, g: number, t: number, cells: Int32Array): { n: number; y: number; x: number } {
  const ns = Math.floor(r / (t * t)), d = r % (t * t), cell = cells[ns];
  return { n: Math.floor(ns / k), y: Math.floor(cell / g) * t + Math.floor(d / t), x: (cell % g) * t + (d % t) };
}

describe('visible layout', () => {
  it('builds the slot table from ids_keep, and the full layout in raster order', () => {
    const l = makeVisibleLayout(Int32Array.from([5, 0, 2, 1, 3, 8]), 2, 3, 3, 'cpu');
    expect([l.n, l.k, l.g]).toEqual([2, 3, 3]);
    expect(Array.from(l.cells.toTypedArray() as Int32Array)).toEqual([5, 0, 2, 1, 3, 8]);
    expect(Array.from(l.table.toTypedArray() as Int32Array)).toEqual([1, -1, 2, -1, -1, 0, -1, -1, -1, -1, 0, -1, 1, -1, -1, -1, -1, 2]);
    disposeLayout(l);
    disposeLayout(l);
    expect(l.cells.disposed && l.table.disposed).toBe(true);
    const f = fullLayout(2, 2, 'cpu');
    expect([f.n, f.k, f.g]).toEqual([2, 4, 2]);
    expect(Array.from(f.cells.toTypedArray() as Int32Array)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(Array.from(f.table.toTypedArray() as Int32Array)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    disposeLayout(f);
    // ordered: every cell kept in raster order; not when masked or when all kept but shuffled
    expect([l.ordered, f.ordered]).toEqual([false, true]);
    const all = makeVisibleLayout(Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), 2, 4, 2, 'cpu');
    const shuffled = makeVisibleLayout(Int32Array.from([0, 1, 2, 3, 1, 0, 2, 3]), 2, 4, 2, 'cpu');
    expect([all.ordered, shuffled.ordered]).toEqual([true, false]);
    [all, shuffled].forEach(disposeLayout);
  });

  it('adds the position table the same way whether the layout is ordered or gathered', () => {
    // ConvViT's stages over the ordered full layout (the table added to each sample as it is)
    // against the same layout marked unordered (the table's rows gathered), values and gradients.
    const m = new ConvViT(preset('tiny', { imgSize: 32, numClasses: 3 }), { seed: 4 });
    const params = m.namedParameters();
    const imgs = randn(2 * 3 * 32 * 32, 9);
    const run = (ordered: boolean) => tidy(() => {
      const full = fullLayout(2, 2, 'cpu');
      const layout = { ...full, ordered };
      const tokens = m.stages(tensor(imgs, [2, 3, 32, 32], { dtype: 'float32' }), layout).tokens;
      const cot = tensor(randn(tokens.numel, 10), tokens.shape, { dtype: 'float32' });
      backward(tokens, cot);
      // the parameters of the stages (fc_norm and head take no gradient here)
      const out = [tokens, ...params.map(([, t]) => t.grad)].map((t) => (t ? Float64Array.from(t.toFloat32Array()) : new Float64Array()));
      m.zeroGrad();
      disposeLayout(full);
      return out;
    });
    const a = run(true), b = run(false);
    expect(a[0]).toEqual(b[0]); // the same additions
    expect(a.filter((g) => g.length).length).toBeGreaterThan(20);
    params.forEach(([name], i) => expectClose(a[i + 1], b[i + 1], { atol: 1e-6, rtol: 1e-5 }, name));
    m.dispose();
  });

  it('rejects bad cells and sizes', () => {
    const before = liveTensorCount('cpu');
    expect(() => makeVisibleLayout(Int32Array.from([0, 9]), 1, 2, 3, 'cpu')).toThrow(/makeVisibleLayout.*cells\[1\]/);
    expect(() => makeVisibleLayout(Int32Array.from([-1, 2]), 1, 2, 3, 'cpu')).toThrow(RangeError);
    expect(() => makeVisibleLayout(Int32Array.from([4, 4]), 1, 2, 3, 'cpu')).toThrow(/twice/);
    expect(() => makeVisibleLayout(Int32Array.from([1, 2, 3]), 1, 2, 3, 'cpu')).toThrow(/n\*k/);
    expect(() => makeVisibleLayout([0, 1] as unknown as Int32Array, 1, 2, 3, 'cpu')).toThrow(/Int32Array/);
    expect(() => makeVisibleLayout(Int32Array.from([0, 1]), 1, 2, 1, 'cpu')).toThrow(RangeError);
    expect(() => makeVisibleLayout(Int32Array.from([0, 1]), 1, 2, 3, 'gpu' as never)).toThrow(TypeError);
    expect(() => fullLayout(1, 0, 'cpu')).toThrow(RangeError);
    expect(liveTensorCount('cpu')).toBe(before);
  });
});

describe('rowsToPatches (cpu)', () => {
  it.each([[1, 4, 2, 3], [3, 4, 4, 2], [2, 2, 2, 5], [5, 4, 1, 3], [2, 6, 3, 7], [1, 1, 1, 1]])(
    'blocks=%i t=%i k=%i C=%i follows the formula', (blocks, t, k, c) => {
      for (const dtype of DTYPES) {
        tidy(() => {
          const X = round(randn(blocks * t * t * c, blocks + t + k + c), dtype);
          const out = rowsToPatches(tensor(X, [blocks * t * t, c], { dtype }), t, k);
          const q = t / k;
          expect(out.shape).toEqual([blocks * q * q, c * k * k]);
          const want = new Float64Array(X.length);
          for (let b = 0; b < blocks; b++) for (let py = 0; py < q; py++) for (let px = 0; px < q; px++)
            for (let ch = 0; ch < c; ch++) for (let a = 0; a < k; a++) for (let bb = 0; bb < k; bb++) {
              want[((b * q + py) * q + px) * c * k * k + ch * k * k + a * k + bb] = X[((b * t + py * k + a) * t + px * k + bb) * c + ch];
            }
          expect(host(out)).toEqual(want);
        });
      }
    });

  it('gradients by finite differences', () => {
    for (const [blocks, t, k, c] of [[2, 4, 2, 3], [1, 2, 2, 3], [3, 2, 1, 2]]) {
      gradcheck((x) => rowsToPatches(x, t, k), [{ data: randn(blocks * t * t * c, 9), shape: [blocks * t * t, c] }]);
    }
  });

  it('bad arguments throw', () => {
    tidy(() => {
      const x = tensor(randn(2 * 16 * 3, 1), [32, 3], { dtype: 'float32' });
      expect(() => rowsToPatches(x, 4, 3)).toThrow(/rowsToPatches.*divisor/);
      expect(() => rowsToPatches(x, 4, 8)).toThrow(RangeError);
      expect(() => rowsToPatches(x, 0, 1)).toThrow(RangeError);
      expect(() => rowsToPatches(x, 3, 1)).toThrow(/rowsToPatches.*blocks/);
      expect(() => rowsToPatches(x.reshape([96]), 4, 2)).toThrow(RangeError);
      expect(() => rowsToPatches(x.cast('int32'), 4, 2)).toThrow(TypeError);
      expect(() => rowsToPatches('x' as unknown as Tensor, 4, 2)).toThrow(TypeError);
      const dead = x.clone();
      dead.dispose();
      expect(() => rowsToPatches(dead, 4, 2)).toThrow(/rowsToPatches.*dispose/);
      const out = zeros([8, 12]);
      native.rowsToPatches(H(out), H(x), 2, 4, 2, 3);
      expect(() => native.rowsToPatches(H(out), H(x), 3, 4, 2, 3)).toThrow(RangeError);
      expect(() => native.rowsToPatches(H(out), H(x), 2, 4, 3, 3)).toThrow(/multiple/);
      expect(() => native.rowsToPatches(H(out), H(x), 2, 4, 0, 3)).toThrow(RangeError);
      expect(() => native.rowsToPatches(H(out), H(out), 2, 4, 2, 3)).toThrow(/different tensors/);
      expect(() => native.rowsToPatches(H(out), H(x.cast('float64')), 2, 4, 2, 3)).toThrow(TypeError);
      expect(() => native.patchesToRows(H(x), H(out.cast('int32')), 2, 4, 2, 3)).toThrow(TypeError);
      expect(() => native.patchesToRows(H(x), H(zeros([7, 12])), 2, 4, 2, 3)).toThrow(RangeError);
    });
  });
});

describe('imageToRows (cpu)', () => {
  it.each([[2, 3, 3, 2, 2, 2], [1, 5, 3, 4, 4, 3], [2, 9, 3, 4, 2, 1], [1, 4, 2, 1, 3, 2]])(
    'n=%i k=%i g=%i t=%i patch=%i C=%i follows the formula', (n, k, g, t, p, c) => {
      for (const dtype of DTYPES) {
        tidy(() => {
          const side = g * t * p;
          const cells = k === g * g ? (fullLayout(n, g, 'cpu').cells.toTypedArray() as Int32Array) : randomCells(n, k, g, k + p);
          const layout = makeVisibleLayout(cells, n, k, g, 'cpu');
          const img = round(randn(n * c * side * side, 4), dtype);
          const out = imageToRows(tensor(img, [n, c, side, side], { dtype }), layout, t);
          expect(out.shape).toEqual([n * k * t * t, c * p * p]);
          const want = new Float64Array(out.numel);
          for (let r = 0; r < n * k * t * t; r++) {
            const { n: i, y, x } = rowPos(r, k, g, t, cells);
            for (let ch = 0; ch < c; ch++) for (let a = 0; a < p; a++) for (let b = 0; b < p; b++) {
              want[r * c * p * p + ch * p * p + a * p + b] = img[((i * c + ch) * side + y * p + a) * side + x * p + b];
            }
          }
          expect(host(out)).toEqual(want);
          disposeLayout(layout);
        });
      }
    });

  it('records nothing, and bad arguments throw', () => {
    tidy(() => {
      const layout = makeVisibleLayout(Int32Array.from([3, 1]), 1, 2, 2, 'cpu');
      const img = requireGrad(tensor(randn(3 * 16 * 16, 2), [1, 3, 16, 16], { dtype: 'float32' }));
      const before = liveTensorCount('cpu');
      const rows = imageToRows(img, layout, 4);
      expect(rows.shape).toEqual([32, 12]);
      expect(() => backward(rows, zeros(rows.shape))).not.toThrow();
      expect(img.grad).toBeNull();
      rows.dispose();
      expect(liveTensorCount('cpu')).toBe(before + 1); // the zeros above, freed by tidy
      expect(() => imageToRows(img, layout, 3)).toThrow(/imageToRows.*multiple/);
      expect(() => imageToRows(tensor(randn(3 * 16 * 8, 2), [1, 3, 16, 8]), layout, 4)).toThrow(RangeError);
      expect(() => imageToRows(tensor(randn(2 * 3 * 256, 2), [2, 3, 16, 16]), layout, 4)).toThrow(RangeError);
      expect(() => imageToRows(img.reshape([3, 16, 16]), layout, 4)).toThrow(RangeError);
      expect(() => imageToRows(img.cast('int32'), layout, 4)).toThrow(TypeError);
      expect(() => imageToRows(img, { ...layout, cells: 'x' } as never, 4)).toThrow(/imageToRows.*layout/);
      const out = zeros([32, 12]);
      const call = (cells: Tensor, o = out, i: Tensor = img) => native.imageToRows(H(o), H(i), H(cells), 1, 2, 2, 4, 3, 16, 16);
      call(layout.cells);
      expect(() => call(tensor([3, 4], [2], { dtype: 'int32' }))).toThrow(/imageToRows.*cells.*outside/);
      expect(() => call(tensor([1, 1], [2], { dtype: 'int32' }))).toThrow(/twice/);
      expect(() => call(tensor([1, 1, 2], [3], { dtype: 'int32' }))).toThrow(RangeError);
      expect(() => call(tensor([1, 2], [2], { dtype: 'float32' }))).toThrow(TypeError);
      expect(() => call(layout.cells, zeros([32, 11]))).toThrow(RangeError);
      expect(() => call(layout.cells, out, img.cast('float64'))).toThrow(TypeError);
      expect(() => native.imageToRows(H(out), H(img), H(layout.cells), 1, 2, 2, 4, 3, 16, 12)).toThrow(/square/);
      expect(() => native.imageToRows(H(out), H(img), H(layout.cells), 1, 2, 2, 0, 3, 16, 16)).toThrow(RangeError);
      expect(() => native.imageToRows(H(out), H(img), H(layout.cells), 1, 5, 2, 4, 3, 16, 16)).toThrow(RangeError);
      disposeLayout(layout);
    });
  });
});

describe('patchify (cpu)', () => {
  it.each([[2, 3, 8, 8, 4], [1, 3, 32, 32, 16], [2, 2, 6, 9, 3], [1, 1, 5, 5, 1]])('n=%i C=%i %ix%i p=%i follows SPEC §2.10', (n, c, h, w, p) => {
    for (const dtype of DTYPES) {
      tidy(() => {
        const img = round(randn(n * c * h * w, h + p), dtype);
        const out = patchify(tensor(img, [n, c, h, w], { dtype }), p);
        const gw = w / p, L = (h / p) * gw;
        expect(out.shape).toEqual([n, L, p * p * c]);
        const want = new Float64Array(out.numel);
        for (let i = 0; i < n; i++) for (let l = 0; l < L; l++) for (let a = 0; a < p; a++) for (let b = 0; b < p; b++)
          for (let ch = 0; ch < c; ch++) {
            want[(i * L + l) * p * p * c + (a * p + b) * c + ch] = img[((i * c + ch) * h + Math.floor(l / gw) * p + a) * w + (l % gw) * p + b];
          }
        expect(host(out)).toEqual(want);
      });
    }
  });

  it('bad arguments throw', () => {
    tidy(() => {
      const img = tensor(randn(2 * 3 * 64, 1), [2, 3, 8, 8], { dtype: 'float32' });
      expect(() => patchify(img, 3)).toThrow(/patchify.*multiples/);
      expect(() => patchify(img, 0)).toThrow(RangeError);
      expect(() => patchify(img.reshape([6, 8, 8]), 4)).toThrow(RangeError);
      expect(() => patchify(img.cast('int32'), 4)).toThrow(TypeError);
      const out = zeros([2, 4, 48]);
      native.patchify(H(out), H(img), 2, 3, 8, 8, 4);
      expect(() => native.patchify(H(out), H(img), 2, 3, 8, 8, 3)).toThrow(RangeError);
      expect(() => native.patchify(H(out), H(img), 2, 3, 8, 16, 4)).toThrow(RangeError);
      expect(() => native.patchify(H(out), H(out), 2, 3, 8, 8, 4)).toThrow(/different tensors/);
      expect(() => native.patchify(H(out), H(img.cast('float64')), 2, 3, 8, 8, 4)).toThrow(TypeError);
      expect(() => native.patchify(H(out), null as never, 2, 3, 8, 8, 4)).toThrow(TypeError);
    });
  });
});

describe('rowsToMap (cpu)', () => {
  it.each([[2, 3, 3, 2, 3], [1, 9, 3, 4, 2], [3, 1, 2, 1, 4], [2, 7, 4, 2, 5]])('n=%i k=%i g=%i t=%i C=%i scatters into a zeroed map', (n, k, g, t, c) => {
    for (const dtype of DTYPES) {
      tidy(() => {
        const cells = randomCells(n, k, g, n + k + g);
        const layout = makeVisibleLayout(cells, n, k, g, 'cpu');
        const X = round(randn(n * k * t * t * c, 8), dtype);
        const out = rowsToMap(tensor(X, [n * k * t * t, c], { dtype }), layout, t);
        const S = g * t;
        expect(out.shape).toEqual([n, c, S, S]);
        const want = new Float64Array(out.numel);
        for (let r = 0; r < n * k * t * t; r++) {
          const { n: i, y, x } = rowPos(r, k, g, t, cells);
          for (let ch = 0; ch < c; ch++) want[((i * c + ch) * S + y) * S + x] = X[r * c + ch];
        }
        expect(host(out)).toEqual(want);
        disposeLayout(layout);
      });
    }
  });

  it('gradients by finite differences', () => {
    for (const [n, k, g, t, c] of [[2, 4, 3, 2, 3], [1, 9, 3, 2, 2], [1, 2, 3, 4, 2]]) {
      const layout = k === g * g ? fullLayout(n, g, 'cpu') : makeVisibleLayout(randomCells(n, k, g, 5), n, k, g, 'cpu');
      gradcheck((x) => rowsToMap(x, layout, t), [{ data: randn(n * k * t * t * c, 10), shape: [n * k * t * t, c] }]);
      disposeLayout(layout);
    }
  });

  it('bad arguments throw', () => {
    tidy(() => {
      const layout = makeVisibleLayout(Int32Array.from([0, 3, 2, 1]), 2, 2, 2, 'cpu');
      const x = tensor(randn(2 * 2 * 4 * 3, 1), [16, 3], { dtype: 'float32' });
      expect(rowsToMap(x, layout, 2).shape).toEqual([2, 3, 4, 4]);
      expect(() => rowsToMap(x, layout, 4)).toThrow(/rowsToMap/);
      expect(() => rowsToMap(x.reshape([48]), layout, 2)).toThrow(RangeError);
      expect(() => rowsToMap(x.cast('int32'), layout, 2)).toThrow(TypeError);
      const map = zeros([2, 3, 4, 4]);
      native.rowsToMap(H(map), H(x), H(layout.cells), 2, 2, 2, 2, 3);
      native.mapToRows(H(x), H(map), H(layout.cells), 2, 2, 2, 2, 3);
      expect(() => native.rowsToMap(H(map), H(x), H(tensor([0, 3, 2, 2], [4], { dtype: 'int32' })), 2, 2, 2, 2, 3)).toThrow(/twice/);
      expect(() => native.rowsToMap(H(map), H(x), H(tensor([0, 3, 2, 4], [4], { dtype: 'int32' })), 2, 2, 2, 2, 3)).toThrow(/outside/);
      expect(() => native.rowsToMap(H(map), H(x), H(layout.cells), 2, 2, 2, 2, 4)).toThrow(RangeError);
      expect(() => native.rowsToMap(H(map), H(x), H(layout.cells), 2, 5, 2, 2, 3)).toThrow(RangeError);
      expect(() => native.rowsToMap(H(map), H(x), H(layout.table), 2, 2, 2, 2, 3)).toThrow(/cells/);
      expect(() => native.mapToRows(H(x), H(x), H(layout.cells), 2, 2, 2, 2, 3)).toThrow(RangeError);
      expect(() => native.mapToRows(H(map), H(map), H(layout.cells), 2, 2, 2, 2, 3)).toThrow(RangeError);
      disposeLayout(layout);
    });
  });
});

// The CUDA twins against the CPU ops on fresh random inputs every run (the seed is in each label).
// Every op is a copy, so float32 results must equal the CPU's exactly, and bfloat16 ones (inputs
// cast on the device) must equal the CPU run on bf16-rounded inputs; the relative L2 checks of the
// conventions (float32 <= 1e-5; bf16 within twice the input-rounding error) follow from those.
describe.skipIf(!cudaUsable)(`tile rearrangements (cuda) ${cudaSkipReason}`, () => {
  const layouts = (cells: Int32Array, n: number, k: number, g: number) =>
    ({ cpu: makeVisibleLayout(cells, n, k, g, 'cpu'), cuda: makeVisibleLayout(cells, n, k, g, 'cuda') });

  /** op(input) on cpu and cuda in both modes; checks the four results against each other. */
  function parity(label: string, seed: number, data: Float64Array, shape: number[], op: (x: Tensor) => Tensor): void {
    const at = (d: Float64Array, device: Device, mode: Mode) => tidy(() => hostF(op(put(d, shape, device, mode))));
    const cpu = at(data, 'cpu', 'float32');
    const cpuRounded = at(roundBf16(data), 'cpu', 'float32');
    const gpu = at(data, 'cuda', 'float32');
    const bf = at(data, 'cuda', 'bfloat16');
    const what = `${label} (seed ${seed})`;
    expect(firstDiff(gpu, cpu), `float32 ${what}`).toBe(-1);
    expect(relL2(gpu, cpu), `float32 ${what}`).toBeLessThanOrEqual(1e-5);
    expect(firstDiff(bf, cpuRounded), `bfloat16 ${what}`).toBe(-1);
    expect(relL2(bf, cpu), `bfloat16 ${what}`).toBeLessThanOrEqual(2 * relL2(cpuRounded, cpu));
  }

  // C a multiple of 8 runs a warp per patch through shared memory (8 warps a block, fewer for big
  // patches: 1536 and 3072 channels; 4096 in float32 is over 48 KB and runs a thread per element)
  it.each([[3, 4, 2, 5], [2, 4, 4, 3], [5, 4, 1, 7], [1, 1, 1, 1], [7, 6, 3, 2], [392, 4, 2, 64], [0, 4, 2, 3], [3, 4, 2, 256],
    [5, 2, 2, 384], [2, 4, 4, 16], [7, 2, 1, 8], [3, 2, 2, 1536], [1, 2, 2, 3072], [1, 2, 2, 4096]])(
    'rowsToPatches and patchesToRows blocks=%i t=%i k=%i C=%i', (blocks, t, k, c) => {
      const seed = freshSeed(), q = t / k;
      parity('rowsToPatches', seed, rand32(blocks * t * t * c, seed), [blocks * t * t, c], (x) => rowsToPatches(x, t, k));
      parity('patchesToRows', seed, rand32(blocks * t * t * c, seed + 1), [blocks * q * q, c * k * k], (dout) => {
        const dx = empty([blocks * t * t, c], { dtype: dout.dtype, device: dout.device });
        native.patchesToRows(H(dx), H(dout), blocks, t, k, c);
        return dx;
      });
    });

  it.each([[2, 3, 3, 2, 2, 2], [1, 5, 3, 4, 4, 3], [2, 9, 3, 4, 2, 1], [2, 49, 14, 4, 4, 3], [2, 0, 3, 2, 2, 2]])(
    'imageToRows n=%i k=%i g=%i t=%i patch=%i C=%i', (n, k, g, t, p, c) => {
      const seed = freshSeed(), side = g * t * p;
      const ls = layouts(randomCells(n, k, g, seed), n, k, g);
      parity('imageToRows', seed, rand32(n * c * side * side, seed + 1), [n, c, side, side], (img) => imageToRows(img, ls[img.device], t));
      disposeLayout(ls.cpu);
      disposeLayout(ls.cuda);
    });

  it.each([[2, 3, 8, 8, 4], [1, 3, 32, 32, 16], [2, 2, 6, 9, 3], [1, 1, 5, 5, 1], [2, 3, 224, 224, 16], [0, 3, 8, 8, 4]])(
    'patchify n=%i C=%i %ix%i p=%i', (n, c, h, w, p) => {
      const seed = freshSeed();
      parity('patchify', seed, rand32(n * c * h * w, seed), [n, c, h, w], (img) => patchify(img, p));
    });

  it.each([[2, 3, 3, 2, 3], [1, 9, 3, 4, 2], [3, 1, 2, 1, 4], [2, 7, 4, 2, 5], [2, 49, 14, 2, 16], [2, 0, 3, 2, 3]])(
    'rowsToMap and mapToRows n=%i k=%i g=%i t=%i C=%i', (n, k, g, t, c) => {
      const seed = freshSeed(), S = g * t, rows = n * k * t * t;
      const ls = layouts(randomCells(n, k, g, seed), n, k, g);
      parity('rowsToMap', seed, rand32(rows * c, seed + 1), [rows, c], (x) => rowsToMap(x, ls[x.device], t));
      parity('mapToRows', seed, rand32(n * c * S * S, seed + 2), [n, c, S, S], (dout) => {
        const l = ls[dout.device];
        const dx = empty([rows, c], { dtype: dout.dtype, device: dout.device });
        native.mapToRows(H(dx), H(dout), H(l.cells), n, k, g, t, c);
        return dx;
      });
      disposeLayout(ls.cpu);
      disposeLayout(ls.cuda);
    });

  it('runs the gradients through the tape on cuda', () => {
    const seed = freshSeed(), n = 2, k = 5, g = 3, t = 4, c = 3, rows = n * k * t * t;
    const ls = layouts(randomCells(n, k, g, seed), n, k, g);
    const X = rand32(rows * c, seed + 1), D1 = rand32(rows * c, seed + 2), D2 = rand32(n * c * 12 * 12, seed + 3);
    const grads = (device: Device) => tidy(() => {
      const x = requireGrad(tensor(X, [rows, c], { dtype: 'float32', device }));
      backward(rowsToPatches(x, t, 2), tensor(D1, [rows / 4, c * 4], { dtype: 'float32', device }));
      const g1 = hostF(x.grad!);
      x.grad!.dispose();
      x.grad = null;
      backward(rowsToMap(x, ls[device], t), tensor(D2, [n, c, 12, 12], { dtype: 'float32', device }));
      const g2 = hostF(x.grad!);
      x.grad!.dispose();
      return [g1, g2];
    });
    expect(grads('cuda'), `seed ${seed}`).toEqual(grads('cpu'));
    disposeLayout(ls.cpu);
    disposeLayout(ls.cuda);
  });

  it('rejects device mixes, dtype mixes and bad cells before any kernel runs', () => {
    tidy(() => {
      const o = { dtype: 'float32' as const, device: 'cuda' as const };
      const i32 = (a: number[]) => tensor(Int32Array.from(a), [a.length], { dtype: 'int32', device: 'cuda' });
      const ls = layouts(Int32Array.from([0, 3, 2, 1]), 2, 2, 2);
      const x = tensor(randn(16 * 3, 1), [16, 3], o), map = empty([2, 3, 4, 4], o);
      native.rowsToMap(H(map), H(x), H(ls.cuda.cells), 2, 2, 2, 2, 3);
      expect(() => rowsToMap(x, ls.cpu, 2)).toThrow(/rowsToMap.*layout.*cpu/);
      expect(() => native.rowsToMap(H(map), H(x.to('cpu')), H(ls.cuda.cells), 2, 2, 2, 2, 3)).toThrow(/rowsToMap: `x` is on cpu but `out` is on cuda/);
      expect(() => native.rowsToMap(H(map), H(x), H(ls.cpu.cells), 2, 2, 2, 2, 3)).toThrow(/rowsToMap: `cells` is on cpu but the data is on cuda/);
      expect(() => native.rowsToMap(H(map), H(x), H(i32([0, 3, 2, 2])), 2, 2, 2, 2, 3)).toThrow(/rowsToMap.*twice/);
      expect(() => native.rowsToMap(H(map), H(x), H(i32([0, 3, 2, 4])), 2, 2, 2, 2, 3)).toThrow(/rowsToMap: `cells`\[3\] = 4 is outside/);
      expect(() => native.mapToRows(H(x), H(map), H(i32([-1, 3, 2, 1])), 2, 2, 2, 2, 3)).toThrow(RangeError);
      expect(() => native.rowsToMap(H(map), H(x.cast('bfloat16')), H(ls.cuda.cells), 2, 2, 2, 2, 3)).toThrow(TypeError);
      const img = tensor(randn(3 * 16 * 16, 2), [1, 3, 16, 16], o), rows = empty([32, 12], o);
      const one = makeVisibleLayout(Int32Array.from([3, 1]), 1, 2, 2, 'cuda');
      native.imageToRows(H(rows), H(img), H(one.cells), 1, 2, 2, 4, 3, 16, 16);
      expect(() => native.imageToRows(H(rows), H(img), H(i32([3, 4])), 1, 2, 2, 4, 3, 16, 16)).toThrow(/imageToRows.*cells.*outside/);
      expect(() => native.imageToRows(H(rows), H(img.to('cpu')), H(one.cells), 1, 2, 2, 4, 3, 16, 16)).toThrow(/imageToRows: `img` is on cpu/);
      expect(() => native.patchify(H(empty([1, 16, 48], o)), H(img.to('cpu')), 1, 3, 16, 16, 4)).toThrow(/patchify: `img` is on cpu/);
      expect(() => native.patchify(H(empty([1, 16, 48], { ...o, dtype: 'float64' })), H(img), 1, 3, 16, 16, 4)).toThrow(TypeError);
      const out = empty([8, 12], o);
      expect(() => native.rowsToPatches(H(out), H(x.to('cpu').reshape([8, 6])), 2, 2, 2, 3)).toThrow(/rowsToPatches: `x` is on cpu/);
      expect(() => native.patchesToRows(H(x), H(out.cast('bfloat16')), 2, 2, 2, 3)).toThrow(TypeError);
      disposeLayout(ls.cpu);
      disposeLayout(ls.cuda);
      disposeLayout(one);
    });
  });
});
