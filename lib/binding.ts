// The only module that loads the native addon (build/Release/convmae.node), and the typed
// declaration of every export in native/addon.cc. Tensors wrap the opaque buffer handles.
import * as path from 'path';

import { packageRoot } from './util/package_root';

/** An opaque native buffer (a type-tagged N-API External). */
export type NativeBuffer = { readonly __nativeBuffer: unique symbol };

export interface NativeMemory {
  buffers: number;
  bytes: number;
  peakBytes: number;
  driverAllocs?: number;
  driverFrees?: number;
  reservedBytes?: number;
  cachedBytes?: number;
}

export interface NativeBackends {
  cpu: { compiled: boolean; usable: boolean; threads: number; hardwareConcurrency: number };
  cuda: {
    compiled: boolean; usable: boolean; reason: string; name: string; deviceCount: number;
    computeCapability: string; totalBytes: number; freeBytes: number; runtimeVersion: number; driverVersion: number;
  };
}

export interface Native {
  /** Allocates `numel` uninitialised elements; device 0 = cpu, 1 = cuda; dtype codes in dtype.ts. */
  alloc(device: number, dtype: number, numel: number): NativeBuffer;
  /** Frees a buffer now (idempotent). */
  free(buf: NativeBuffer): void;
  /** Whether a buffer is still allocated. */
  isAlive(buf: NativeBuffer): boolean;
  /** Copies a host TypedArray (same byte length) into a buffer. */
  upload(dst: NativeBuffer, src: ArrayBufferView): void;
  /** Copies a buffer into a host TypedArray (same byte length). */
  download(src: NativeBuffer, dst: ArrayBufferView): void;
  /** Copies between buffers of one dtype and size, across devices too. */
  copy(dst: NativeBuffer, src: NativeBuffer): void;
  /** Live buffers, bytes and peak bytes of one device (plus allocator counters on cuda). */
  memory(device: number): NativeMemory;
  /** Resets a device's peak to its current bytes. */
  resetPeak(device: number): void;
  /** What each backend is compiled with and whether it can run. */
  backends(): NativeBackends;
  /** Waits for queued CUDA work. */
  synchronize(): void;
  /** Returns cached CUDA blocks to the driver. */
  emptyCache(): void;
  /** out[i] = value. */
  fill(out: NativeBuffer, value: number): void;
  /** out = convert(input). */
  cast(out: NativeBuffer, input: NativeBuffer): void;
  /** out = a (add|sub|mul|div = 0..3) b, b tiled over a. */
  binary(kind: number, out: NativeBuffer, a: NativeBuffer, b: NativeBuffer): void;
  /** out = alpha * input + beta. */
  scale(out: NativeBuffer, input: NativeBuffer, alpha: number, beta: number): void;
  /** C = alpha op(A) op(B) + beta C + bias, batched with strides. */
  gemm(c: NativeBuffer, a: NativeBuffer, b: NativeBuffer, bias: NativeBuffer | null, m: number, n: number, k: number,
    transA: boolean, transB: boolean, alpha: number, beta: number, batch: number, strideA: number, strideB: number,
    strideC: number): void;
  /** Sum of a [rows, cols] tensor over axis 0 or 1, times scale, optionally accumulated. */
  sum(out: NativeBuffer, input: NativeBuffer, rows: number, cols: number, axis: number, scale: number,
    accumulate: boolean): void;
}

function load(): Native {
  const override = process.env.CONVMAE_ADDON;
  const tried: string[] = [];
  if (override) {
    tried.push(override);
    try {
      return require(path.resolve(override)) as Native;
    } catch (e) {
      throw new Error(loadMessage(tried, e));
    }
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const bindings = require('bindings') as (opts: { bindings: string; module_root: string }) => Native;
    return bindings({ bindings: 'convmae', module_root: packageRoot });
  } catch (e) {
    tried.push(path.join(packageRoot, 'build', 'Release', 'convmae.node'), '(and the other places `bindings` looks)');
    throw new Error(loadMessage(tried, e));
  }
}

function loadMessage(tried: string[], e: unknown): string {
  const why = e instanceof Error ? e.message.split('\n').slice(0, 6).join('\n    ') : String(e);
  return [
    'convmae: could not load the native addon convmae.node.',
    `  tried: ${tried.join(', ')}`,
    `  error: ${why}`,
    '  fix: build it with `npm rebuild convmae` (or `npm run build:native` in a clone); this needs cmake >= 3.18,',
    '       a C++17 compiler and, for GPU support, the CUDA toolkit (nvcc) on PATH. Set CONVMAE_ADDON to load a',
    '       prebuilt convmae.node from another path.',
  ].join('\n');
}

export const native: Native = load();
