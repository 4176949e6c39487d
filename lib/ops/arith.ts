// Differentiable basics the model is built from, each with its gradient rule beside it:
//   add(a, b)          a + b; b equal to a's shape or to its trailing dims (tiled over the
//                      leading ones, e.g. [N, L, C] + [L, C]); db sums dy over the tiled dims
//   mul(a, b)          a · b elementwise, same shapes
//   scale(x, alpha)    alpha · x
//   reshape(x, shape)  a view of x's storage; the gradient is reshaped back
//   concatRows(a, b)   [Ra, ...rest] and [Rb, ...rest] -> [Ra + Rb, ...rest] (native copyRows,
//                      native/ops/copy_rows.h); the gradient is split back the same way
//   meanTokens(x)      [N, L, C] -> [N, C], the mean over L, as one batched gemm with a shared
//                      ones vector: out[n] = (1/L)·1ᵀ·x[n], dx[n] = (1/L)·1·dy[n]
//   sum(x), mean(x)    to a scalar (shape [])
// The raw, non-recording versions live in elementwise.ts and reduce.ts.
import { native } from '../binding';
import { needsGrad, record, shouldRecord } from '../autograd/tape';
import { checkFinite } from '../util/check';
import { checkTensor, Tensor } from '../tensor/tensor';
import { checkFloat, sameKind, shapeStr } from './common';
import { add as rawAdd, fill_, mul as rawMul, scale as rawScale } from './elementwise';
import { mean as rawMean, sum as rawSum } from './reduce';

export function add(a: Tensor, b: Tensor): Tensor {
  const y = rawAdd(a, b);
  if (shouldRecord([a, b])) {
    record('add', [a, b], [y], ([dy]) => {
      if (!dy) return [null, null];
      // A view is safe as a's gradient: dy is dropped after this rule, so the view owns the storage.
      const da = needsGrad(a) ? dy.reshape(a.shape) : null;
      return [da, needsGrad(b) ? sumToShape(dy, b.shape) : null];
    });
  }
  return y;
}

/** Sums dy over the leading dims that b was tiled over, into a new tensor of b's shape. */
function sumToShape(dy: Tensor, shape: readonly number[]): Tensor {
  const op = 'add backward';
  const db = Tensor.allocate(shape, dy.dtype, dy.device);
  const cols = db.numel;
  if (cols === dy.numel) native.copy(db.handle(op), dy.handle(op));
  else native.sum(db.handle(op), dy.handle(op), dy.numel / cols, cols, 0, 1, false);
  return db;
}

export function mul(a: Tensor, b: Tensor): Tensor {
  sameKind('mul', { a, b });
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new RangeError(`mul: expected \`b\` of the shape of \`a\` ${shapeStr(a.shape)} but got ${shapeStr(b.shape)}`);
  }
  const y = rawMul(a, b);
  if (shouldRecord([a, b])) {
    record('mul', [a, b], [y], ([dy]) => {
      if (!dy) return [null, null];
      return [needsGrad(a) ? rawMul(dy, b) : null, needsGrad(b) ? rawMul(dy, a) : null];
    });
  }
  return y;
}

export function scale(x: Tensor, alpha: number): Tensor {
  checkFinite('scale', 'alpha', alpha);
  const y = rawScale(x, alpha);
  if (shouldRecord([x])) record('scale', [x], [y], ([dy]) => [dy ? rawScale(dy, alpha) : null]);
  return y;
}

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('reshape', 'x', x);
  const y = x.reshape(shape);
  if (shouldRecord([x])) record('reshape', [x], [y], ([dy]) => [dy ? dy.reshape(x.shape) : null]);
  return y;
}

export function concatRows(a: Tensor, b: Tensor): Tensor {
  const op = 'concatRows';
  sameKind(op, { a, b });
  const rest = a.shape.slice(1);
  if (a.rank === 0 || b.rank !== a.rank || b.shape.slice(1).some((d, i) => d !== rest[i])) {
    throw new RangeError(`${op}: expected \`a\` [Ra, ...] and \`b\` [Rb, ...] with equal trailing dims but got ${shapeStr(a.shape)} and ${shapeStr(b.shape)}`);
  }
  const ra = a.shape[0], rb = b.shape[0];
  const c = rest.reduce((p, d) => p * d, 1);
  const y = Tensor.allocate([ra + rb, ...rest], a.dtype, a.device);
  try {
    native.copyRows(y.handle(op), 0, a.handle(op), 0, ra, c);
    native.copyRows(y.handle(op), ra, b.handle(op), 0, rb, c);
  } catch (e) {
    y.dispose();
    throw e;
  }
  if (shouldRecord([a, b])) {
    record(op, [a, b], [y], ([dy]) => {
      if (!dy) return [null, null];
      const part = (t: Tensor, row: number): Tensor | null => {
        if (!needsGrad(t)) return null;
        const g = Tensor.allocate(t.shape, dy.dtype, dy.device);
        native.copyRows(g.handle('concatRows backward'), 0, dy.handle('concatRows backward'), row, t.shape[0], c);
        return g;
      };
      return [part(a, 0), part(b, ra)];
    });
  }
  return y;
}

export function meanTokens(x: Tensor): Tensor {
  const op = 'meanTokens';
  checkTensor(op, 'x', x);
  checkFloat(op, 'x', x);
  if (x.rank !== 3 || x.shape[1] === 0) {
    throw new RangeError(`${op}: expected a [N, L, C] tensor with L >= 1 for \`x\` but got ${shapeStr(x.shape)}`);
  }
  const [n, l, c] = x.shape;
  const y = Tensor.allocate([n, c], x.dtype, x.device);
  const ones = fill_(Tensor.allocate([l], x.dtype, x.device), 1);
  try {
    native.gemm(y.handle(op), ones.handle(op), x.handle(op), null, 1, c, l, false, false, 1 / l, 0, n, 0, l * c, c);
  } catch (e) {
    y.dispose();
    throw e;
  } finally {
    ones.dispose();
  }
  if (shouldRecord([x])) {
    record(op, [x], [y], ([dy]) => {
      if (!dy) return [null];
      const dx = Tensor.allocate(x.shape, x.dtype, x.device);
      const ones1 = fill_(Tensor.allocate([l], x.dtype, x.device), 1);
      try {
        native.gemm(dx.handle(op), ones1.handle(op), dy.handle(op), null, l, c, 1, false, false, 1 / l, 0, n, 0, c, l * c);
      } catch (e) {
        dx.dispose();
        throw e;
      } finally {
        ones1.dispose();
      }
      return [dx];
    });
  }
  return y;
}

function reduceAll(op: 'sum' | 'mean', x: Tensor): Tensor {
  const y = op === 'sum' ? rawSum(x) : rawMean(x);
  if (shouldRecord([x])) {
    record(op, [x], [y], ([dy]) => {
      if (!dy) return [null];
      // dx = dy (times 1/numel for the mean) everywhere: zeros plus the tiled scalar.
      const dx = fill_(Tensor.allocate(x.shape, x.dtype, x.device), 0);
      rawAdd(dx, dy, dx);
      if (op === 'mean' && x.numel > 0) rawScale(dx, 1 / x.numel, 0, dx);
      return [dx];
    });
  }
  return y;
}

export const sum = (x: Tensor): Tensor => reduceAll('sum', x);
export const mean = (x: Tensor): Tensor => reduceAll('mean', x);
