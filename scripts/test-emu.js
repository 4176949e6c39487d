#!/usr/bin/env node
// `npm run test:emu`: the CUDA test suites on the CPU emulator (emu/), for machines without a GPU.
// Builds the emulated addon into build-emu/ (the kernels of cuda/ compiled by g++ against the CUDA
// headers; no nvcc or GPU needed), then runs vitest with it six times: the default kernel
// families (the fast ones, gemm auto among them), the older ones (gemm=wmma, attention=simt,
// layernorm=warp, dwconv=taps) on the suites that choose them, gemm=mma (the sm_80+ alternative),
// gemm=tma (TMA-fed wgmma) and gemm=wgmma on the model-level suites (the op suites run every gemm
// family themselves), and the GEMMs whose short last wave splits its rows on an
// emulated card of 4 SMs (CONVMAE_EMU_SMS=4: at 132 those shapes take minutes here).
// Then the sweep build (build-emu-sweep/: every GEMM tiling) with each family's gemm tests at each
// of its other tilings, the check that a tiling variable naming no tiling is refused, and
// attention's mma cases at 4, then 8, warps a block
// (CONVMAE_ATTENTION_WARPS). Last, the profile build (build-emu-prof/: the memory-access profiler
// and the shared-memory race checker) and their tests.
// Skips, saying so, where the CUDA headers are missing. Extra arguments go to every vitest run.
// --asan: the suites with AddressSanitizer instead (build-emu-asan/; every CUDA allocation exactly
// its tensor's size, so a kernel reading or writing past a tensor stops the run with a report).
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const { buildEmulated, cudaHeadersOrSkip, root, runStep } = require('./emu-build');

cudaHeadersOrSkip('test:emu');
const asan = process.argv.includes('--asan');
const extra = process.argv.slice(2).filter((a) => a !== '--asan');
const addon = buildEmulated(asan ? 'build-emu-asan' : 'build-emu', { CONVMAE_EMU_ASAN: asan ? '1' : '0' });
if (!addon) process.exit(1);
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
// Node itself is not instrumented: the sanitizer's runtime is preloaded (leaks at exit are Node's).
const sanitizer = asan ? { LD_PRELOAD: spawnSync('g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim(), ASAN_OPTIONS: 'detect_leaks=0' } : {};
const suites = ['test/emu', 'test/ops', 'test/tensor', 'test/train/optim.test.ts', 'test/train/memory_flat.test.ts', 'test/models/precision.test.ts',
  'test/models/classifier.test.ts', 'test/kernels.test.ts', 'test/bench/op_timings.test.ts'];
const olderSuites = ['test/ops/core_cuda.test.ts', 'test/ops/linear.test.ts', 'test/ops/mlp.test.ts', 'test/ops/gemm_epilogue.test.ts',
  'test/ops/attention.test.ts', 'test/ops/layernorm.test.ts', 'test/models/precision.test.ts', 'test/tensor/cuda_async.test.ts',
  'test/train/memory_flat.test.ts'];
const gemmFamilySuites = ['test/ops/linear.test.ts', 'test/ops/mlp.test.ts', 'test/models/precision.test.ts'];
// test/helpers/devices.ts shortLastWaveShapes: the cases that exist on a card of at most 8 SMs (not
// for gemm auto, which runs the other families' kernels and meets split K in the default run)
const shortWave = ['test/ops/core_cuda.test.ts', 'test/ops/gemm_epilogue.test.ts', '-t', '^(?!.*gemm kernel family auto ).*short last wave'];
const ok = [
  runStep('CUDA suites on the emulator, default (fast) kernel families', [vitest, 'run', ...suites, ...extra], { CONVMAE_ADDON: addon, ...sanitizer }),
  // (core_cuda's and gemm_epilogue's `gemm kernel family` blocks choose their family themselves and
  // ran in the step above: left out here)
  runStep('CUDA suites on the emulator, older kernel families', [vitest, 'run', ...olderSuites, '-t', '^(?!.*gemm kernel family ).*$', ...extra],
    { CONVMAE_ADDON: addon, CONVMAE_KERNELS: 'gemm=wmma,attention=simt,layernorm=warp,dwconv=taps', ...sanitizer }),
  runStep('CUDA suites on the emulator, gemm=mma', [vitest, 'run', ...gemmFamilySuites, ...extra],
    { CONVMAE_ADDON: addon, CONVMAE_KERNELS: 'gemm=mma', ...sanitizer }),
  runStep('CUDA suites on the emulator, gemm=tma', [vitest, 'run', ...gemmFamilySuites, ...extra],
    { CONVMAE_ADDON: addon, CONVMAE_KERNELS: 'gemm=tma', ...sanitizer }),
  runStep('CUDA suites on the emulator, gemm=wgmma', [vitest, 'run', ...gemmFamilySuites, ...extra],
    { CONVMAE_ADDON: addon, CONVMAE_KERNELS: 'gemm=wgmma', ...sanitizer }),
  runStep('GEMMs with a short last wave on an emulated 4-SM card', [vitest, 'run', ...shortWave, ...extra],
    { CONVMAE_ADDON: addon, CONVMAE_EMU_SMS: '4', ...sanitizer }),
];
if (!asan) {
  // The sweep build (CONVMAE_GEMM_SWEEP=1: every GEMM tiling compiled, chosen per call by its
  // variable, bench/gemm_tilings.ts) and each family's gemm tests at each of its other tilings, on
  // an emulated card of 3 SMs (persistent kernels then take several tiles a block, and splits run).
  const sweepAddon = buildEmulated('build-emu-sweep', { CONVMAE_GEMM_SWEEP: '1' });
  const { TILINGS } = require(path.join(root, 'dist', 'bench', 'gemm_tilings.js'));
  ok.push(sweepAddon !== null && Object.entries(TILINGS).every(([family, { env, count }]) => {
    let passed = true;
    for (let t = 1; t < count; t++) {
      passed = runStep(`gemm ${family} tiling ${t} (${env}=${t}) on the sweep build`,
        [vitest, 'run', 'test/ops/core_cuda.test.ts', 'test/ops/gemm_epilogue.test.ts', '-t', `gemm kernel family ${family} `, ...extra],
        { CONVMAE_ADDON: sweepAddon, CONVMAE_EMU_SMS: '3', [env]: String(t) }) && passed;
    }
    return passed;
  }));
  ok.push(sweepAddon !== null && runStep('the tiling variables refused where they name no tiling, on the sweep build',
    [vitest, 'run', 'test/ops/core_cuda.test.ts', '-t', 'refuses a tiling variable', ...extra], { CONVMAE_ADDON: sweepAddon }));
  for (const w of [4, 8]) {
    ok.push(sweepAddon !== null && runStep(`attention's mma kernels at ${w} warps a block on the sweep build`,
      [vitest, 'run', 'test/ops/attention.test.ts', 'test/bench/op_timings.test.ts', '-t', 'attention kernel family mma|warps', ...extra],
      { CONVMAE_ADDON: sweepAddon, CONVMAE_ATTENTION_WARPS: String(w) }));
  }
  const profiled = buildEmulated('build-emu-prof', { CONVMAE_EMU_PROFILE: '1' });
  ok.push(profiled !== null && runStep('the memory-access profiler and the race checker',
    [vitest, 'run', 'test/emu/access_profile.test.ts', 'test/emu/racecheck.test.ts', ...extra], { CONVMAE_ADDON: profiled }));
}
process.exit(ok.every(Boolean) ? 0 : 1);
