// Argument validation with one message shape: "<op>: expected X for `name` but got Y".
import { DType, isDType } from '../tensor/dtype';

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `array [${v.slice(0, 6).map(describe).join(', ')}${v.length > 6 ? ', ...' : ''}]`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

export function fail(op: string, expected: string, name: string, got: unknown, Kind: ErrorConstructor = TypeError): never {
  throw new Kind(`${op}: expected ${expected} for \`${name}\` but got ${describe(got)}`);
}

export function checkInt(op: string, name: string, v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(op, 'an integer', name, v);
  if (v < min || v > max) fail(op, `an integer in [${min}, ${max}]`, name, v, RangeError);
  return v;
}

export function checkNumber(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v)) fail(op, 'a number', name, v);
  return v;
}

export function checkFinite(op: string, name: string, v: unknown): number {
  checkNumber(op, name, v);
  if (!Number.isFinite(v as number)) fail(op, 'a finite number', name, v, RangeError);
  return v as number;
}

export function checkBool(op: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') fail(op, 'a boolean', name, v);
  return v;
}

export function checkShape(op: string, name: string, v: unknown): number[] {
  if (!Array.isArray(v)) fail(op, 'a shape (array of non-negative integers)', name, v);
  for (const d of v) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > 2 ** 40) {
      fail(op, 'a shape (array of non-negative integers)', name, v, typeof d === 'number' ? RangeError : TypeError);
    }
  }
  if (v.length > 8) fail(op, 'a shape of at most 8 dimensions', name, v, RangeError);
  return v.slice() as number[];
}

export function checkDType(op: string, name: string, v: unknown): DType {
  if (!isDType(v)) fail(op, 'one of float32, float64, bfloat16, float16, int32, int64', name, v);
  return v;
}

export function checkOneOf<T extends string>(op: string, name: string, v: unknown, options: readonly T[]): T {
  if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) fail(op, `one of ${options.join(', ')}`, name, v);
  return v as T;
}
