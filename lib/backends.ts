// What the addon was built with and what can run here: backends(), the default device, and the
// human-readable report `convmae info` prints, and the CUDA kernel-family choices (setKernel).
import { native } from './binding';
import { Device } from './tensor/device';

export interface BackendInfo {
  /** gemm: the CPU gemm's float32 micro-kernel build, "avx2+fma" or "portable" (CONVMAE_CPU_SIMD=0). */
  cpu: { compiled: true; usable: true; threads: number; hardwareConcurrency: number; gemm: 'avx2+fma' | 'portable' };
  cuda: {
    compiled: boolean;
    usable: boolean;
    reason: string;
    name: string;
    deviceCount: number;
    computeCapability: string;
    /** Streaming multiprocessors of the GPU (0 where CUDA is not usable). */
    multiprocessors: number;
    totalBytes: number;
    freeBytes: number;
    runtimeVersion: number;
    driverVersion: number;
    /** Whether the Hopper wgmma GEMM can run here (else gemm's wgmma family runs the mma kernels). */
    wgmma: boolean;
    /** Whether this is a sweep build (CONVMAE_GEMM_SWEEP=1): the alternative GEMM tilings (bench/gemm_sweep.ts) and attention's CONVMAE_ATTENTION_WARPS (bench/op_timings.ts). */
    gemmSweep: boolean;
  };
}

export function backends(): BackendInfo {
  return native.backends() as BackendInfo;
}

/** The CUDA kernel family of each op that has several (native/kernel_choice.h). */
export interface KernelChoices {
  /**
   * auto (the default): for each kind of problem (shape, transposes, epilogue) the fastest of
   * several of the others on this card, timed on its first call (gemmAutoChoices says what it
   * measured and picked); wgmma: Hopper tensor-core GEMM (other cards run mma); tma: the same
   * tensor-core products fed by TMA copies from a producer warp (Hopper; other cards run mma);
   * mma: the sm_80+ tensor-core GEMM with ldmatrix and mma.sync fragments; wmma: the same tiles
   * through the WMMA API.
   */
  gemm: 'auto' | 'wgmma' | 'tma' | 'mma' | 'wmma';
  /** mma: fused tensor-core attention; simt: the fp32 shared/global-memory kernels. */
  attention: 'mma' | 'simt';
  /** rows: a row per warp held in registers, 16-byte accesses; warp: a warp per row, element loads. */
  layernorm: 'rows' | 'warp';
  /**
   * cells: a thread reads a visible cell's window once for two channels (kernel sizes 3 and 5,
   * cells of 2 or 4 positions, even C; other shapes run taps); taps: each output reads its taps.
   */
  dwconv: 'cells' | 'taps';
}

export function kernels(): KernelChoices {
  return native.kernels() as KernelChoices;
}

/**
 * Chooses the CUDA kernel family of an op for the rest of the process (also settable at start
 * with CONVMAE_KERNELS=gemm=wmma,attention=simt,layernorm=warp,dwconv=taps). The defaults are the
 * fast families: gemm auto (over wgmma, tma, tma:4 and tma:5 on Hopper, mma elsewhere), attention
 * mma, layernorm rows, dwconv cells; wmma, simt, warp and taps are the older ones, kept for comparison.
 */
export function setKernel<K extends keyof KernelChoices>(op: K, name: KernelChoices[K]): void {
  native.setKernel(op, name);
}

/** A kind of gemm problem the gemm family auto has timed: its candidates' best times and its pick. */
export interface GemmAutoChoice {
  /** "MxKxN" with the transposes of A and B (N/T), the batch and the epilogue extras. */
  problem: string;
  /** The candidate kernels, family or family:tiling (CONVMAE_GEMM_AUTO, or the card's default list). */
  candidates: string[];
  /** Each candidate's best of three timed runs, in ms on the device clock; null where it could not run. */
  ms: (number | null)[];
  /** The candidate every later call of this kind runs. */
  pick: string;
}

/**
 * What the gemm family auto (setKernel('gemm', 'auto')) has measured and picked so far, a kind of
 * problem at a time. Its candidates come from CONVMAE_GEMM_AUTO (e.g. "wgmma,tma:4"; by default
 * wgmma, tma, tma:4 and tma:5 on a Hopper GPU, else mma alone). Like cuDNN's benchmark mode,
 * the pick rests on timings, so two processes may pick differently and differ in the last bits
 * where the picked kernels split K differently. With reset, every kind is timed again on its
 * next call.
 */
export function gemmAutoChoices(opts: { reset?: boolean } = {}): GemmAutoChoice[] {
  const choices = native.gemmAutoChoices();
  if (opts.reset) native.gemmAutoReset();
  return choices;
}

/** Calls and output elements (batch x m x n) of one kernel path of CUDA gemm. */
export interface GemmPathCount {
  calls: number;
  outputs: number;
}

/** gemmPaths' counts: the tensor-core families, and the plain tiled kernel in bfloat16 and float32. */
export interface GemmPaths {
  tensorCore: GemmPathCount;
  plainBf16: GemmPathCount;
  plainFloat32: GemmPathCount;
}

/**
 * Which kernels CUDA gemm ran its problems on since the process started or the last reset: the
 * tensor-core families (bfloat16 with 16-byte aligned rows), or the plain tiled kernel, for bfloat16
 * problems the tensor cores cannot take (a row length or batch stride not a multiple of 8) and for
 * float32. In a bf16 training step the plain kernel should write a small share of the outputs: a
 * large share means some op reaches gemm with shapes the tensor cores cannot take. All zeros
 * without CUDA.
 */
export function gemmPaths(opts: { reset?: boolean } = {}): GemmPaths {
  return native.gemmPaths(opts.reset ?? false);
}

/** cuda when a GPU is usable, else cpu. */
export function defaultDevice(): Device {
  return backends().cuda.usable ? 'cuda' : 'cpu';
}

function cudaVersion(v: number): string {
  return v ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'none';
}

export function formatBackends(b: BackendInfo = backends()): string {
  const gib = (x: number) => `${(x / 2 ** 30).toFixed(1)} GiB`;
  const lines = [
    `cpu:  compiled yes, usable yes, ${b.cpu.threads} threads, gemm ${b.cpu.gemm}`,
    `cuda: compiled ${b.cuda.compiled ? 'yes' : 'no'}, usable ${b.cuda.usable ? 'yes' : 'no'}` +
      (b.cuda.usable
        ? `, ${b.cuda.name} (sm_${b.cuda.computeCapability.replace('.', '')}, ${b.cuda.multiprocessors} SMs), ${gib(b.cuda.freeBytes)} free of ${gib(b.cuda.totalBytes)}`
        : b.cuda.reason ? ` (${b.cuda.reason})` : ''),
  ];
  if (b.cuda.compiled) {
    lines.push(`      runtime ${cudaVersion(b.cuda.runtimeVersion)}, driver ${cudaVersion(b.cuda.driverVersion)}`);
    lines.push(`      kernels: ${Object.entries(kernels()).map(([op, name]) => `${op} ${name}`).join(', ')}` +
      (b.cuda.usable ? `; wgmma GEMM ${b.cuda.wgmma ? 'available' : 'not available here (the wgmma family runs mma)'}` : ''));
  }
  return lines.join('\n');
}
