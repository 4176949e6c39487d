// Element types of tensors and checkpoints, their sizes, and host conversions for the 16-bit
// float formats (which have no TypedArray of their own: they are held as Uint16Array bits).

export type DType = 'float32' | 'float64' | 'bfloat16' | 'float16' | 'int32' | 'int64';

export const DTYPES: readonly DType[] = ['float32', 'float64', 'bfloat16', 'float16', 'int32', 'int64'];

/** Bytes per element. */
export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4, float64: 8, bfloat16: 2, float16: 2, int32: 4, int64: 8,
};

/** Numeric code shared with native/dtype.h; never reorder. */
export const DTYPE_CODE: Record<DType, number> = {
  float32: 0, float64: 1, bfloat16: 2, float16: 3, int32: 4, int64: 5,
};

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function isFloatDType(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'bfloat16' || d === 'float16';
}

/** The TypedArray a dtype is read into on the host. */
export type HostArray = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array;

export function hostArrayFor(dtype: DType, n: number): HostArray {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'bfloat16': case 'float16': return new Uint16Array(n);
    case 'int32': return new Int32Array(n);
    case 'int64': return new BigInt64Array(n);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 value -> bfloat16 bits, round to nearest even (NaN stays NaN). */
export function floatToBf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToFloat(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/** float16 bits -> number (IEEE 754 half). */
export function f16BitsToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** number -> float16 bits, round to nearest even, overflow to infinity. */
export function floatToF16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  let a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // subnormal: units of 2^-24, ties to even
    const q = a / 2 ** -24;
    let r = Math.round(q);
    if (Math.abs(q - Math.trunc(q) - 0.5) < 1e-12 && r % 2 === 1) r -= 1;
    return sign | r;
  }
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  const frac = a / 2 ** e - 1; // [0,1)
  const q = frac * 1024;
  let m = Math.floor(q);
  const rem = q - m;
  if (rem > 0.5 || (rem === 0.5 && (m & 1) === 1)) m += 1;
  if (m === 1024) { m = 0; e += 1; }
  if (e + 15 >= 31) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}
