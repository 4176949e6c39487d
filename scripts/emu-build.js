// Builds of the CUDA emulator (emu/) for scripts/test-emu.js and scripts/profile-emu.js.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');

/** Exits with a note (status 0) where the CUDA headers the emulated build compiles against are missing. */
function cudaHeadersOrSkip(what) {
  const dirs = [process.env.CUDA_PATH && path.join(process.env.CUDA_PATH, 'include'), '/usr/local/cuda/include'].filter(Boolean);
  if (dirs.some((d) => fs.existsSync(path.join(d, 'cuda_runtime.h')))) return;
  console.log(`${what} skipped: no CUDA headers (cuda_runtime.h) in ${dirs.join(' or ')}; the emulated build needs them (not a GPU)`);
  process.exit(0);
}

/** Runs node with args, printing a header and the outcome; whether it passed. */
function runStep(label, args, env) {
  console.log(`\n== ${label}`);
  const start = Date.now();
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  console.log(`== ${label}: ${r.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - start) / 1000).toFixed(0)} s`);
  return r.status === 0;
}

/** Builds the emulated addon into `dir` with the extra environment; its path, or null on failure. */
function buildEmulated(dir, env) {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const ok = runStep(`build the emulated addon (${dir}/)`, [cmakeJs, 'compile', '-O', dir, '--parallel', '2'],
    { CONVMAE_CUDA_EMULATE: '1', CONVMAE_EMU_ASAN: '0', CONVMAE_EMU_PROFILE: '0', ...env });
  return ok ? path.join(root, dir, 'Release', 'convmae.node') : null;
}

module.exports = { buildEmulated, cudaHeadersOrSkip, root, runStep };
