#!/usr/bin/env node
// `npm run test:emu`: the CUDA test suites on the CPU emulator (emu/), for machines without a GPU.
// Builds the emulated addon into build-emu/ (the kernels of cuda/ compiled by g++ against the CUDA
// headers; no nvcc or GPU needed), then runs vitest with it twice: the default kernel families,
// then the fast ones (gemm=wgmma, attention=mma, layernorm=rows) on the suites that choose them.
// Skips, saying so, where the CUDA headers are missing. Extra arguments go to both vitest runs.
// --asan: the same with AddressSanitizer (build-emu-asan/; every CUDA allocation exactly its
// tensor's size, so a kernel reading or writing past a tensor stops the run with a report).
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const headerDirs = [process.env.CUDA_PATH && path.join(process.env.CUDA_PATH, 'include'), '/usr/local/cuda/include'].filter(Boolean);
if (!headerDirs.some((d) => fs.existsSync(path.join(d, 'cuda_runtime.h')))) {
  console.log(`test:emu skipped: no CUDA headers (cuda_runtime.h) in ${headerDirs.join(' or ')}; the emulated build needs them (not a GPU)`);
  process.exit(0);
}

const run = (label, args, env) => {
  console.log(`\n== ${label}`);
  const start = Date.now();
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  console.log(`== ${label}: ${r.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - start) / 1000).toFixed(0)} s`);
  return r.status === 0;
};

const asan = process.argv.includes('--asan');
const extra = process.argv.slice(2).filter((a) => a !== '--asan');
const dir = asan ? 'build-emu-asan' : 'build-emu';
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
if (!run(`build the emulated addon (${dir}/)`, [cmakeJs, 'compile', '-O', dir, '--parallel', '2'],
  { CONVMAE_CUDA_EMULATE: '1', CONVMAE_EMU_ASAN: asan ? '1' : '0' })) {
  process.exit(1);
}
const addon = path.join(root, dir, 'Release', 'convmae.node');
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
// Node itself is not instrumented: the sanitizer's runtime is preloaded (leaks at exit are Node's).
const sanitizer = asan ? { LD_PRELOAD: spawnSync('g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim(), ASAN_OPTIONS: 'detect_leaks=0' } : {};
const suites = ['test/emu', 'test/ops', 'test/tensor', 'test/train/optim.test.ts', 'test/train/memory_flat.test.ts', 'test/models/precision.test.ts',
  'test/kernels.test.ts'];
const fastSuites = ['test/ops/core_cuda.test.ts', 'test/ops/linear.test.ts', 'test/ops/mlp.test.ts', 'test/ops/gemm_epilogue.test.ts',
  'test/ops/attention.test.ts', 'test/ops/layernorm.test.ts', 'test/models/precision.test.ts', 'test/tensor/cuda_async.test.ts',
  'test/train/memory_flat.test.ts'];
const ok = [
  run('CUDA suites on the emulator, default kernel families', [vitest, 'run', ...suites, ...extra], { CONVMAE_ADDON: addon, ...sanitizer }),
  run('CUDA suites on the emulator, fast kernel families', [vitest, 'run', ...fastSuites, ...extra],
    { CONVMAE_ADDON: addon, CONVMAE_KERNELS: 'gemm=wgmma,attention=mma,layernorm=rows', ...sanitizer }),
].every(Boolean);
process.exit(ok ? 0 : 1);
