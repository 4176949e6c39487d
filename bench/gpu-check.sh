#!/usr/bin/env bash
# GPU check for a machine with CUDA but no Node, npm or Node headers (the `device` machine).
# Prepare on the development machine (nvcc is there), from the repo root:
#   bash bench/gpu-pack.sh
# What travels must stay under 64 MiB: the tracked tree is ~40 MiB (24 MiB of it the two *small*
# parity fixtures, 14 MiB the three tiny ones and the .pth files), .gpu/ ~46 MiB (node.xz 24,
# node_modules.tar.xz 14, convmae.node 4, or 8 with the GEMM sweep), dist ~2. So one run carries
# one group of fixtures: move the two *small* ones out (`mkdir -p /tmp/fx && mv
# test/fixtures/parity/*small* /tmp/fx/`, and back afterwards), or, to run those two, move the
# tiny ones and test/fixtures/pth out and carry node_modules without @img and sharp (7.5 MiB;
# nothing checked here loads sharp). Then run, carrying [".gpu", "dist"]:
#   bash bench/gpu-check.sh [--quick]
# Sections (each under its own time limit, logs under $OUT or /tmp/gpu-check):
#   1. the vitest CUDA blocks of test/ops and test/models/precision (every op against the CPU op,
#      float32 and bf16, gemm and attention in both kernel families; the bf16 step against the
#      float32 one), then the model-level ones again with wgmma/mma as the defaults;
#   2. compute-sanitizer memcheck over the quick op/parity/step checks (fast kernel families);
#   3. the full check: ops, parity on cuda, tiny steps cuda vs cpu, the ConvMAE-B and ConvViT-B
#      step benchmarks on both kernel families (bench/gpu_check.ts); the quick check with
#      wgmma/mma; then the parity command on cuda for each fixture;
#   4. the CLI end to end on cuda: tiny pretraining, finetuning and a linear probe;
#   5. PyTorch's ops on the ConvMAE-B shapes (bench/torch_ops.py), then ours beside them
#      (bench/op_timings.ts), and the GEMMs, attentions and layernorms once more on the fast kernel families
#      (CONVMAE_KERNELS=gemm=wgmma,attention=mma,layernorm=rows), and the pretraining step's profile
#      on both family sets (bench/step_profile.ts, step_profile*.txt); optionally (GPU_CHECK_SWEEP=1) the alternative GEMM tilings, and
#      (GPU_CHECK_NCU=1) Nsight Compute on the 8192^3 GEMM;
# and prints the tables last. GPU_CHECK_MEMCHECK=0 and GPU_CHECK_CLI=0 skip sections 2 and 4;
# GPU_CHECK_RACECHECK=1 adds compute-sanitizer's racecheck after section 2.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp/gpu-check}
quick=${1:-}
mkdir -p "$out" .gpu/bin
if ! command -v node >/dev/null; then
  xz -dc .gpu/node.xz > .gpu/bin/node && chmod +x .gpu/bin/node && export PATH=$PWD/.gpu/bin:$PATH
fi
[[ -d node_modules/vitest ]] || tar -xJf .gpu/node_modules.tar.xz
[[ -f .gpu/convmae.node ]] && export CONVMAE_ADDON=$PWD/.gpu/convmae.node
export NO_COLOR=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
  node dist/lib/cli/main.js info; } | tee "$out/machine.txt"
status=0
summary=()
# 1. vitest CUDA blocks
timeout 180 node node_modules/vitest/vitest.mjs run test/ops test/models/precision.test.ts > "$out/vitest.txt" 2>&1 || status=1
summary+=("vitest test/ops test/models/precision: $(grep -E '^ +Tests ' "$out/vitest.txt" | tr -s ' ' || echo 'no result (see vitest.txt)')")
grep -E "FAIL|AssertionError|✗|×" "$out/vitest.txt" | head -30
#    and the model-level CUDA tests again with the fast kernel families as the defaults
CONVMAE_KERNELS=gemm=wgmma,attention=mma,layernorm=rows timeout 90 node node_modules/vitest/vitest.mjs run test/models/precision.test.ts \
  test/ops/linear.test.ts test/ops/mlp.test.ts test/ops/layernorm.test.ts > "$out/vitest_fast.txt" 2>&1 || status=1
summary+=("vitest (fast kernels) precision/linear/mlp: $(grep -E '^ +Tests ' "$out/vitest_fast.txt" | tr -s ' ' || echo 'no result')")
# 2. memcheck (no benchmark: timings under the sanitizer mean nothing)
if [[ "${GPU_CHECK_MEMCHECK:-1}" == 0 ]]; then
  summary+=("memcheck: skipped (GPU_CHECK_MEMCHECK=0)")
elif command -v compute-sanitizer >/dev/null; then
  # with the fast families, so the bf16 tiny step runs the wgmma and mma kernels under it too
  CONVMAE_KERNELS=gemm=wgmma,attention=mma,layernorm=rows timeout 120 compute-sanitizer --tool memcheck --leak-check full \
    --error-exitcode 3 node dist/bench/gpu_check.js --quick --no-bench > "$out/memcheck.txt" 2>&1 || status=1
  summary+=("memcheck: $(grep -E 'ERROR SUMMARY' "$out/memcheck.txt" | tail -1 || echo 'no summary (see memcheck.txt)')")
else
  summary+=("memcheck: compute-sanitizer not found")
fi
#    with GPU_CHECK_RACECHECK=1: racecheck (shared-memory hazards) over the quick check with the
#    fast families (the mma attention and wgmma kernels share tiles between warps)
if [[ "${GPU_CHECK_RACECHECK:-0}" == 1 ]] && command -v compute-sanitizer >/dev/null; then
  CONVMAE_KERNELS=gemm=wgmma,attention=mma,layernorm=rows timeout 240 compute-sanitizer --tool racecheck \
    --error-exitcode 3 node dist/bench/gpu_check.js --quick --no-bench > "$out/racecheck.txt" 2>&1 || status=1
  summary+=("racecheck: $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$out/racecheck.txt" | tail -1 || echo 'no summary (see racecheck.txt)')")
fi
# 3. the full check, and every parity file present through the parity command on cuda
timeout 240 node dist/bench/gpu_check.js $quick > "$out/gpu_check.txt" 2>&1 || status=1
for f in test/fixtures/parity/*.safetensors; do
  if node dist/lib/cli/main.js parity "$f" --device cuda > /tmp/parity.txt 2>&1; then r=ok; else r=FAILED; status=1; fi
  summary+=("parity command --device cuda $(basename "$f"): $r ($(grep -iE 'worst' /tmp/parity.txt | tr -s ' ' | tr '\n' ' '))")
  cat /tmp/parity.txt >> "$out/gpu_check.txt"
done
#    the quick check (bf16 tiny steps against float32) with the fast kernel families
CONVMAE_KERNELS=gemm=wgmma,attention=mma,layernorm=rows timeout 120 node dist/bench/gpu_check.js --quick --no-bench > "$out/gpu_check_fast.txt" 2>&1 || status=1
summary+=("gpu_check --quick with wgmma/mma: $(tail -1 "$out/gpu_check_fast.txt")")
# 4. the CLI end to end on cuda (bf16 by default): tiny pretraining, then finetuning and a linear
#    probe from its checkpoint, on the built-in synthetic data (GPU_CHECK_CLI=0 skips it, for a
#    carry without sharp's native image library)
if [[ "${GPU_CHECK_CLI:-1}" == 0 ]]; then
  summary+=("CLI on cuda: skipped (GPU_CHECK_CLI=0)")
elif { node dist/lib/cli/main.js pretrain --data synthetic --model tiny --img-size 64 --batch-size 64 --steps 40 \
         --lr 1.5e-3 --device cuda --out /tmp/cli-pt &&
       node dist/lib/cli/main.js finetune --init /tmp/cli-pt/checkpoint-last.safetensors --data synthetic \
         --img-size 64 --batch-size 64 --steps 20 --device cuda --out /tmp/cli-ft &&
       node dist/lib/cli/main.js linprobe --init /tmp/cli-pt/checkpoint-last.safetensors --data synthetic \
         --img-size 64 --batch-size 64 --steps 20 --device cuda --out /tmp/cli-lp; } > /tmp/cli.txt 2>&1; then
  summary+=("CLI pretrain/finetune/linprobe on cuda: ok ($(grep -ciE 'loss' /tmp/cli.txt) progress lines)")
  cat /tmp/cli.txt >> "$out/gpu_check.txt"
else
  status=1
  summary+=("CLI on cuda FAILED: $(tail -2 /tmp/cli.txt | tr '\n' ' ')")
  cat /tmp/cli.txt >> "$out/gpu_check.txt"
fi
# 5. op timings beside PyTorch's
node dist/bench/op_timings.js --plan /tmp/plan.json
timeout 150 python3 bench/torch_ops.py /tmp/plan.json "$out/torch.json" > "$out/torch_ops.txt" 2>&1 || summary+=("torch_ops.py failed (see torch_ops.txt)")
timeout 150 node dist/bench/op_timings.js --torch "$out/torch.json" > "$out/op_timings.txt" 2>&1 || summary+=("op_timings failed (see op_timings.txt)")
#    and the GEMMs, attentions and layernorms again on the fast kernel families, in the same run
CONVMAE_KERNELS=gemm=wgmma,attention=mma,layernorm=rows timeout 90 node dist/bench/op_timings.js --only '^(gemm|mlp|attention|layernorm)' \
  --torch "$out/torch.json" > "$out/op_timings_fast.txt" 2>&1 || summary+=("op_timings (fast kernels) failed")
#    where the ConvMAE-B pretraining step's time goes, op by op, on both kernel-family sets
#    (bench/step_profile.ts: wall time, then one step on the host clock and one on the device clock)
timeout 90 node dist/bench/step_profile.js --top 30 > "$out/step_profile.txt" 2>&1 || summary+=("step_profile failed (see step_profile.txt)")
CONVMAE_KERNELS=gemm=wgmma,attention=mma,layernorm=rows timeout 90 node dist/bench/step_profile.js --top 30 \
  > "$out/step_profile_fast.txt" 2>&1 || summary+=("step_profile (fast kernels) failed (see step_profile_fast.txt)")
for f in step_profile step_profile_fast; do summary+=("$f: $(grep -E '^summary:' "$out/$f.txt" || echo 'no summary')"); done
# 6. with GPU_CHECK_SWEEP=1 (an addon built with CONVMAE_GEMM_SWEEP=1, as bench/gpu-pack.sh does):
#    each alternative GEMM tiling (wgmma: CONVMAE_WGMMA_TILE, wmma: CONVMAE_GEMM_TILE) through the
#    gemm tests and the gemm timings
if [[ "${GPU_CHECK_SWEEP:-0}" == 1 ]]; then
  for t in WGMMA_TILE=1 WGMMA_TILE=2 GEMM_TILE=1 GEMM_TILE=2 GEMM_TILE=3; do
    echo "== CONVMAE_$t"
    env CONVMAE_$t timeout 60 node node_modules/vitest/vitest.mjs run test/ops/core_cuda.test.ts 2>&1 | grep -E "Tests |FAIL" | head -5
    env CONVMAE_$t timeout 60 node dist/bench/op_timings.js --only '^gemm' --torch "$out/torch.json" 2>&1 | sed -n '/^op /,$p'
  done > "$out/sweep.txt" 2>&1
  summary+=("GEMM tiling sweep: see sweep.txt")
fi
# 7. with GPU_CHECK_NCU=1: Nsight Compute's summary of the 8192^3 tensor-core gemm
if [[ "${GPU_CHECK_NCU:-0}" == 1 ]] && command -v ncu >/dev/null; then
  timeout 120 ncu --clock-control none --kernel-name regex:'gemm_(tc|wgmma)' --launch-count 1 --section SpeedOfLight \
    --section Occupancy --section WarpStateStats --section LaunchStats \
    node dist/bench/op_timings.js --only 'gemm square' --reps 1 > "$out/ncu.txt" 2>&1 || summary+=("ncu failed (see ncu.txt)")
fi
for f in op_timings op_timings_fast; do
  sed -n '/^ops at /,$p' "$out/$f.txt"
  grep -q '^ops at ' "$out/$f.txt" || tail -20 "$out/$f.txt"
done
echo
sed -n '/^check /,$p' "$out/gpu_check.txt"
grep -q '^check ' "$out/gpu_check.txt" || tail -20 "$out/gpu_check.txt"
printf '%s\n' "${summary[@]}"
exit $status
