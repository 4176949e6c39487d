// Parameter initialisers (SPEC.md §5), seeded through lib/data/rng.ts so a seed reproduces a
// model. Values are drawn on the host in float64 and stored as float32 (or float64 for checks).
import { Rng } from '../data/rng';
import { DType } from '../tensor/dtype';
import { Tensor, tensor } from '../tensor/tensor';

export interface InitContext {
  rng: Rng;
  dtype: DType;
}

export function fromValues(ctx: InitContext, values: Float64Array, shape: number[]): Tensor {
  return tensor(ctx.dtype === 'float64' ? values : Float32Array.from(values), shape, { dtype: ctx.dtype });
}

export function uniform(ctx: InitContext, shape: number[], bound: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = (2 * ctx.rng.uniform() - 1) * bound;
  return fromValues(ctx, v, shape);
}

export function constant(ctx: InitContext, shape: number[], value: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return fromValues(ctx, new Float64Array(n).fill(value), shape);
}

function gaussian(rng: Rng): number {
  let u = rng.uniform();
  while (u <= 0) u = rng.uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.uniform());
}

export function normal(ctx: InitContext, shape: number[], std: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = std * gaussian(ctx.rng);
  return fromValues(ctx, v, shape);
}

/** Normal(0, std²) truncated to [-2, 2] absolute (timm's trunc_normal_), by rejection. */
export function truncNormal(ctx: InitContext, shape: number[], std: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x: number;
    do x = std * gaussian(ctx.rng); while (x < -2 || x > 2);
    v[i] = x;
  }
  return fromValues(ctx, v, shape);
}

/** xavier_uniform on a weight viewed as [fanOut, fanIn]. */
export function xavierUniform(ctx: InitContext, shape: number[], fanIn: number, fanOut: number): Tensor {
  return uniform(ctx, shape, Math.sqrt(6 / (fanIn + fanOut)));
}

/** PyTorch's default conv/linear init kaiming_uniform(a=√5): U(±1/√fanIn). */
export function torchDefault(ctx: InitContext, shape: number[], fanIn: number): Tensor {
  return uniform(ctx, shape, 1 / Math.sqrt(fanIn));
}
