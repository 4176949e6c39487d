#!/usr/bin/env bash
# Packs what bench/gpu-check.sh needs on a GPU machine that has CUDA but no Node, npm or Node
# headers, into .gpu/ (git-ignored), from the development machine (which has nvcc):
#   .gpu/convmae.node.xz     the addon built for sm_90a only, with the GEMM tiling sweep (build-gpu/),
#                            xz-compressed (12 MiB -> ~1.5 MiB; gpu-check.sh unpacks it)
#   .gpu/node.xz             this machine's node binary (../shared/tools/gpu-prep)
#   .gpu/node_modules.tar.xz the runtime and test dependencies, without the compiler-side ones
#                            (typescript, @types, cmake-js and its helpers), about 14 MiB
# and compiles dist/. Run it from the repo root; then see bench/gpu-check.sh for the run.
set -euo pipefail
cd "$(dirname "$0")/.."
CONVMAE_GEMM_SWEEP=1 CONVMAE_CUDA_ARCHS="90a-real" npx cmake-js compile -O build-gpu --parallel 2 >/dev/null
npx tsc -p tsconfig.json
mkdir -p .gpu
rm -rf .gpu/convmae.node .gpu/bin  # bin/: what gpu-check.sh unpacks there, stale here
xz -T2 -6 -c build-gpu/Release/convmae.node > .gpu/convmae.node.xz
../shared/tools/gpu-prep >/dev/null
if [[ ! -f .gpu/node_modules.tar.xz || package-lock.json -nt .gpu/node_modules.tar.xz ]]; then
  tar -cJf .gpu/node_modules.tar.xz --exclude='node_modules/typescript' --exclude='node_modules/@types' \
    --exclude='node_modules/cmake-js' --exclude='node_modules/tar' --exclude='node_modules/node-api-headers' \
    --exclude='node_modules/node-addon-api' --exclude='node_modules/yargs' --exclude='node_modules/lightningcss*' \
    node_modules
fi
du -sh .gpu/* dist
echo "tracked tree: $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) bytes (fixtures under test/fixtures/parity/*small* can stay behind)"
# What one device run carries: the tree git sees (tracked and untracked-not-ignored, without the
# *small* fixtures) plus .gpu and dist; the device tool takes 64 MiB in all.
tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | grep -zv 'parity/.*small' | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
carry=$(du -cb .gpu dist | tail -1 | cut -f1)
total=$((tree + carry))
echo "one run carries $((total / 1048576)) MiB without the *small* fixtures (limit 64 MiB)"
((total <= 64 * 1048576)) || echo "WARNING: over the 64 MiB the device tool carries; build without the sweep (CONVMAE_GEMM_SWEEP unset) or drop sharp from node_modules.tar.xz"
