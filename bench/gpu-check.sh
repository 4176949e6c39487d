#!/usr/bin/env bash
# GPU check for a machine with CUDA but no Node, npm or Node headers (the `device` machine).
# Prepare on the development machine (nvcc is there), from the repo root:
#   CONVMAE_CUDA_ARCHS="90a-real;90-virtual" npm run build:native && npx tsc -p tsconfig.json
#   ../shared/tools/gpu-prep
# What travels must stay under 64 MiB: the tracked tree is ~40 MiB (36 MiB of parity fixtures),
# build/Release/convmae.node ~4 MiB, dist ~1 MiB, .gpu/node.xz ~24 MiB. Move the two larger
# fixtures out of the tree for the run (`mkdir -p /tmp/fx && mv test/fixtures/parity/*small*
# /tmp/fx/`, and back afterwards); the three tiny fixtures still run. Then run, with carry
# [".gpu", "build", "dist"]:
#   bash bench/gpu-check.sh
# It writes logs under $OUT (or /tmp/gpu-check) and prints the check table last.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out" .gpu/bin
if ! command -v node >/dev/null; then
  xz -dc .gpu/node.xz > .gpu/bin/node && chmod +x .gpu/bin/node && export PATH=$PWD/.gpu/bin:$PATH
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
node dist/lib/cli/main.js info | tee "$out/info.txt"
status=0
# 1. memcheck over the quick op, parity and step checks (no benchmark: sanitizer timings mean nothing)
if command -v compute-sanitizer >/dev/null; then
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 3 \
    node dist/bench/gpu_check.js --quick --no-bench > "$out/memcheck.txt" 2>&1 || status=1
  grep -E "ERROR SUMMARY|LEAK SUMMARY" "$out/memcheck.txt" || tail -5 "$out/memcheck.txt"
fi
# 2. the full check with the ConvMAE-B step benchmark, table last
node dist/bench/gpu_check.js 2>&1 | tee "$out/gpu_check.txt" || status=1
exit $status
