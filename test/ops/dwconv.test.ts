// dwconvRows against a dense depthwise conv on the masked map (scatter rows into a canvas, conv,
// gather), gradients by finite differences, and every bad argument (TS and native) throwing; on a
// GPU, the CUDA kernels against the CPU ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { kernels, setKernel } from '../../lib/backends';
import { native } from '../../lib/binding';
import { backward, clearTape, requireGrad } from '../../lib/autograd/tape';
import { dwconvRows } from '../../lib/ops/dwconv';
import { disposeLayout, fullLayout, makeVisibleLayout, VisibleLayout } from '../../lib/ops/visible_layout';
import { tidy } from '../../lib/tensor/scope';
import { empty, liveTensorCount, tensor, Tensor, zeros } from '../../lib/tensor/tensor';
import type { DType } from '../../lib/tensor/dtype';
import type { Device } from '../../lib/tensor/device';
import { expectClose, relL2, TOL_F32 } from '../helpers/close';
import { randomCells } from '../helpers/cells';
import { cudaSkipReason, cudaUsable } from '../helpers/devices';
import { gradcheck, randn } from '../helpers/gradcheck';
import { type Mode, freshSeed, rand32, roundBf16, put } from '../helpers/cuda_compare';

interface Geo { n: number; k: number; g: number; t: number; c: number; cells: Int32Array }

/** Map index of row r's position, channel c, in an [N, C, S, S] canvas. */
function mapIndex(geo: Geo, r: number, c: number): number {
  const { k, g, t, cells } = geo, S = g * t;
  const ns = Math.floor(r / (t * t)), n = Math.floor(ns / k), d = r % (t * t);
  const cell = cells[ns];
  const y = Math.floor(cell / g) * t + Math.floor(d / t), x = (cell % g) * t + (d % t);
  return ((n * geo.c + c) * S + y) * S + x;
}

/** Dense depthwise conv, padding ks/2, stride 1, bias; taps in (u, v) order, accumulated in double. */
function denseConv(map: Float64Array, w: ArrayLike<number>, b: ArrayLike<number>, n: number, c: number, S: number, ks: number): Float64Array {
  const out = new Float64Array(map.length), h = (ks - 1) / 2;
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    let acc = b[ch];
    for (let u = 0; u < ks; u++) for (let v = 0; v < ks; v++) {
      const yy = y + u - h, xx = x + v - h;
      if (yy < 0 || xx < 0 || yy >= S || xx >= S) continue;
      acc += w[(ch * ks + u) * ks + v] * map[((i * c + ch) * S + yy) * S + xx];
    }
    out[((i * c + ch) * S + y) * S + x] = acc;
  }
  return out;
}

/** The reference: visible rows of conv(V ⊙ canvas), where `canvas` may hold anything at masked positions. */
function reference(geo: Geo, canvas: Float64Array, w: ArrayLike<number>, b: ArrayLike<number>, ks: number): { rows: Float64Array; out: Float64Array } {
  const { n, k, t, c } = geo, S = geo.g * t, R = n * k * t * t;
  const masked = new Float64Array(canvas.length);
  const rows = new Float64Array(R * c);
  for (let r = 0; r < R; r++) for (let ch = 0; ch < c; ch++) {
    const m = mapIndex(geo, r, ch);
    masked[m] = canvas[m];
    rows[r * c + ch] = canvas[m];
  }
  const dense = denseConv(masked, w, b, n, c, S, ks);
  const out = new Float64Array(R * c);
  for (let r = 0; r < R; r++) for (let ch = 0; ch < c; ch++) out[r * c + ch] = dense[mapIndex(geo, r, ch)];
  return { rows, out };
}

const round = (a: Float64Array, dtype: DType) => (dtype === 'float32' ? Float64Array.from(new Float32Array(a)) : a);

describe('dwconvRows (cpu)', () => {
  const cases: [number, number, number, number, number, number][] = [
    // n, k, g, t, c, ks
    [2, 4, 3, 2, 3, 5],
    [1, 7, 4, 4, 5, 3],
    [3, 1, 3, 4, 2, 5],
    [2, 10, 5, 2, 7, 5],
    [1, 3, 3, 4, 4, 7],
    [2, 49, 14, 4, 3, 5],
  ];
  it.each(cases)('n=%i k=%i g=%i t=%i c=%i ks=%i matches the dense conv on the masked map', (n, k, g, t, c, ks) => {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      tidy(() => {
        const cells = randomCells(n, k, g, 11 * n + k + ks);
        const geo = { n, k, g, t, c, cells };
        const S = g * t;
        const canvas = round(randn(n * c * S * S, 3), dtype);
        const w = round(randn(c * ks * ks, 5, 0.3), dtype), b = round(randn(c, 6), dtype);
        const ref = reference(geo, canvas, w, b, ks);
        const layout = makeVisibleLayout(cells, n, k, g, 'cpu');
        const y = dwconvRows(tensor(ref.rows, [n * k * t * t, c], { dtype }), tensor(w, [c, 1, ks, ks], { dtype }),
          tensor(b, [c], { dtype }), layout, t);
        expect(y.shape).toEqual([n * k * t * t, c]);
        const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : TOL_F32;
        expectClose(y.toTypedArray() as Float64Array, ref.out, tol, `dwconvRows ${dtype}`);
        // Values at masked positions never matter: perturb them and the reference is unchanged.
        const perturbed = canvas.slice();
        const visible = new Set<number>();
        for (let r = 0; r < n * k * t * t; r++) for (let ch = 0; ch < c; ch++) visible.add(mapIndex(geo, r, ch));
        const noise = randn(perturbed.length, 99, 100);
        for (let i = 0; i < perturbed.length; i++) if (!visible.has(i)) perturbed[i] += noise[i];
        expect(reference(geo, perturbed, w, b, ks).out).toEqual(ref.out);
        disposeLayout(layout);
      });
    }
  });

  it('equals the dense conv exactly when every cell is kept', () => {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      for (const [n, g, t, c, ks] of [[2, 3, 4, 3, 5], [1, 5, 2, 6, 5], [3, 2, 2, 2, 3]]) {
        tidy(() => {
          const S = g * t;
          const layout = fullLayout(n, g, 'cpu');
          const cells = layout.cells.toTypedArray() as Int32Array;
          const geo = { n, k: g * g, g, t, c, cells };
          const canvas = round(randn(n * c * S * S, 17), dtype);
          const w = round(randn(c * ks * ks, 18), dtype), b = round(randn(c, 19), dtype);
          const ref = reference(geo, canvas, w, b, ks);
          // The full layout sees the whole canvas, so the reference is the plain dense conv.
          const dense = denseConv(canvas, w, b, n, c, S, ks);
          const y = dwconvRows(tensor(ref.rows, [n * g * g * t * t, c], { dtype }), tensor(w, [c, 1, ks, ks], { dtype }),
            tensor(b, [c], { dtype }), layout, t);
          const got = Float64Array.from(y.toTypedArray() as Float64Array);
          const want = new Float64Array(got.length);
          for (let r = 0; r < n * g * g * t * t; r++) for (let ch = 0; ch < c; ch++) want[r * c + ch] = dense[mapIndex(geo, r, ch)];
          expect(got).toEqual(round(want, dtype));
          disposeLayout(layout);
        });
      }
    }
  });

  describe('gradients by finite differences (float64)', () => {
    const masks: [string, number, number, number, Int32Array | null][] = [
      // label, n, k, t, cells (null: every cell kept)
      ['random 4 of 9, t=2', 2, 4, 2, randomCells(2, 4, 3, 41)],
      ['random 3 of 9, t=4', 1, 3, 4, randomCells(1, 3, 3, 42)],
      ['corner and centre, t=2', 1, 2, 2, Int32Array.from([8, 4])],
      ['all kept, t=2', 1, 9, 2, null],
      ['all kept, t=4', 1, 9, 4, null],
    ];
    it.each(masks)('%s', (_label, n, k, t, cells) => {
      const g = 3, c = 3;
      for (const ks of t === 4 && k === 9 ? [5] : [5, 3]) {
        const layout = cells ? makeVisibleLayout(cells, n, k, g, 'cpu') : fullLayout(n, g, 'cpu');
        gradcheck((x, w, b) => dwconvRows(x, w, b, layout, t), [
          { data: randn(n * k * t * t * c, 51), shape: [n * k * t * t, c] },
          { data: randn(c * ks * ks, 52), shape: [c, 1, ks, ks] },
          { data: randn(c, 53), shape: [c] },
        ]);
        disposeLayout(layout);
      }
    });

    it('gives only the gradients that are needed, and leaks nothing', () => {
      const layout = makeVisibleLayout(randomCells(2, 5, 3, 61), 2, 5, 3, 'cpu');
      const before = liveTensorCount('cpu');
      const x = tensor(randn(2 * 5 * 4 * 3, 62), [40, 3], { dtype: 'float64' });
      const w = requireGrad(tensor(randn(3 * 25, 63), [3, 1, 5, 5], { dtype: 'float64' }));
      const b = tensor(randn(3, 64), [3], { dtype: 'float64' });
      const y = dwconvRows(x, w, b, layout, 2);
      const dy = tensor(randn(120, 65), [40, 3], { dtype: 'float64' });
      backward(y, dy);
      expect(w.grad?.shape).toEqual([3, 1, 5, 5]);
      expect(x.grad).toBeNull();
      expect(b.grad).toBeNull();
      for (const t of [x, w, b, y, dy, w.grad!]) t.dispose();
      expect(liveTensorCount('cpu')).toBe(before);
      disposeLayout(layout);
    });
  });

  describe('bad arguments throw', () => {
    const n = 1, k = 2, g = 3, t = 2, c = 3;
    const setup = () => {
      const layout = makeVisibleLayout(Int32Array.from([0, 4]), n, k, g, 'cpu');
      const x = tensor(randn(k * t * t * c, 1), [k * t * t, c]);
      const w = tensor(randn(c * 25, 2), [c, 1, 5, 5]);
      const b = tensor(randn(c, 3), [c]);
      return { layout, x, w, b };
    };

    it('through the TS API', () => {
      tidy(() => {
        const { layout, x, w, b } = setup();
        expect(() => dwconvRows(tensor(randn(7 * c, 1), [7, c]), w, b, layout, t)).toThrow(RangeError);
        expect(() => dwconvRows(x, w, b, layout, 4)).toThrow(/dwconvRows/);
        expect(() => dwconvRows(x, tensor(randn(c * 16, 1), [c, 1, 4, 4]), b, layout, t)).toThrow(RangeError);
        expect(() => dwconvRows(x, tensor(randn(c * 25, 1), [c, 5, 5]), b, layout, t)).toThrow(RangeError);
        expect(() => dwconvRows(x, tensor(randn(c * 25 * 2, 1), [c, 2, 5, 5]), b, layout, t)).toThrow(RangeError);
        expect(() => dwconvRows(x, w, tensor([1, 2], [2], { dtype: 'float64' }), layout, t)).toThrow(RangeError);
        expect(() => dwconvRows(x, w, b.cast('float32'), layout, t)).toThrow(/dwconvRows.*bias.*float32/);
        expect(() => dwconvRows(x, w, b, layout, 0)).toThrow(RangeError);
        expect(() => dwconvRows(x, w, b, layout, 1.5)).toThrow(TypeError);
        expect(() => dwconvRows(x.cast('float32'), w, b, layout, t)).toThrow(TypeError);
        expect(() => dwconvRows(x.cast('int32'), w.cast('int32'), b.cast('int32'), layout, t)).toThrow(/dwconvRows.*int32/);
        expect(() => dwconvRows(x, w, b, {} as VisibleLayout, t)).toThrow(/dwconvRows.*layout/);
        const dead = x.clone();
        dead.dispose();
        expect(() => dwconvRows(dead, w, b, layout, t)).toThrow(/dwconvRows.*dispose/);
        const gone = makeVisibleLayout(Int32Array.from([0, 4]), n, k, g, 'cpu');
        disposeLayout(gone);
        expect(() => dwconvRows(x, w, b, gone, t)).toThrow(/dwconvRows.*disposeLayout/);
      });
    });

    it('through the backward when the layout was disposed', () => {
      tidy(() => {
        const { layout, x, w, b } = setup();
        requireGrad(x);
        const y = dwconvRows(x, w, b, layout, t);
        disposeLayout(layout);
        expect(() => backward(y, zeros(y.shape))).toThrow(/dwconvRows backward/);
        clearTape();
      });
    });

    it('straight through the native functions', () => {
      tidy(() => {
        const { layout, x, w, b } = setup();
        const y = zeros(x.shape, { dtype: 'float64' });
        const H = (tt: { handle(): unknown }) => tt.handle() as never;
        const call = (over: Partial<Record<string, unknown>> = {}) => {
          const a = { out: H(y), x: H(x), cells: H(layout.cells), table: H(layout.table), w: H(w), b: H(b), n, k, g, t, c, ks: 5, ...over };
          native.dwconvRows(a.out, a.x, a.cells, a.table, a.w, a.b, a.n as number, a.k as number, a.g as number,
            a.t as number, a.c as number, a.ks as number);
        };
        expect(() => call()).not.toThrow();
        expect(() => call({ x: H(tensor(randn(5, 1), [5])) })).toThrow(RangeError);
        expect(() => call({ w: H(tensor(randn(9 * c, 1), [c, 9])) })).toThrow(/dwconvRows.*weight/);
        expect(() => call({ b: H(tensor([1], [1], { dtype: 'float64' })) })).toThrow(/dwconvRows.*bias/);
        expect(() => call({ ks: 4 })).toThrow(/dwconvRows.*odd/);
        expect(() => call({ ks: -1 })).toThrow(RangeError);
        expect(() => call({ k: 3 })).toThrow(RangeError);
        expect(() => call({ g: 4 })).toThrow(RangeError);
        expect(() => call({ t: 0 })).toThrow(RangeError);
        expect(() => call({ c: 1.5 })).toThrow(TypeError);
        expect(() => call({ x: 'not a buffer' })).toThrow(TypeError);
        expect(() => call({ out: H(x) })).toThrow(/different tensors/);
        expect(() => call({ x: H(x.cast('float32')) })).toThrow(TypeError);
        expect(() => call({ cells: H(layout.cells.cast('float64')) })).toThrow(/cells.*int32/);
        expect(() => call({ cells: H(tensor([0, 9], [2], { dtype: 'int32' })) })).toThrow(/dwconvRows.*cells/);
        expect(() => call({ cells: H(tensor([-1, 4], [2], { dtype: 'int32' })) })).toThrow(RangeError);
        expect(() => call({ cells: H(tensor([4, 4], [2], { dtype: 'int32' })) })).toThrow(/twice/);
        // A table that disagrees with cells, or points outside the K slots.
        const table = layout.table.toTypedArray() as Int32Array;
        for (const [cell, v] of [[0, 1], [1, 0], [4, 2], [8, 5], [0, -7]]) {
          const bad = table.slice();
          bad[cell] = v;
          expect(() => call({ table: H(tensor(bad, [9], { dtype: 'int32' })) })).toThrow(/dwconvRows.*table/);
        }
        expect(() => call({ table: H(tensor(table.slice(1), [8], { dtype: 'int32' })) })).toThrow(RangeError);
        const dead = x.clone(), deadHandle = H(dead);
        dead.dispose();
        expect(() => call({ x: deadHandle })).toThrow(/dwconvRows.*disposed/);
        expect(() => (native.dwconvRows as unknown as () => void)()).toThrow(TypeError);

        const f64 = { dtype: 'float64' as const };
        const dx = zeros(x.shape, f64), dw = zeros(w.shape, f64), db = zeros(b.shape, f64);
        native.dwconvRowsBackwardInput(H(dx), H(y), H(layout.cells), H(layout.table), H(w), n, k, g, t, c, 5);
        expect(() => native.dwconvRowsBackwardInput(H(dx), H(dx), H(layout.cells), H(layout.table), H(w), n, k, g, t, c, 5)).toThrow(/different tensors/);
        expect(() => native.dwconvRowsBackwardInput(H(dx), H(y), H(layout.cells), H(layout.table), H(b), n, k, g, t, c, 5)).toThrow(/weight/);
        expect(() => native.dwconvRowsBackwardInput(H(dx), H(y), H(layout.table), H(layout.table), H(w), n, k, g, t, c, 5)).toThrow(/cells/);
        native.dwconvRowsBackwardWeight(H(dw), H(db), H(y), H(x), H(layout.cells), H(layout.table), n, k, g, t, c, 5);
        expect(() => native.dwconvRowsBackwardWeight(H(dw), H(dw), H(y), H(x), H(layout.cells), H(layout.table), n, k, g, t, c, 5)).toThrow(RangeError);
        expect(() => native.dwconvRowsBackwardWeight(H(dw), H(db), H(y), H(b), H(layout.cells), H(layout.table), n, k, g, t, c, 5)).toThrow(/`x`/);
        expect(() => native.dwconvRowsBackwardWeight(H(dw), H(db), H(y), H(x), H(layout.cells), H(layout.table), n, k, g, t, c, 3)).toThrow(/dweight/);
      });
    });
  });
});

// The CUDA twin against the CPU op on fresh random inputs every run (the seed is in each label).
// float32: relative L2 error <= 1e-5. bfloat16 (inputs cast on the device): at most twice the
// error that rounding the inputs to bf16 causes in the float32 CPU computation.
describe.skipIf(!cudaUsable)(`dwconvRows (cuda) ${cudaSkipReason}`, () => {
  interface Outputs { y: Float64Array; dx: Float64Array; dw: Float64Array; db: Float64Array }
  interface Inputs { x: Float64Array; w: Float64Array; b: Float64Array; dy: Float64Array }

  const host = (t: Tensor) => Float64Array.from(t.toFloat32Array());

  /** Forward and both backward kernels through the native functions on one device. */
  function run(device: Device, mode: Mode, geo: Geo, ks: number, inp: Inputs): Outputs {
    return tidy(() => {
      const { n, k, g, t, c, cells } = geo, R = n * k * t * t;
      const layout = makeVisibleLayout(cells, n, k, g, device);
      const x = put(inp.x, [R, c], device, mode), w = put(inp.w, [c, 1, ks, ks], device, mode);
      const b = put(inp.b, [c], device, mode), dy = put(inp.dy, [R, c], device, mode);
      const o = { dtype: x.dtype, device };
      const y = empty([R, c], o), dx = empty([R, c], o), dw = empty([c, 1, ks, ks], o), db = empty([c], o);
      const L = [layout.cells.handle(), layout.table.handle()] as const;
      native.dwconvRows(y.handle(), x.handle(), ...L, w.handle(), b.handle(), n, k, g, t, c, ks);
      native.dwconvRowsBackwardInput(dx.handle(), dy.handle(), ...L, w.handle(), n, k, g, t, c, ks);
      native.dwconvRowsBackwardWeight(dw.handle(), db.handle(), dy.handle(), x.handle(), ...L, n, k, g, t, c, ks);
      const out = { y: host(y), dx: host(dx), dw: host(dw), db: host(db) };
      disposeLayout(layout);
      return out;
    });
  }

  /** Geometry and float32-representable inputs from a fresh seed. */
  function setup(n: number, k: number, g: number, t: number, c: number, ks: number) {
    const seed = freshSeed();
    const cells = k === g * g ? Int32Array.from({ length: n * k }, (_, i) => i % k) : randomCells(n, k, g, seed);
    const R = n * k * t * t;
    const inp: Inputs = { x: rand32(R * c, seed + 1), w: rand32(c * ks * ks, seed + 2, 0.3), b: rand32(c, seed + 3), dy: rand32(R * c, seed + 4) };
    return { seed, geo: { n, k, g, t, c, cells } as Geo, inp, R };
  }
  const KEYS = ['y', 'dx', 'dw', 'db'] as const;

  // Each case runs with both kernel families (kernel_choice.h): cells (where its shapes apply; the
  // others fall back to taps), then taps.
  describe.each(['cells', 'taps'] as const)('dwconv kernel family %s', (family) => {
    const before = kernels().dwconv;
    beforeAll(() => setKernel('dwconv', family));
    afterAll(() => setKernel('dwconv', before));

    it.each([
      // n, k, g, t, c, ks
      [2, 4, 3, 2, 3, 5],
      [1, 7, 4, 4, 40, 3],
      [2, 10, 5, 4, 32, 5],
      [3, 9, 3, 2, 8, 5], // every cell kept
      [1, 3, 3, 4, 16, 7],
      [2, 5, 3, 2, 33, 1],
      [16, 49, 14, 4, 16, 5], // 12544 rows: the weight gradient caps its row chunks
      [2, 0, 3, 2, 4, 5], // no visible rows: y, dx empty; dweight and dbias are zero
      [2, 6, 4, 2, 772, 5], // cells: three channel passes, the last of one pair
      [3, 7, 5, 4, 10, 3], // cells: blocks and chunks of fewer cells than a group
    [43, 49, 14, 4, 4, 5], // cells: 2107 cells in 422 chunks of 5 (a group of 4, then 1)
    [168, 49, 14, 2, 2, 3], // cells at t = 2: 8232 cells in 485 chunks of 17 (groups of 16, then 1)
      [2, 10, 5, 4, 33, 5], // odd C: the taps kernels (dwconv_fast.cu) in both families
    ])('float32 n=%i k=%i g=%i t=%i c=%i ks=%i matches the CPU op, forward and backward', (n, k, g, t, c, ks) => {
      const { seed, geo, inp, R } = setup(n, k, g, t, c, ks);
      const cpu = run('cpu', 'float32', geo, ks, inp);
      const gpu = run('cuda', 'float32', geo, ks, inp);
      for (const key of KEYS) {
        expect(gpu[key].length).toBe(cpu[key].length);
        if (key !== 'db') expect(relL2(gpu[key], cpu[key]), `${key} (seed ${seed})`).toBeLessThanOrEqual(1e-5);
      }
      // dbias[c] sums R values of either sign (the CPU in float64, the kernels in float32): a bound
      // relative to the sum alone fails where it lands near 0 (seed 766989365: |db| 1.2 from terms
      // whose sizes add to 26000), so each channel may also differ by 2·2^-24·Σ|dy|, the float32
      // rounding of what it adds (measured within 0.06 of 2^-24·Σ|dy| over 7 seeds at R 32928). A
      // row left out or counted twice is still ~10^2 over.
      const absSum = new Float64Array(c);
      inp.dy.forEach((v, i) => { absSum[i % c] += Math.abs(v); });
      gpu.db.forEach((v, ch) => expect(Math.abs(v - cpu.db[ch]), `db[${ch}] (seed ${seed})`)
        .toBeLessThanOrEqual(1e-5 * Math.abs(cpu.db[ch]) + 2 * 2 ** -24 * absSum[ch]));
      if (R === 0) expect([...gpu.dw, ...gpu.db].every((v) => v === 0)).toBe(true);
    });

    // The outputs are rounded to bf16 too, which adds about as much error as the input rounding, so
    // the measured ratio is ~1.2-1.4; every output here has >= 256 elements (dbias: C), which keeps
    // its sampling spread far below the factor 2.
    it.each([
      [2, 10, 5, 4, 256, 5],
      [1, 7, 4, 2, 384, 3],
      [2, 9, 3, 2, 256, 5], // every cell kept
      [1, 12, 5, 4, 258, 5], // two channel passes
    ])('bfloat16 n=%i k=%i g=%i t=%i c=%i ks=%i stays within twice the input-rounding error', (n, k, g, t, c, ks) => {
      const { seed, geo, inp } = setup(n, k, g, t, c, ks);
      const cpu = run('cpu', 'float32', geo, ks, inp);
      const rounded = run('cpu', 'float32', geo, ks, { x: roundBf16(inp.x), w: roundBf16(inp.w), b: roundBf16(inp.b), dy: roundBf16(inp.dy) });
      const bf = run('cuda', 'bfloat16', geo, ks, inp);
      for (const key of KEYS) {
        const budget = relL2(rounded[key], cpu[key]);
        expect(budget).toBeGreaterThan(0);
        expect(relL2(bf[key], cpu[key]), `${key} (seed ${seed}; input rounding alone: ${budget})`).toBeLessThanOrEqual(2 * budget);
      }
    });

    it('runs through the TS API and the tape on cuda, matching the CPU gradients', () => {
      const seed = freshSeed();
      const n = 2, k = 5, g = 3, t = 4, c = 12, ks = 5, R = n * k * t * t;
      const cells = randomCells(n, k, g, seed);
      const X = rand32(R * c, seed + 1), W = rand32(c * ks * ks, seed + 2, 0.3), B = rand32(c, seed + 3), DY = rand32(R * c, seed + 4);
      const grads = (device: Device) => tidy(() => {
        const layout = makeVisibleLayout(cells, n, k, g, device);
        const x = requireGrad(tensor(X, [R, c], { dtype: 'float32', device }));
        const w = requireGrad(tensor(W, [c, 1, ks, ks], { dtype: 'float32', device }));
        const b = requireGrad(tensor(B, [c], { dtype: 'float32', device }));
        const y = dwconvRows(x, w, b, layout, t);
        expect(y.device).toBe(device);
        backward(y, tensor(DY, [R, c], { dtype: 'float32', device }));
        const out = [host(y), host(x.grad!), host(w.grad!), host(b.grad!)];
        for (const p of [x, w, b]) p.grad!.dispose();
        disposeLayout(layout);
        return out;
      });
      const cpu = grads('cpu'), gpu = grads('cuda');
      cpu.forEach((want, i) => expect(relL2(gpu[i], want), `output ${i} (seed ${seed})`).toBeLessThanOrEqual(1e-5));
    });
  });

  it('rejects device mixes and bad layouts before any kernel runs', () => {
    tidy(() => {
      const n = 1, k = 2, g = 3, t = 2, c = 3, R = k * t * t;
      const o = { dtype: 'float32' as const, device: 'cuda' as const };
      const layout = makeVisibleLayout(Int32Array.from([0, 4]), n, k, g, 'cuda');
      const cpuLayout = makeVisibleLayout(Int32Array.from([0, 4]), n, k, g, 'cpu');
      const x = tensor(randn(R * c, 1), [R, c], o), w = tensor(randn(c * 25, 2), [c, 1, 5, 5], o), b = tensor(randn(c, 3), [c], o);
      expect(dwconvRows(x, w, b, layout, t).device).toBe('cuda');
      expect(() => dwconvRows(x, w.to('cpu'), b, layout, t)).toThrow(/dwconvRows: `weight` is on cpu but `x` is on cuda/);
      expect(() => dwconvRows(x, w, b, cpuLayout, t)).toThrow(/dwconvRows.*layout.*cpu/);
      expect(() => dwconvRows(x.to('cpu'), w.to('cpu'), b.to('cpu'), layout, t)).toThrow(/dwconvRows.*layout.*cuda/);
      const y = empty([R, c], o);
      const call = (over: Partial<Record<'out' | 'x' | 'cells' | 'table' | 'w' | 'b', Tensor>> = {}) => {
        const a = { out: y, x, cells: layout.cells, table: layout.table, w, b, ...over };
        native.dwconvRows(a.out.handle(), a.x.handle(), a.cells.handle(), a.table.handle(), a.w.handle(), a.b.handle(), n, k, g, t, c, 5);
      };
      expect(() => call()).not.toThrow();
      expect(() => call({ x: x.to('cpu') })).toThrow(/dwconvRows: `x` is on cpu but `out` is on cuda/);
      expect(() => call({ cells: cpuLayout.cells })).toThrow(/dwconvRows: `cells` is on cpu but the data is on cuda/);
      expect(() => call({ table: cpuLayout.table })).toThrow(/dwconvRows: `table` is on cpu but the data is on cuda/);
      // Bad values in device-resident cells/table are found on the host, as on the CPU.
      const i32 = (a: number[]) => tensor(Int32Array.from(a), [a.length], { dtype: 'int32', device: 'cuda' });
      expect(() => call({ cells: i32([0, 9]) })).toThrow(/dwconvRows: `cells`\[1\] = 9 is outside/);
      expect(() => call({ cells: i32([-1, 4]) })).toThrow(RangeError);
      expect(() => call({ cells: i32([4, 4]) })).toThrow(/twice/);
      const table = Array.from(layout.table.toTypedArray() as Int32Array);
      for (const [cell, v] of [[0, 1], [1, 0], [8, 5], [0, -7]]) {
        const bad = table.slice();
        bad[cell] = v;
        expect(() => call({ table: i32(bad) })).toThrow(/dwconvRows: `table`/);
      }
      const dx = empty([R, c], o), dw = empty([c, 1, 5, 5], o), db = empty([c], o);
      expect(() => native.dwconvRowsBackwardInput(dx.handle(), y.handle(), layout.cells.handle(), i32([0, 4, 0, -1, 1, -1, -1, -1, -1]).handle(), w.handle(), n, k, g, t, c, 5))
        .toThrow(/dwconvRowsBackwardInput: `table`/);
      expect(() => native.dwconvRowsBackwardInput(dx.handle(), y.to('cpu').handle(), layout.cells.handle(), layout.table.handle(), w.handle(), n, k, g, t, c, 5))
        .toThrow(/dwconvRowsBackwardInput: `dy` is on cpu/);
      expect(() => native.dwconvRowsBackwardWeight(dw.handle(), db.handle(), y.handle(), x.handle(), i32([9, 0]).handle(), layout.table.handle(), n, k, g, t, c, 5))
        .toThrow(/dwconvRowsBackwardWeight: `cells`\[0\] = 9/);
      expect(() => native.dwconvRowsBackwardWeight(dw.handle(), db.to('cpu').handle(), y.handle(), x.handle(), layout.cells.handle(), layout.table.handle(), n, k, g, t, c, 5))
        .toThrow(/dwconvRowsBackwardWeight: `dbias` is on cpu/);
      const f64 = tensor([1, 2, 3], [3], { dtype: 'float64', device: 'cuda' });
      expect(() => native.dwconvRowsBackwardWeight(dw.handle(), f64.handle(), y.handle(), x.handle(), layout.cells.handle(), layout.table.handle(), n, k, g, t, c, 5))
        .toThrow(TypeError);
      disposeLayout(layout);
      disposeLayout(cpuLayout);
    });
  });
});
