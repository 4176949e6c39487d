// Randomised bad input: every native export and every public TS function is called with wrong
// types, shapes and values, and each call must throw a JS error (never crash or hang).
import { describe, expect, it } from 'vitest';

import { native } from '../lib/binding';
import * as api from '../lib/index';
import { zeros } from '../lib/tensor/tensor';

function show(v: unknown): string {
  try {
    return typeof v === 'symbol' ? v.toString() : String(v);
  } catch {
    return typeof v;
  }
}

function rng(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

// Exports that take no arguments or are total queries: nothing to get wrong.
const TOTAL = new Set(['backends', 'synchronize', 'emptyCache', 'isAlive', 'kernels', 'gemmAutoChoices', 'gemmAutoReset']);
// Exports for which a random argument may be a valid call where CUDA runs: timerBegin(2.5) holds
// the stream 2.5 µs, and the emulated build's emuSelfTest(name) answers any single string.
const VALID_WITH_A_GPU = new Set(['timerBegin', 'timerEnd', 'emuSelfTest']);

describe('bad input never crashes', () => {
  const dead = native.alloc(0, 0, 4);
  native.free(dead);
  const garbage: unknown[] = [undefined, null, -1, 2.5, NaN, Infinity, -1e20, 1e300, 7, 'cpu', '', {}, [], [1, -2],
    () => 1, Symbol('x'), 10n, new Float32Array(3), true, dead];

  it('native exports throw a JS error for random wrong arguments', () => {
    const rand = rng(12345);
    let calls = 0;
    for (const name of Object.keys(native) as (keyof typeof native)[]) {
      if (TOTAL.has(name) || (VALID_WITH_A_GPU.has(name) && native.backends().cuda.usable)) continue;
      const fn = native[name] as (...a: unknown[]) => unknown;
      for (let trial = 0; trial < 60; trial++) {
        const n = 1 + Math.floor(rand() * 16);
        const args = Array.from({ length: n }, () => garbage[Math.floor(rand() * garbage.length)]);
        if (name === 'free' && args[0] === dead) args[0] = 3;
        if (name === 'gemmPaths' && n === 1 && typeof args[0] === 'boolean') continue; // gemmPaths(reset) is valid
        expect(() => fn(...args), `${name}(${args.map(show).join(', ')})`).toThrow();
        calls++;
      }
    }
    expect(calls).toBeGreaterThan(500);
  });

  it('native ops reject live buffers of the wrong size, dtype and device', () => {
    const f32 = native.alloc(0, 0, 6);
    const i32 = native.alloc(0, 4, 6);
    expect(() => native.gemm(f32, f32, f32, null, 3, 3, 3, false, false, 1, 0, 1, 9, 9, 9)).toThrow(RangeError);
    expect(() => native.gemm(f32, i32, f32, null, 2, 3, 2, false, false, 1, 0, 1, 4, 6, 6)).toThrow(TypeError);
    expect(() => native.binary(0, f32, f32, native.alloc(0, 0, 4))).toThrow(RangeError);
    expect(() => native.binary(9, f32, f32, f32)).toThrow(RangeError);
    expect(() => native.sum(f32, f32, 2, 3, 0, 1, false)).toThrow(RangeError);
    expect(() => native.cast(f32, native.alloc(0, 0, 5))).toThrow(RangeError);
    expect(() => native.upload(f32, new Float32Array(5))).toThrow(RangeError);
    expect(() => native.download(f32, new Float64Array(6))).toThrow(RangeError);
    expect(() => native.alloc(0, 0, 2 ** 45)).toThrow(RangeError);
    if (!native.backends().cuda.usable) {
      expect(() => native.alloc(1, 0, 4)).toThrow(/cuda|CUDA/);
    }
    native.free(f32);
    native.free(i32);
  });

  it('public TS functions throw a JS error for random wrong arguments', () => {
    const rand = rng(777);
    const disposed = zeros([2]);
    disposed.dispose();
    // No value here is valid in any first position, so every call must throw.
    const pool: unknown[] = [undefined, null, -1, 2.5, NaN, 'x', {}, ['a'], [{}], disposed, true, Symbol('s')];
    const fns: [string, (...a: unknown[]) => unknown][] = [
      ['tensor', api.tensor as never], ['zeros', api.zeros as never], ['full', api.full as never], ['empty', api.empty as never],
      ['fromNdarray', api.fromNdarray as never], ['tidy', api.tidy as never],
      ...Object.entries(api.ops).filter(([, f]) => typeof f === 'function').map(([k, f]) => [`ops.${k}`, f] as [string, (...a: unknown[]) => unknown]),
    ];
    for (const [name, fn] of fns) {
      for (let trial = 0; trial < 40; trial++) {
        const n = 1 + Math.floor(rand() * 4);
        const args: unknown[] = Array.from({ length: n }, () => pool[Math.floor(rand() * pool.length)]);
        if (!args.some((a) => a !== undefined)) args[0] = null;
        expect(() => fn(...args), `${name}(${args.map(show).join(', ')})`).toThrow();
      }
    }
  });
});
