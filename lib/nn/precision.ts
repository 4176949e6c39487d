// The mixed-precision policy, in one place (ARCHITECTURE.md §4).
// Parameters, their gradients and the optimizer state are always float32 (float64 in gradient
// checks). Under 'bf16', the default on CUDA:
//  - a model casts its input images to bfloat16 at entry (activationDType);
//  - a layer casts each parameter to its input's dtype where it uses it (useParam, a
//    differentiable cast: the bfloat16 gradient is cast back and accumulates in float32); a model
//    forward casts all its parameters at once first (withParamCasts: one castMulti call forward
//    and one backward instead of two launches per parameter), and useParam hands out those casts;
//  - GEMMs, attention, the depthwise conv, layernorm and GELU then read and write bfloat16 and
//    compute in fp32 inside each kernel (fp32 accumulation, fp32 softmax and statistics);
//  - losses, logits and returned features are float32 (the models cast their outputs back).
// 'float32' computes everything in float32: the CPU backend always does, and the parity runs
// use it on CUDA to check against the fixtures.
import { castAllTo, castTo } from '../ops/cast';
import { DType } from '../tensor/dtype';
import { Device } from '../tensor/device';
import { Tensor } from '../tensor/tensor';

export type Precision = 'bf16' | 'float32';
export const PRECISIONS: readonly Precision[] = ['bf16', 'float32'];

/** The precision used when none is asked for: bf16 on CUDA, float32 on the CPU. */
export function defaultPrecision(device: Device): Precision {
  return device === 'cuda' ? 'bf16' : 'float32';
}

/** Checks a user-given precision for a device; undefined gives the device's default. */
export function resolvePrecision(device: Device, requested?: string): Precision {
  if (requested === undefined) return defaultPrecision(device);
  if (!(PRECISIONS as readonly string[]).includes(requested)) {
    throw new TypeError(`expected one of ${PRECISIONS.join(', ')} for \`precision\` but got ${JSON.stringify(requested)}`);
  }
  if (requested === 'bf16' && device !== 'cuda') {
    throw new RangeError('`precision` bf16 needs device cuda (the CPU backend computes in float32)');
  }
  return requested as Precision;
}

/** The dtype activations take for parameters of dtype paramDType under a precision. */
export function activationDType(precision: Precision, paramDType: DType): DType {
  return precision === 'bf16' && paramDType === 'float32' ? 'bfloat16' : paramDType;
}

/** The casts made by the innermost running withParamCasts, by parameter. */
let paramCasts: Map<Tensor, Tensor> | null = null;

/**
 * Runs fn with each of `params` not already of `dtype` cast to it in one differentiable call, so
 * that useParam returns those casts instead of casting again. Inside another withParamCasts the
 * outer casts stay in use and nothing is cast again.
 */
export function withParamCasts<T>(params: readonly Tensor[], dtype: DType, fn: () => T): T {
  const todo = paramCasts === null ? params.filter((p) => p.dtype !== dtype) : [];
  if (todo.length === 0) return fn();
  const casts = castAllTo(todo, dtype);
  paramCasts = new Map(todo.map((p, i) => [p, casts[i]]));
  try {
    return fn();
  } finally {
    paramCasts = null;
  }
}

/**
 * A parameter as the layer input x needs it: itself, its cast made by withParamCasts, or a
 * differentiable cast to x's dtype.
 */
export function useParam(p: Tensor, x: Tensor): Tensor {
  const cast = paramCasts?.get(p);
  return cast !== undefined && cast.dtype === x.dtype ? cast : castTo(p, x.dtype);
}

/** Enters the model: images cast to the activation dtype. */
export function toActivations(imgs: Tensor, precision: Precision, paramDType: DType): Tensor {
  return castTo(imgs, activationDType(precision, paramDType));
}

/** Leaves the model: outputs (losses, logits, features) in the parameters' dtype. */
export function toOutput(t: Tensor, paramDType: DType): Tensor {
  return castTo(t, paramDType);
}
