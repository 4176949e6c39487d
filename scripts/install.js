#!/usr/bin/env node
// npm's install step: builds the native addon with cmake-js (see CMakeLists.txt). When
// build/Release/convmae.node already exists, was built from the same sources (a hash of native/,
// cuda/ and CMakeLists.txt recorded beside it) and loads, the build is skipped: `npx convmae`
// copies the package into npm's cache before running it, and this keeps that copy from
// recompiling. CONVMAE_REBUILD=1 forces a build.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const built = path.join(root, 'build', 'Release', 'convmae.node');
const stamp = path.join(root, 'build', 'Release', 'convmae.sources-sha256');

function sourcesHash() {
  const h = crypto.createHash('sha256');
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const name of fs.readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      if (fs.statSync(p).isDirectory()) walk(p);
      else {
        h.update(path.relative(root, p));
        h.update(fs.readFileSync(p));
      }
    }
  };
  walk(path.join(root, 'native'));
  walk(path.join(root, 'cuda'));
  h.update(fs.readFileSync(path.join(root, 'CMakeLists.txt')));
  h.update(`${process.env.CONVMAE_CUDA || ''}|${process.env.CONVMAE_CUDA_ARCHS || ''}`);
  return h.digest('hex');
}

function upToDate(hash) {
  if (process.env.CONVMAE_REBUILD === '1' || !fs.existsSync(built) || !fs.existsSync(stamp)) return false;
  if (fs.readFileSync(stamp, 'utf8').trim() !== hash) return false;
  try {
    require(built);
    return true;
  } catch {
    return false;
  }
}

const hash = sourcesHash();
if (upToDate(hash)) {
  console.log(`convmae: ${path.relative(root, built)} is up to date with the sources; skipping the native build`);
  process.exit(0);
}
const start = Date.now();
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--parallel', '2'], { stdio: 'inherit', cwd: root });
if (r.status !== 0) {
  console.error('convmae: the native build failed. It needs cmake >= 3.18 and a C++17 compiler (and nvcc for CUDA); ' +
    'set CONVMAE_CUDA=0 to build without CUDA.');
  process.exit(r.status || 1);
}
fs.writeFileSync(stamp, hash + '\n');
console.log(`convmae: native build finished in ${Math.round((Date.now() - start) / 1000)} s`);
