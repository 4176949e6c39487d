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
  /** Page-locked host memory held to stage uploads to the device. */
  pinnedBytes?: number;
  /** Times the host has waited for the GPU so far (synchronize, downloads, item(), emptyCache). */
  streamWaits?: number;
}

export interface NativeBackends {
  cpu: { compiled: boolean; usable: boolean; threads: number; hardwareConcurrency: number };
  cuda: {
    compiled: boolean; usable: boolean; reason: string; name: string; deviceCount: number;
    computeCapability: string; multiprocessors: number; totalBytes: number; freeBytes: number; runtimeVersion: number;
    driverVersion: number;
    /** Whether the Hopper wgmma GEMM can run here (else gemm's wgmma family runs the mma kernels). */
    wgmma: boolean;
    /** Whether this is a sweep build (CONVMAE_GEMM_SWEEP=1): the alternative GEMM tilings (bench/gemm_sweep.ts) and attention's CONVMAE_ATTENTION_WARPS (bench/op_timings.ts). */
    gemmSweep: boolean;
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
  /** CUDA only: holds the stream for holdMicros µs, then records a start event (cuda/timer.cu). */
  timerBegin(holdMicros: number): void;
  /** CUDA only: records a stop event, waits for it, and returns the ms since timerBegin's event. */
  timerEnd(): number;
  /** Returns cached CUDA blocks to the driver. */
  emptyCache(): void;
  /** The gemm family auto's choices so far (cuda/gemm_auto.cu): candidates' best ms, null where one could not run. */
  gemmAutoChoices(): { problem: string; candidates: string[]; ms: (number | null)[]; pick: string }[];
  /** Forgets the gemm family auto's choices: each kind of problem is timed again on its next call. */
  gemmAutoReset(): void;
  /** Calls and output elements of cuda gemm by kernel path since the last reset (native/cuda_api.h GemmPathCounts). */
  gemmPaths(reset: boolean): Record<'tensorCore' | 'plainBf16' | 'plainFloat32', { calls: number; outputs: number }>;
  /** Chooses the CUDA kernel family of an op (gemm: auto | wgmma | tma | mma | wmma; attention: mma | simt; layernorm: rows | warp; dwconv: cells | taps). */
  setKernel(op: string, name: string): void;
  /** The CUDA kernel family each op runs now. */
  kernels(): { gemm: string; attention: string; layernorm: string; dwconv: string };
  /** out[i] = value. */
  fill(out: NativeBuffer, value: number): void;
  /** out = convert(input). */
  cast(out: NativeBuffer, input: NativeBuffer): void;
  /** outs[j] = convert(ins[j]) for every pair, in few launches (one device; outs distinct). */
  castMulti(outs: NativeBuffer[], ins: NativeBuffer[]): void;
  /** out = a (add|sub|mul|div = 0..3) b, b tiled over a. */
  binary(kind: number, out: NativeBuffer, a: NativeBuffer, b: NativeBuffer): void;
  /** out = alpha * input + beta. */
  scale(out: NativeBuffer, input: NativeBuffer, alpha: number, beta: number): void;
  /** out[i] = base[i] + s[i / per]·x[i], per = x.numel / s.numel: a factor per sample (base null: 0). */
  sampleScale(out: NativeBuffer, x: NativeBuffer, s: NativeBuffer, base: NativeBuffer | null): void;
  /**
   * C = alpha op(A) op(B) + beta C + bias (+ residual; times gelu'(geluGradOf)), batched with
   * strides; geluOut = gelu(C) when given (native/ops/gemm.h).
   */
  gemm(c: NativeBuffer, a: NativeBuffer, b: NativeBuffer, bias: NativeBuffer | null, m: number, n: number, k: number,
    transA: boolean, transB: boolean, alpha: number, beta: number, batch: number, strideA: number, strideB: number,
    strideC: number, residual?: NativeBuffer | null, geluOut?: NativeBuffer | null, geluGradOf?: NativeBuffer | null): void;
  /** Sum of a [rows, cols] tensor over axis 0 or 1, times scale, optionally accumulated. */
  sum(out: NativeBuffer, input: NativeBuffer, rows: number, cols: number, axis: number, scale: number,
    accumulate: boolean): void;
  /** LayerNorm over the last dim of x [rows, C]: writes y, and mean and rstd [rows] (float32; float64 for float64 x) for the backward. */
  layernorm(y: NativeBuffer, mean: NativeBuffer, rstd: NativeBuffer, x: NativeBuffer, gamma: NativeBuffer, beta: NativeBuffer, rows: number, C: number, eps: number): void;
  /** LayerNorm backward: writes dx [rows, C] (=, or += with accumulate), dgamma and dbeta [C] (=). */
  layernormBackward(dx: NativeBuffer, dgamma: NativeBuffer, dbeta: NativeBuffer, dy: NativeBuffer, x: NativeBuffer, mean: NativeBuffer, rstd: NativeBuffer, gamma: NativeBuffer, rows: number, C: number,
    accumulate?: boolean): void;
  /** y = 0.5 x (1 + erf(x / √2)), elementwise. */
  gelu(y: NativeBuffer, x: NativeBuffer): void;
  /** dx = dy · gelu'(x), elementwise. */
  geluBackward(dx: NativeBuffer, dy: NativeBuffer, x: NativeBuffer): void;
  /** Copies `rows` rows of width C from src (starting at row srcRowOffset) into dst (starting at row dstRowOffset). */
  copyRows(dst: NativeBuffer, dstRowOffset: number, src: NativeBuffer, srcRowOffset: number, rows: number, C: number): void;
  /** Multi-head self-attention: out [N, L, H*Dh] and the float32 row log-sum-exp lse [N, H, L] from qkv [N, L, 3*H*Dh]. */
  attention(out: NativeBuffer, lse: NativeBuffer, qkv: NativeBuffer, N: number, L: number, H: number, Dh: number, scale: number): void;
  /** Attention backward: writes dqkv [N, L, 3*H*Dh] (=) from dout, qkv and the forward's out and lse. */
  attentionBackward(dqkv: NativeBuffer, dout: NativeBuffer, qkv: NativeBuffer, out: NativeBuffer, lse: NativeBuffer, N: number, L: number, H: number, Dh: number, scale: number): void;
  /** loss[0] = Σ mask·mean_P (pred − t̂)² / Σ mask over rows [rows, P]; t̂ is the row-normalised target with normPix. */
  maskedMseLoss(loss: NativeBuffer, pred: NativeBuffer, target: NativeBuffer, mask: NativeBuffer, rows: number, P: number, normPix: boolean): void;
  /** Masked MSE backward: writes dpred [rows, P] (=) given dloss [1]. */
  maskedMseLossBackward(dpred: NativeBuffer, dloss: NativeBuffer, pred: NativeBuffer, target: NativeBuffer, mask: NativeBuffer, rows: number, P: number, normPix: boolean): void;
  /** loss[0] = mean_n Σ_c −targets·log_softmax(logits) over [N, C] (soft targets). */
  crossEntropy(loss: NativeBuffer, logits: NativeBuffer, targets: NativeBuffer, N: number, C: number): void;
  /** Cross-entropy backward: dlogits = (softmax·Σ_c t − t)·dloss/N (=). */
  crossEntropyBackward(dlogits: NativeBuffer, dloss: NativeBuffer, logits: NativeBuffer, targets: NativeBuffer, N: number, C: number): void;
  /** One AdamW step (decoupled weight decay), in place on float32 param, m and v. */
  adamw(param: NativeBuffer, grad: NativeBuffer, m: NativeBuffer, v: NativeBuffer, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void;
  /** adamw over many parameters at once (per-tensor lr and weight decay), in few launches. */
  adamwMulti(params: NativeBuffer[], grads: NativeBuffer[], ms: NativeBuffer[], vs: NativeBuffer[], lrs: number[], weightDecays: number[],
    beta1: number, beta2: number, eps: number, step: number): void;
  /** Depthwise ksize² conv (padding ksize/2, bias) on visible-block rows [N*K*t*t, C], neighbours read through `table`. */
  dwconvRows(out: NativeBuffer, x: NativeBuffer, cells: NativeBuffer, table: NativeBuffer, weight: NativeBuffer, bias: NativeBuffer, N: number, K: number, G: number, t: number, C: number, ksize: number): void;
  /** dwconvRows backward for the input: writes dx [N*K*t*t, C] (=). */
  dwconvRowsBackwardInput(dx: NativeBuffer, dy: NativeBuffer, cells: NativeBuffer, table: NativeBuffer, weight: NativeBuffer, N: number, K: number, G: number, t: number, C: number, ksize: number): void;
  /** dwconvRows backward for the parameters: writes dweight [C, 1, ksize, ksize] and dbias [C] (=). */
  dwconvRowsBackwardWeight(dweight: NativeBuffer, dbias: NativeBuffer, dy: NativeBuffer, x: NativeBuffer, cells: NativeBuffer, table: NativeBuffer, N: number, K: number, G: number, t: number, C: number, ksize: number): void;
  /** Rows [blocks*t*t, C] -> aligned k×k patches [blocks*(t/k)², C*k*k] (columns c*k*k + a*k + b). */
  rowsToPatches(out: NativeBuffer, x: NativeBuffer, blocks: number, t: number, k: number, C: number): void;
  /** Inverse of rowsToPatches (its gradient): patches -> rows (=). */
  patchesToRows(dx: NativeBuffer, dout: NativeBuffer, blocks: number, t: number, k: number, C: number): void;
  /** Image [N, C, H, W] (H = W = G*t*k) -> the k×k pixel patches of the visible rows [N*K*t*t, C*k*k]. */
  imageToRows(out: NativeBuffer, img: NativeBuffer, cells: NativeBuffer, N: number, K: number, G: number, t: number, C: number, H: number, W: number): void;
  /** Image [N, C, H, W] -> [N, (H/p)*(W/p), p*p*C], channel fastest (the MAE target layout). */
  patchify(out: NativeBuffer, img: NativeBuffer, N: number, C: number, H: number, W: number, p: number): void;
  /** Visible rows [N*K*t*t, C] -> zero-filled map [N, C, G*t, G*t]. */
  rowsToMap(out: NativeBuffer, x: NativeBuffer, cells: NativeBuffer, N: number, K: number, G: number, t: number, C: number): void;
  /** Map [N, C, G*t, G*t] -> its visible rows [N*K*t*t, C] (the gradient of rowsToMap). */
  mapToRows(dx: NativeBuffer, dout: NativeBuffer, cells: NativeBuffer, N: number, K: number, G: number, t: number, C: number): void;
  /** out[b·T + l] = (src ≥ 0 ? x[src] : mask) + pos[l] over rows of width C; src int32 [N·T] in [-1, R) (the MAE decoder's input). */
  unshuffleTokens(out: NativeBuffer, x: NativeBuffer, mask: NativeBuffer, pos: NativeBuffer, src: NativeBuffer, N: number, T: number, R: number, C: number): void;
  /** out[m] = x[idx[m]] over rows of width C; idx int32 [M] in [0, R). */
  gatherRows(out: NativeBuffer, x: NativeBuffer, idx: NativeBuffer, M: number, R: number, C: number): void;
  /** dx[idx[m]] += dy[m] (repeated indices summed; dx zeroed by the caller). */
  scatterAddRows(dx: NativeBuffer, dy: NativeBuffer, idx: NativeBuffer, M: number, R: number, C: number): void;
  /** 2×2 max pool, stride 2, of [N, C, H, W]; argmax int32 holds y*W + x in the plane (ties: first). */
  maxPool2x2(out: NativeBuffer, argmax: NativeBuffer, x: NativeBuffer, N: number, C: number, H: number, W: number): void;
  /** maxPool2x2 backward: dx = dout at each argmax, 0 elsewhere (=). */
  maxPool2x2Backward(dx: NativeBuffer, dout: NativeBuffer, argmax: NativeBuffer, N: number, C: number, H: number, W: number): void;
  /** Only in the CUDA emulator's build (emu/): runs one of its rule-breaking self-test kernels. */
  emuSelfTest?(name: string): string;
  /** Only in the emulator's profile build (CONVMAE_EMU_PROFILE=1): 'start' records every kernel's
   *  memory accesses; 'stop' returns each code site's warp-wide requests, scored (emu/access_profile.h). */
  emuAccessProfile?(action: 'start' | 'stop'): EmuAccessSite[] | undefined;
}

/** One code site's memory requests, from the emulator's profile build (emuAccessProfile). */
export interface EmuAccessSite {
  /** The kernel launch it ran in: "file.cu:line kernel" (the launch's source line and kernel expression). */
  launch: string;
  /** The shared object and the offset in it of the access (addr2line -e module offset). */
  module: string;
  offset: number;
  space: 'shared' | 'global';
  store: boolean;
  requests: number;
  laneAccesses: number;
  bytes: number;
  /** Shared: wavefronts (bank conflicts add to them); global: 32-byte sectors. */
  transactions: number;
  /** The fewest wavefronts or sectors the same bytes could take. */
  ideal: number;
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
