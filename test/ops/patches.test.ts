// The tile rearrangements (rowsToPatches, imageToRows, patchify, rowsToMap) against plain-TS
// references of their formulas, gradients by finite differences, and bad arguments throwing.
import { describe, expect, it } from 'vitest';

import { native } from '../../lib/binding';
import { backward, requireGrad } from '../../lib/autograd/tape';
import { imageToRows, patchify, rowsToMap, rowsToPatches } from '../../lib/ops/patches';
import { disposeLayout, fullLayout, makeVisibleLayout } from '../../lib/ops/visible_layout';
import { tidy } from '../../lib/tensor/scope';
import { liveTensorCount, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import { gradcheck, randn } from '../helpers/gradcheck';

/** ids_keep of a random mask: per sample, the k cells with the smallest noise, in ascending noise. */
function randomCells(n: number, k: number, g: number, seed: number): Int32Array {
  const out = new Int32Array(n * k);
  for (let i = 0; i < n; i++) {
    const noise = randn(g * g, seed + 31 * i);
    const order = Array.from({ length: g * g }, (_, j) => j).sort((a, b) => noise[a] - noise[b]);
    for (let s = 0; s < k; s++) out[i * k + s] = order[s];
  }
  return out;
}

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
