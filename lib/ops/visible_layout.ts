// The visible layout of stages 1-2 (ARCHITECTURE.md decision 2, SPEC.md §4.5): which stage-3
// grid cells each sample keeps, and where. `cells` [N*K] (int32) lists the kept cells of each
// sample in ids_keep order (slot s of sample n is cell cells[n*K + s], cell = gy*G + gx); `table`
// [N*G*G] (int32) maps each cell back to its slot, or -1 when the cell is masked. Feature rows
// are tile-major: row ((n*K + s)*t + dy)*t + dx holds map position (gy*t + dy, gx*t + dx).
// Finetuning keeps every cell (fullLayout), so one code path serves masked and full inputs.
// The layout owns its two tensors: dispose it with disposeLayout once the ops that read it,
// and their backward passes, are done.
import { checkInt, fail } from '../util/check';
import { Device } from '../tensor/device';
import { checkDevice, tensor, Tensor } from '../tensor/tensor';

export interface VisibleLayout {
  /** Samples. */
  n: number;
  /** Kept cells per sample. */
  k: number;
  /** Side of the stage-3 grid. */
  g: number;
  /** int32 [N*K]: the kept cell of each slot (ids_keep). */
  cells: Tensor;
  /** int32 [N*G*G]: the slot of each cell, or -1 when masked. */
  table: Tensor;
  /** Every sample keeps every cell, in raster order (slot s holds cell s): nothing is masked or moved. */
  ordered: boolean;
}

/** A layout from ids_keep [N*K]; cells must lie in [0, G*G) and be distinct within a sample. */
export function makeVisibleLayout(cells: Int32Array, n: number, k: number, g: number, device: Device): VisibleLayout {
  const op = 'makeVisibleLayout';
  checkInt(op, 'n', n);
  checkInt(op, 'g', g, 1, 1024);
  checkInt(op, 'k', k, 0, g * g);
  checkDevice(op, 'device', device);
  if (!(cells instanceof Int32Array)) fail(op, 'an Int32Array', 'cells', cells);
  if (cells.length !== n * k) {
    throw new RangeError(`${op}: expected ${n * k} elements (n*k) for \`cells\` but got ${cells.length}`);
  }
  const gg = g * g;
  const table = new Int32Array(n * gg).fill(-1);
  for (let i = 0; i < n; i++) {
    for (let s = 0; s < k; s++) {
      const c = cells[i * k + s];
      if (c < 0 || c >= gg) throw new RangeError(`${op}: expected a cell in [0, ${gg}) for \`cells[${i * k + s}]\` but got ${c}`);
      if (table[i * gg + c] !== -1) throw new RangeError(`${op}: cell ${c} appears twice in sample ${i} of \`cells\``);
      table[i * gg + c] = s;
    }
  }
  return {
    n, k, g,
    ordered: k === gg && cells.every((c, i) => c === i % gg),
    cells: tensor(cells.slice(), [n * k], { dtype: 'int32', device }),
    table: tensor(table, [n * gg], { dtype: 'int32', device }),
  };
}

/** Every cell kept, in raster order (K = G*G): the layout of finetuning and evaluation. */
export function fullLayout(n: number, g: number, device: Device): VisibleLayout {
  checkInt('fullLayout', 'n', n);
  checkInt('fullLayout', 'g', g, 1, 1024);
  const gg = g * g;
  const cells = new Int32Array(n * gg);
  for (let i = 0; i < cells.length; i++) cells[i] = i % gg;
  return makeVisibleLayout(cells, n, gg, g, device);
}

/** Frees the layout's tensors (idempotent). */
export function disposeLayout(l: VisibleLayout): void {
  l.cells.dispose();
  l.table.dispose();
}

/** Checks that a layout is usable with a tensor (live, same device); used by the ops that take one. */
export function checkLayout(op: string, layout: unknown, like: Tensor): VisibleLayout {
  const l = layout as VisibleLayout;
  if (l === null || typeof l !== 'object' || !(l.cells instanceof Tensor) || !(l.table instanceof Tensor)) {
    fail(op, 'a VisibleLayout (from makeVisibleLayout or fullLayout)', 'layout', layout);
  }
  if (l.cells.disposed || l.table.disposed) throw new Error(`${op}: \`layout\` was used after disposeLayout()`);
  if (l.cells.device !== like.device) {
    throw new Error(`${op}: \`layout\` is on ${l.cells.device} but the data is on ${like.device}; build the layout on ${like.device}`);
  }
  return l;
}
