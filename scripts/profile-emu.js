#!/usr/bin/env node
// `npm run profile:emu -- [options]`: the memory-access profile of the CUDA kernels on the CPU
// emulator (emu/access_profile.h): builds the emulator's profile build into build-emu-prof/ (every
// load and store of the kernels instrumented; needs the CUDA headers, not nvcc or a GPU), then
// runs dist/bench/access_profile.js with the options given (--only REGEX, --batch N, --top N).
// The kernel families come from CONVMAE_KERNELS as everywhere. --racecheck: with the shared-memory
// race checker on (emu/racecheck.h), so the run stops at the first launch whose threads race.
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');
const { buildEmulated, cudaHeadersOrSkip, root } = require('./emu-build');

cudaHeadersOrSkip('profile:emu');
const addon = buildEmulated('build-emu-prof', { CONVMAE_EMU_PROFILE: '1' });
if (!addon) process.exit(1);
const racecheck = process.argv.includes('--racecheck');
const args = process.argv.slice(2).filter((a) => a !== '--racecheck');
const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bench', 'access_profile.js'), ...args],
  { stdio: 'inherit', cwd: root, env: { ...process.env, CONVMAE_ADDON: addon, ...(racecheck ? { CONVMAE_EMU_RACECHECK: '1' } : {}) } });
process.exit(r.status ?? 1);
