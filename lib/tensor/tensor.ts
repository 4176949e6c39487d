// Tensor: a shape, a dtype and a device over contiguous native storage. Views (reshape) share the
// storage, which is freed when the last tensor over it is disposed. Memory is explicit: dispose()
// frees at once, tidy() frees what a function created, and a finalizer is only the last resort.
import ndarray from 'ndarray';

import { native, NativeBuffer } from '../binding';
import { checkDType, checkShape, describe, fail } from '../util/check';
import { Device, DEVICE_CODE, DEVICES } from './device';
import { DType, DTYPE_BYTES, DTYPE_CODE, HostArray, hostArrayFor } from './dtype';
import { track } from './scope';

// The last resort for memory: frees the buffer of a storage the garbage collector took while a
// tensor over it was never disposed (the native handles carry no finalizer: native/buffer.cc).
const storageFinalizer = new FinalizationRegistry<NativeBuffer>((handle) => native.free(handle));

class Storage {
  refs = 1;
  private guarded = false;
  constructor(readonly handle: NativeBuffer, readonly device: Device) {}
  /** A tensor over it may be dropped undisposed: free the buffer if the collector takes it. */
  guard(): void {
    if (this.guarded || this.refs === 0) return;
    this.guarded = true;
    storageFinalizer.register(this, this.handle, this);
  }
  release(): void {
    if (--this.refs !== 0) return;
    if (this.guarded) storageFinalizer.unregister(this);
    native.free(this.handle);
  }
}

const live: Record<Device, number> = { cpu: 0, cuda: 0 };
// Counts a tensor that was garbage-collected without dispose(). Only tensors no tidy scope owns are
// registered, here and for their storage (scope.ts unowned): a scope disposes the rest itself, and
// registering every tensor cost about half of each allocation.
const finalizer = new FinalizationRegistry<Device>((device) => {
  live[device] -= 1;
});

export function liveTensorCount(device: Device): number {
  return live[device];
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export type TensorData = HostArray | number[];

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
}

function typedArrayDType(a: unknown): DType | null {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  return null;
}

export function checkDevice(op: string, name: string, v: unknown): Device {
  if (typeof v !== 'string' || !(DEVICES as readonly string[]).includes(v)) fail(op, "'cpu' or 'cuda'", name, v);
  return v as Device;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;
  /** Accumulated gradient of a leaf tensor (see autograd/tape.ts); kept outside tidy scopes. */
  grad: Tensor | null = null;
  private storage: Storage | null;
  private registered = false;

  /** @internal Use the factory functions (tensor, zeros, empty, fromNdarray). */
  constructor(storage: Storage, shape: readonly number[], dtype: DType) {
    this.storage = storage;
    this.shape = Object.freeze(shape.slice());
    this.dtype = dtype;
    this.device = storage.device;
    live[this.device] += 1;
    track(this);
  }

  /** @internal No tidy scope will dispose this tensor: the finalizer counts it if it is collected. */
  unowned(): void {
    if (this.registered || this.storage === null) return;
    this.registered = true;
    finalizer.register(this, this.device, this);
    this.storage.guard();
  }

  /** @internal Allocates uninitialised storage. */
  static allocate(shape: readonly number[], dtype: DType, device: Device): Tensor {
    const handle = native.alloc(DEVICE_CODE[device], DTYPE_CODE[dtype], numelOf(shape));
    return new Tensor(new Storage(handle, device), shape, dtype);
  }

  get numel(): number {
    return numelOf(this.shape);
  }
  get rank(): number {
    return this.shape.length;
  }
  get bytes(): number {
    return this.numel * DTYPE_BYTES[this.dtype];
  }
  get disposed(): boolean {
    return this.storage === null;
  }

  /** @internal The native buffer; throws once disposed. */
  handle(op = 'tensor'): NativeBuffer {
    if (this.storage === null) {
      throw new Error(`${op}: tensor of shape [${this.shape.join(', ')}] was used after dispose()`);
    }
    return this.storage.handle;
  }

  /** Frees the storage now (once no other view holds it). Idempotent. */
  dispose(): void {
    if (this.storage === null) return;
    const s = this.storage;
    this.storage = null;
    live[this.device] -= 1;
    if (this.registered) finalizer.unregister(this);
    s.release();
  }

  /** A tensor of another shape over the same storage (element counts must match). */
  reshape(shape: readonly number[]): Tensor {
    const s = checkShape('reshape', 'shape', shape);
    if (numelOf(s) !== this.numel) {
      throw new RangeError(`reshape: cannot view [${this.shape.join(', ')}] (${this.numel} elements) as [${s.join(', ')}]`);
    }
    const storage = this.storage;
    if (storage === null) this.handle('reshape');
    storage!.refs += 1;
    return new Tensor(storage!, s, this.dtype);
  }

  /** Copies the data to a new host TypedArray (Uint16Array bits for bfloat16/float16). */
  toTypedArray(): HostArray {
    const out = hostArrayFor(this.dtype, this.numel);
    native.download(this.handle('toTypedArray'), out);
    return out;
  }

  /** The values as float32 (casting on the tensor's device when needed). */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return this.toTypedArray() as Float32Array;
    const t = this.cast('float32');
    try {
      return t.toTypedArray() as Float32Array;
    } finally {
      t.dispose();
    }
  }

  /** The values as an ndarray over a host copy. */
  toNdarray(): ndarray.NdArray {
    return ndarray(this.toTypedArray() as never, this.shape.slice());
  }

  /** A scalar tensor's value (any shape with one element). */
  item(): number {
    if (this.numel !== 1) throw new RangeError(`item: tensor has ${this.numel} elements, not 1`);
    const v = this.toFloat32OrFloat64()[0];
    return Number(v);
  }

  private toFloat32OrFloat64(): Float32Array | Float64Array {
    return this.dtype === 'float64' ? (this.toTypedArray() as Float64Array) : this.toFloat32Array();
  }

  /** A copy on another device (or a plain copy on the same one). */
  to(device: Device): Tensor {
    checkDevice('to', 'device', device);
    const out = Tensor.allocate(this.shape, this.dtype, device);
    native.copy(out.handle('to'), this.handle('to'));
    return out;
  }

  /** A copy converted to another dtype (same device). */
  cast(dtype: DType): Tensor {
    checkDType('cast', 'dtype', dtype);
    const out = Tensor.allocate(this.shape, dtype, this.device);
    native.cast(out.handle('cast'), this.handle('cast'));
    return out;
  }

  clone(): Tensor {
    return this.to(this.device);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}], ${this.device}${this.disposed ? ', disposed' : ''})`;
  }
}

/** A tensor from host data: a TypedArray (dtype inferred) or a number array (float32 unless told). */
export function tensor(data: TensorData, shape?: readonly number[], opts: TensorOptions = {}): Tensor {
  const device = checkDevice('tensor', 'device', opts.device ?? 'cpu');
  const inferred = typedArrayDType(data);
  if (!Array.isArray(data) && !ArrayBuffer.isView(data)) fail('tensor', 'a TypedArray or number[]', 'data', data);
  if (Array.isArray(data) && data.some((x) => typeof x !== 'number')) {
    fail('tensor', 'an array of numbers', 'data', data);
  }
  const dtype = opts.dtype !== undefined ? checkDType('tensor', 'dtype', opts.dtype) : inferred ?? 'float32';
  const n = (data as ArrayLike<unknown>).length;
  const s = shape === undefined ? [n] : checkShape('tensor', 'shape', shape);
  if (numelOf(s) !== n) {
    throw new RangeError(`tensor: \`shape\` [${s.join(', ')}] needs ${numelOf(s)} elements but \`data\` has ${n}`);
  }
  let host: HostArray;
  if (Array.isArray(data) || (inferred !== dtype && inferred !== null)) {
    // Convert on the host through float64 / bigint.
    host = hostArrayFor(dtype === 'bfloat16' || dtype === 'float16' ? 'float32' : dtype, n);
    for (let i = 0; i < n; i++) {
      const v = (data as ArrayLike<number | bigint>)[i];
      (host as unknown as (number | bigint)[])[i] = host instanceof BigInt64Array ? BigInt(Math.trunc(Number(v))) : Number(v);
    }
    if (dtype === 'bfloat16' || dtype === 'float16') {
      const f = Tensor.allocate(s, 'float32', 'cpu');
      native.upload(f.handle(), host);
      const c = f.cast(dtype);
      f.dispose();
      if (device === 'cpu') return c;
      const d = c.to(device);
      c.dispose();
      return d;
    }
  } else if (inferred === null) {
    if (!(data instanceof Uint16Array) || (dtype !== 'bfloat16' && dtype !== 'float16')) {
      fail('tensor', 'a Float32Array, Float64Array, Int32Array, BigInt64Array, number[] or (for bfloat16/float16) Uint16Array bits', 'data', data);
    }
    host = data as Uint16Array;
  } else {
    host = data as HostArray;
  }
  const out = Tensor.allocate(s, dtype, device);
  native.upload(out.handle('tensor'), host);
  return out;
}

/** An uninitialised tensor. */
export function empty(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  const s = checkShape('empty', 'shape', shape);
  return Tensor.allocate(s, checkDType('empty', 'dtype', opts.dtype ?? 'float32'), checkDevice('empty', 'device', opts.device ?? 'cpu'));
}

/** A tensor filled with one value. */
export function full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
  if (typeof value !== 'number') fail('full', 'a number', 'value', value);
  const s = checkShape('full', 'shape', shape);
  const t = Tensor.allocate(s, checkDType('full', 'dtype', opts.dtype ?? 'float32'), checkDevice('full', 'device', opts.device ?? 'cpu'));
  native.fill(t.handle('full'), value);
  return t;
}

export function zeros(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return full(shape, 0, opts);
}

export function ones(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/** A tensor from an ndarray (copied; any strides). */
export function fromNdarray(arr: ndarray.NdArray, opts: TensorOptions = {}): Tensor {
  if (arr === null || typeof arr !== 'object' || !Array.isArray((arr as ndarray.NdArray).shape)) {
    fail('fromNdarray', 'an ndarray', 'arr', arr);
  }
  const shape = arr.shape.slice();
  const n = numelOf(shape);
  const flat = new Float64Array(n);
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    flat[i] = Number(arr.get(...idx));
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  const src = typedArrayDType(arr.data);
  const dtype = opts.dtype ?? (src === 'float64' ? 'float64' : src === 'int32' ? 'int32' : 'float32');
  return tensor(flat, shape, { dtype, device: opts.device });
}

export function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}

/** Throws the one message shape when v is not a live Tensor. */
export function checkTensor(op: string, name: string, v: unknown): Tensor {
  if (!(v instanceof Tensor)) fail(op, 'a Tensor', name, v);
  if (v.disposed) throw new Error(`${op}: \`${name}\` was used after dispose()`);
  return v;
}

export { describe };
