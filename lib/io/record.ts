// Plain tensor records exchanged by the checkpoint readers and writers (no native addon, no Tensor
// class): a dtype, a shape and the little-endian, contiguous, row-major bytes. Also a random-access
// byte source (a file descriptor or an in-memory buffer) that the readers use so that they never
// load more than they need and never read past the end of their input.

import * as fs from 'fs';
import { DType, DTYPE_BYTES, bf16BitsToFloat, f16BitsToFloat } from '../tensor/dtype';

export interface TensorRecord {
  dtype: DType;
  shape: number[];
  /** numel * DTYPE_BYTES[dtype] bytes, little-endian, row-major. May be a view (honour byteOffset). */
  data: Uint8Array;
}

/** Number of elements (1 for a scalar, shape []). */
export function recordNumel(r: { shape: readonly number[] }): number {
  let n = 1;
  for (const d of r.shape) n *= d;
  return n;
}

/** A float32 record holding a copy of `values` (length must equal the product of `shape`). */
export function float32Record(shape: readonly number[], values: Float32Array): TensorRecord {
  const n = recordNumel({ shape });
  if (values.length !== n) {
    throw new Error(`float32Record: shape [${shape.join(',')}] needs ${n} values, got ${values.length}`);
  }
  const data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  return { dtype: 'float32', shape: [...shape], data };
}

/** The record's values as float32 (float64 and 64-bit ints are rounded; 16-bit floats widened). */
export function recordToFloat32(r: TensorRecord): Float32Array {
  const n = recordNumel(r);
  const size = DTYPE_BYTES[r.dtype];
  if (r.data.byteLength !== n * size) {
    throw new Error(`recordToFloat32: ${r.dtype} [${r.shape.join(',')}] needs ${n * size} bytes, got ${r.data.byteLength}`);
  }
  const out = new Float32Array(n);
  const v = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
  switch (r.dtype) {
    case 'float32':
      if (HOST_LE) new Uint8Array(out.buffer).set(r.data);
      else for (let i = 0; i < n; i++) out[i] = v.getFloat32(4 * i, true);
      break;
    case 'float64':
      for (let i = 0; i < n; i++) out[i] = v.getFloat64(8 * i, true);
      break;
    case 'float16':
      for (let i = 0; i < n; i++) out[i] = f16BitsToFloat(v.getUint16(2 * i, true));
      break;
    case 'bfloat16':
      for (let i = 0; i < n; i++) out[i] = bf16BitsToFloat(v.getUint16(2 * i, true));
      break;
    case 'int32':
      for (let i = 0; i < n; i++) out[i] = v.getInt32(4 * i, true);
      break;
    case 'int64':
      for (let i = 0; i < n; i++) out[i] = Number(v.getBigInt64(8 * i, true));
      break;
  }
  return out;
}

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Random-access, bounds-checked reads from a file or a buffer. */
export interface ByteSource {
  /** What error messages call the input (the path, or '<buffer>'). */
  readonly label: string;
  readonly size: number;
  /** A fresh copy of bytes [offset, offset + length); throws if that range is not inside the source. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

export function openByteSource(src: string | Uint8Array, label?: string): ByteSource {
  if (typeof src !== 'string') {
    const buf = src;
    const name = label ?? '<buffer>';
    return {
      label: name,
      size: buf.byteLength,
      read(offset, length) {
        checkRange(name, buf.byteLength, offset, length);
        return buf.slice(offset, offset + length);
      },
      close() { /* nothing to release */ },
    };
  }
  const path = src;
  const fd = fs.openSync(path, 'r');
  let size: number;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path}: not a regular file`);
    size = st.size;
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  let open = true;
  return {
    label: label ?? path,
    size,
    read(offset, length) {
      if (!open) throw new Error(`${path}: read after close`);
      checkRange(path, size, offset, length);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const chunk = Math.min(length - done, 1 << 30);
        const got = fs.readSync(fd, out, done, chunk, offset + done);
        if (got <= 0) throw new Error(`${path}: unexpected end of file at byte ${offset + done} (file changed while reading?)`);
        done += got;
      }
      return out;
    },
    close() {
      if (open) { open = false; fs.closeSync(fd); }
    },
  };
}

function checkRange(label: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new Error(`${label}: read of ${length} bytes at offset ${offset} is outside the ${size}-byte input (truncated?)`);
  }
}
