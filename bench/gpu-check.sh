#!/usr/bin/env bash
# GPU check for a machine with CUDA but no Node, npm or Node headers (the `device` machine).
# Prepare on the development machine (nvcc is there), from the repo root:
#   bash bench/gpu-pack.sh
# What travels must stay under 64 MiB: the tracked tree is ~40 MiB (24 MiB of it the two *small*
# parity fixtures, 14 MiB the three tiny ones and the .pth files), .gpu/ ~40 MiB (node.xz 24,
# node_modules.tar.xz 14, convmae.node.xz 1.5), dist ~2. So one run carries
# one group of fixtures: move the two *small* ones out (`mkdir -p /tmp/fx && mv
# test/fixtures/parity/*small* /tmp/fx/`, and back afterwards), or, to run those two, move the
# tiny ones and test/fixtures/pth out and carry node_modules without @img and sharp (7.5 MiB;
# nothing checked here loads sharp). Then run, carrying [".gpu", "dist"]:
#   bash bench/gpu-check.sh [--quick]
# The whole run keeps to GPU_CHECK_BUDGET seconds (default 540, under the device tool's 600 s per
# command): each section runs under the smaller of its own limit and the time left, a section
# that cannot get GPU_CHECK_MIN_SECTION seconds (default 20) is skipped and says so, and the
# summary is printed however the run ends. Logs go to /tmp/gpu-check; where $OUT is set (the device
# tool), they come back as one file, $OUT/gpu-check-logs.tar.xz (the tool returns 8 files at
# most), beside $OUT/summary.txt. The kernel families: the fast ones (gemm wgmma, attention mma,
# layernorm rows, dwconv cells; the defaults, but for gemm, whose default `auto` is one of section
# 0's gemm candidates) and the older ones (wmma, simt, warp, taps), each set
# named in CONVMAE_KERNELS for every command so that a fast family the smoke check fails is
# replaced by its older twin. The older set's own runs (its steps, step profile, op timings and
# model-level tests, beside the fast set's) are left out unless GPU_CHECK_OLDER=1: run 7 measured
# them, no target rests on them, and a first call's time is better spent on the fast set.
# Section 0 runs first, then sections 1-8 in GPU_CHECK_ORDER (default "2 4 3 1 8 5 6 7": the
# steps, the op timings (the targets' own measures) and the profiles before the tests, then the
# GEMM sweep, as a whole run no longer fits one call's time):
#   0. a smoke check of the fast kernel families and of the gemm tma and mma alternatives
#      (bench/fast_smoke.ts, seconds; in a sweep build also tma's persistent tilings, tma:4 to
#      tma:7); every later section leaves out the families it fails (all of them where it hangs);
#      the fast set's gemm is the fastest on the model's GEMMs of those of wgmma, tma and tma:4 to
#      tma:7 that pass and of auto over them (CONVMAE_GEMM_AUTO exported: per kind of GEMM the
#      fastest of them, timed on its first call), mma where none of them does (bench/gemm_pick.ts,
#      about a minute; tma:N runs as gemm=tma with CONVMAE_TMA_TILE=N exported);
#   1. the vitest CUDA blocks of test/tensor, test/ops, test/models/precision and classifier,
#      test/bench and test/train/optim (uploads, stream-ordered reuse, a step with no host waits; every op against
#      the CPU op, float32 and bf16, gemm/attention/layernorm/dwconv in every kernel family; the bf16
#      step against the float32 one) on the fast set (with GPU_CHECK_OLDER=1, then the model-level
#      ones again on the older);
#   2. the full check: ops, parity on cuda, tiny steps cuda vs cpu, the ConvMAE-B and ConvViT-B
#      step benchmarks on the fast set (with GPU_CHECK_OLDER=1 on both sets; bench/gpu_check.ts);
#      then the official steps' structure in PyTorch (bench/torch_convmae.py: checked against the
#      parity fixtures, then the ConvMAE-B and ConvViT-B bf16 steps timed), for the ratios in the
#      same run;
#   3. where the ConvMAE-B pretraining and ConvViT-B finetuning steps' time goes, op by op, on the
#      fast set (GPU_CHECK_OLDER=1: pretraining on the older set too; bench/step_profile.ts), and
#      the host's own cost of a step (--null-compute);
#   4. PyTorch's ops on the ConvMAE-B shapes (bench/torch_ops.py), ours beside them on the fast set
#      (bench/op_timings.ts; both on the device's clock), with GPU_CHECK_OLDER=1 the GEMMs, MLPs,
#      attentions, layernorms and depthwise convs again on the older families, and the GEMMs and
#      MLPs on the gemm families (of wgmma, tma, mma) the fast set did not take;
#   5. compute-sanitizer memcheck over the quick op/parity/step checks (fast kernel families);
#      with GPU_CHECK_RACECHECK=1 also racecheck;
#   6. the quick check with the fast families, and the parity command on cuda for each fixture;
#   7. the CLI end to end on cuda: tiny pretraining, finetuning and a linear probe;
#   8. optionally (GPU_CHECK_SWEEP=1) every GEMM tiling on the model's GEMMs (bench/gemm_sweep.ts),
#      and (GPU_CHECK_NCU=1) Nsight Compute on the 8192^3 GEMM and the stage-1 fc1.
# GPU_CHECK_TESTS="test/ops/attention.test.ts ..." narrows section 1 to those suites (a second
# call's check of what changed); GPU_CHECK_MEMCHECK=0 and GPU_CHECK_CLI=0 skip sections 5 and 7;
# GPU_CHECK_TORCH_COMPILE=1 adds the torch.compile PyTorch step to section 2; GPU_CHECK_ONLY="1 3"
# runs only the listed sections (after section 0);
# GPU_CHECK_SET="gemm=tma,attention=mma,layernorm=rows,dwconv=cells" skips section 0 and runs that
# set as the fast one (a second call of a session, after the first one's summary named the set
# that passed and was picked).
set -uo pipefail
cd "$(dirname "$0")/.."
out=/tmp/gpu-check
quick=${1:-}
budget=${GPU_CHECK_BUDGET:-540}
min_section=${GPU_CHECK_MIN_SECTION:-20}
start=$SECONDS
rm -rf "$out"
mkdir -p "$out" .gpu/bin
if ! command -v node >/dev/null; then
  xz -dc .gpu/node.xz > .gpu/bin/node && chmod +x .gpu/bin/node && export PATH=$PWD/.gpu/bin:$PATH
fi
[[ -d node_modules/vitest ]] || tar -xJf .gpu/node_modules.tar.xz
[[ -f .gpu/convmae.node.xz ]] && xz -dc .gpu/convmae.node.xz > .gpu/bin/convmae.node && export CONVMAE_ADDON=$PWD/.gpu/bin/convmae.node
export NO_COLOR=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
  node dist/lib/cli/main.js info; } | tee "$out/machine.txt"
status=0
summary=()

# Our steps' images/s over the PyTorch official-structure steps' in this run, where both ran.
step_ratios() {
  [[ -f "$out/gpu_check.txt" && -f "$out/torch_step.txt" ]] || return 0
  local kind ours_label torch_label torch_ips line ips
  echo
  echo "step images/s, ours / PyTorch official structure (eager, bf16), this run:"
  for kind in pretrain finetune; do
    [[ $kind == pretrain ]] && { ours_label='ConvMAE-B pretrain'; torch_label='ConvMAE-B pretraining'; } ||
      { ours_label='ConvViT-B finetune'; torch_label='ConvViT-B finetuning'; }
    torch_ips=$(grep -F "$torch_label" "$out/torch_step.txt" | grep -oE '"img_per_s": [0-9.]+' | head -1 | awk '{print $2}')
    [[ -n $torch_ips ]] || continue
    grep -E "^  $ours_label step b[0-9]+ bf16 " "$out/gpu_check.txt" | while IFS= read -r line; do
      ips=$(grep -oE '[0-9.]+ img/s' <<< "$line" | awk '{print $1}')
      [[ -n $ips ]] && awk -v a="$ips" -v b="$torch_ips" -v l="$(cut -d'|' -f1 <<< "$line" | sed 's/^ *//;s/ *$//')" \
        'BEGIN { printf "  %-58s %8.1f / %8.1f = %.2fx\n", l, a, b, a / b }'
    done
  done
}

# Prints the tables and the summary; runs however the script ends.
finish() {
  for f in op_timings op_timings_older op_timings_gemm_wgmma op_timings_gemm_tma op_timings_gemm_mma; do
    [[ -f "$out/$f.txt" ]] && { sed -n '/^ops at /,$p' "$out/$f.txt"; grep -q '^ops at ' "$out/$f.txt" || tail -20 "$out/$f.txt"; }
  done
  for f in step_profile step_profile_fast step_profile_finetune; do
    [[ -f "$out/$f.txt" ]] && { echo "== $f"; sed -n '/^== device clock/,/^by phase/p' "$out/$f.txt" | head -16; }
  done
  [[ -f "$out/gemm_sweep.txt" ]] && { echo "== gemm_sweep"; sed -n '/^fwd (TFLOP/,$p' "$out/gemm_sweep.txt"; }
  if [[ -f "$out/gpu_check.txt" ]]; then
    echo
    sed -n '/^check /,$p' "$out/gpu_check.txt"
    grep -q '^check ' "$out/gpu_check.txt" || tail -20 "$out/gpu_check.txt"
  fi
  step_ratios
  echo
  printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
  echo "seconds per command: $(printf '%s; ' "${durations[@]}")" | tee -a "$out/summary.txt"
  echo "gpu-check: $((SECONDS - start)) s of the $budget s budget; exit $status" | tee -a "$out/summary.txt"
  if [[ -n ${OUT:-} ]]; then
    cp "$out/summary.txt" "$OUT/summary.txt"
    tar -cJf "$OUT/gpu-check-logs.tar.xz" -C "$out" .
  fi
}
trap finish EXIT

# wanted N: whether section N is to run (GPU_CHECK_ONLY).
wanted() { [[ -z "${GPU_CHECK_ONLY:-}" || " $GPU_CHECK_ONLY " == *" $1 "* ]]; }
# limit L: prints the seconds a step may take (L, or less where less is left); fails when fewer
# than min_section seconds are left.
limit() {
  local left=$((budget - (SECONDS - start)))
  ((left >= min_section)) || return 1
  echo $((left < $1 ? left : $1))
}
# run NAME L LOG CMD...: CMD under `timeout` within the budget, output to LOG. Sets ran to ok,
# FAILED (status 1; a timeout is noted) or skipped (no time left: noted, not a failure), and
# returns 0 only for ok.
ran=
durations=()
run() {
  local name=$1 want=$2 log=$3 l rc
  shift 3
  if ! l=$(limit "$want"); then
    ran=skipped
    summary+=("$name: skipped (the time budget is spent)")
    return 1
  fi
  local t0=$SECONDS
  timeout "$l" "$@" > "$log" 2>&1
  rc=$?
  durations+=("$name $((SECONDS - t0))s")
  if ((rc == 0)); then ran=ok; return 0; fi
  ran=FAILED
  status=1
  ((rc == 124)) && summary+=("$name: TIMED OUT after $l s (see $(basename "$log"))")
  return $rc
}
# note TEXT: adds TEXT to the summary unless the last run was skipped (its note is there).
note() { [[ $ran == skipped ]] || summary+=("$1"); }
tests_line() { grep -E '^ +Tests ' "$1" | tr -s ' ' || echo 'no result'; }

# 0. the fast families' smoke check (bench/fast_smoke.ts, seconds): the families it passes
#    (its "fast_smoke passing:" line) stay in the rest of the run; a family that fails, or all of
#    them where it hangs, is left out (its tests, timings and sanitizer runs), so that one broken
#    kernel does not take the run's time
fast_all=gemm=wgmma,attention=mma,layernorm=rows,dwconv=cells
older=gemm=wmma,attention=simt,layernorm=warp,dwconv=taps
if [[ -n ${GPU_CHECK_SET:-} ]]; then
  # a set an earlier call of this session checked and picked: no smoke check, no pick
  fast=$GPU_CHECK_SET passed=$fast_all gemm_mma_ok=1 gemm_tma_ok=1
  gemm_picked=$(tr ',' '\n' <<< "$fast" | sed -n 's/^gemm=//p')
  gemm_other=$(printf '%s\n' wgmma tma mma | grep -vxF "${gemm_picked:-@}" | paste -sd' ')
  summary+=("kernel families from GPU_CHECK_SET (smoke check and gemm pick skipped): $fast")
  touch "$out/fast_smoke.txt"
else
  run "fast-kernel smoke" 60 "$out/fast_smoke.txt" env CONVMAE_KERNELS=$fast_all node dist/bench/fast_smoke.js --cases '^(?!gemm tma)'
  fast=$(sed -n 's/^fast_smoke passing: //p' "$out/fast_smoke.txt" | tail -1)
  [[ -z $fast || $fast == none ]] && fast=
  passed=$fast
  #    the alternatives it checks beside them (gemm=tma: wgmma fed by TMA copies; gemm=mma:
  #    ldmatrix/mma.sync, for cards before Hopper)
  alt=$(sed -n 's/^fast_smoke passing alternatives: //p' "$out/fast_smoke.txt" | tail -1)
  [[ -z $alt || $alt == none ]] && alt=
  gemm_mma_ok=$([[ ",$alt," == *,gemm=mma,* ]] && echo 1 || echo 0)
  note "fast kernels smoke (wgmma/mma/rows/cells, and gemm mma): $ran, $(tail -1 "$out/fast_smoke.txt"); alternatives passing: ${alt:-none}"
  #    the gemm tma cases apart (their first GPU run: a hang there loses only them)
  run "gemm tma smoke" 45 "$out/fast_smoke_tma.txt" env CONVMAE_KERNELS=$fast_all node dist/bench/fast_smoke.js --cases '^gemm tma'
  gemm_tma_ok=$(grep -q '^fast_smoke passing alternatives: gemm=tma$' "$out/fast_smoke_tma.txt" && echo 1 || echo 0)
  note "gemm tma smoke: $ran, $(tail -1 "$out/fast_smoke_tma.txt")"
  cat "$out/fast_smoke_tma.txt"
  #    and, in a sweep build (bench/gpu-pack.sh), tma's persistent tilings (CONVMAE_TMA_TILE=4:
  #    ping-pong, 5: cooperative 128x256, 6 and 7: the same in clusters of 2 x 1 and 2 x 2 blocks
  #    sharing operand tiles by multicast), each apart and a candidate of the pick as tma:N
  tma_tilings=
  if ((gemm_tma_ok)) && [[ $(node -e "console.log(require('./dist/lib/backends').backends().cuda.gemmSweep)") == true ]]; then
    for n in 4 5 6 7; do
      run "gemm tma:$n smoke" 45 "$out/fast_smoke_tma$n.txt" env CONVMAE_KERNELS=$fast_all CONVMAE_TMA_TILE=$n \
        node dist/bench/fast_smoke.js --cases '^gemm tma'
      grep -q '^fast_smoke passing alternatives: gemm=tma$' "$out/fast_smoke_tma$n.txt" && tma_tilings+=" tma:$n"
      note "gemm tma:$n smoke: $ran, $(tail -1 "$out/fast_smoke_tma$n.txt")"
    done
  fi
  #    the fast set's gemm: of the tensor-core families and tilings that passed (wgmma, tma, tma:N;
  #    mma, the family for cards before Hopper, only where neither Hopper family did), the fastest
  #    on the model's MLPs and qkv GEMM (bench/gemm_pick.ts, about a minute), else the first;
  #    section 4 times the other families' GEMMs too
  hopper_passing=$( { [[ ",$fast," == *,gemm=wgmma,* ]] && echo wgmma; ((gemm_tma_ok)) && echo tma; } | paste -sd' ')
  #    and the gemm family auto over those same kernels (cuda/gemm_auto.cu: per kind of GEMM the
  #    fastest of them, timed on its first call), where there are two or more
  hopper_kernels=$(tr ' ' '\n' <<< "$hopper_passing $tma_tilings" | grep . | paste -sd,)
  if [[ $hopper_kernels == *,* ]]; then
    export CONVMAE_GEMM_AUTO=$hopper_kernels
    summary+=("gemm auto's candidates: CONVMAE_GEMM_AUTO=$CONVMAE_GEMM_AUTO (also set it for a second call)")
  fi
  gemm_candidates=$( { tr ',' '\n' <<< "$hopper_kernels"; [[ -n ${CONVMAE_GEMM_AUTO:-} ]] && echo auto
    [[ -z $hopper_passing ]] && ((gemm_mma_ok)) && echo mma; } | grep . | paste -sd,)
  gemm_picked=${gemm_candidates%%,*}
  if [[ $gemm_candidates == *,* ]]; then
    if run "gemm family pick" 140 "$out/gemm_pick.txt" node dist/bench/gemm_pick.js "$gemm_candidates"; then
      gemm_picked=$(sed -n 's/^gemm_pick: //p' "$out/gemm_pick.txt" | tail -1)
      note "gemm family pick: $gemm_picked ($(grep -E '^  gemm' "$out/gemm_pick.txt" | tr -s ' ' | paste -sd';'))"
    else
      note "gemm family pick $ran (see gemm_pick.txt); the fast set takes $gemm_picked"
    fi
    # a picked family:tiling runs as the family with its tiling variable exported (a family's other
    # tiling is not one of the others section 4 times)
    if [[ $gemm_picked == tma:* ]]; then
      export CONVMAE_TMA_TILE=${gemm_picked#tma:}
      summary+=("the fast set's gemm is tma at CONVMAE_TMA_TILE=$CONVMAE_TMA_TILE (also set it for a second call)")
      gemm_picked=tma
    fi
  fi
  gemm_other=$( { tr ' ' '\n' <<< "$hopper_passing"; ((gemm_mma_ok)) && echo mma; } | grep . | grep -vxF "${gemm_picked:-@}" | paste -sd' ')
  fast=$( { tr ',' '\n' <<< "$fast" | grep -v '^gemm='; [[ -n $gemm_picked ]] && echo "gemm=$gemm_picked"; } | grep . | paste -sd,)
fi
fast_ok=$([[ -n $fast ]] && echo 1 || echo 0)
# the older set's own runs: older_asked (GPU_CHECK_OLDER=1) for all of them; older_runs, the steps
# and the step profile, also where no fast family passed (the older set is then the fast set, and
# those runs are its only ones)
older_asked=$([[ ${GPU_CHECK_OLDER:-0} == 1 ]] && echo 1 || echo 0)
older_runs=$( ((older_asked)) || ((fast_ok == 0)) && echo 1 || echo 0)
# the fast set as run: each op's passing fast family, else its older one; the default of every
# command below that names no set
fast_set=$(for op in gemm attention layernorm dwconv; do
  f=$(tr ',' '\n' <<< "$fast" | grep "^$op=") || f=$(tr ',' '\n' <<< "$older" | grep "^$op="); echo "$f"; done | paste -sd,)
export CONVMAE_KERNELS=$fast_set
summary+=("fast set for this run: $fast_set (for a second call: GPU_CHECK_SET=$fast_set)")
cat "$out/fast_smoke.txt"
# the families that did not pass, as "op kernel family name" alternatives (empty: none left out);
# the CUDA suites name their family describes so
left_out=$( { tr ',' '\n' <<< "$fast_all" | grep -vxF -f <(tr ',' '\n' <<< "${passed:-@}"); ((gemm_mma_ok)) || echo gemm=mma
  ((gemm_tma_ok)) || echo gemm=tma; } |
  sed 's/=/ kernel family /' | paste -sd'|')
vitest_filter=()
if [[ -n $left_out ]]; then
  vitest_filter=(-t "^(?!.*($left_out)).*\$")
  summary+=("left out of the rest of this run (the smoke check did not pass them): $left_out; kept: ${fast:-none}")
fi
# fast_only CMD...: CMD when some fast family passed the smoke check, else a note.
fast_only() {
  if ((fast_ok)); then "$@"; else ran=skipped; summary+=("$2: skipped (the fast families are left out)"); fi
}

section1() {
  local suites=${GPU_CHECK_TESTS:-test/tensor test/ops test/models/precision.test.ts test/models/classifier.test.ts test/bench test/train/optim.test.ts}
  run "vitest" 300 "$out/vitest.txt" env CONVMAE_KERNELS=$fast_set node node_modules/vitest/vitest.mjs run $suites "${vitest_filter[@]}"
  note "vitest $suites ($fast_set): $ran, $(tests_line "$out/vitest.txt")"
  grep -E "FAIL|AssertionError|✗|×" "$out/vitest.txt" | head -30
  ((older_asked)) || return 0
  run "vitest (older kernels)" 100 "$out/vitest_older.txt" env CONVMAE_KERNELS=$older node node_modules/vitest/vitest.mjs run \
    test/models/precision.test.ts test/ops/linear.test.ts test/ops/mlp.test.ts test/ops/layernorm.test.ts
  note "vitest ($older) precision/linear/mlp/layernorm: $ran, $(tests_line "$out/vitest_older.txt")"
}
section2() {
  if ((older_runs)); then
    run "gpu_check" 230 "$out/gpu_check.txt" env CONVMAE_KERNELS=$older node dist/bench/gpu_check.js $quick \
      $( ((fast_ok)) && echo --other $fast || echo --one-family)
  else
    run "gpu_check" 230 "$out/gpu_check.txt" env CONVMAE_KERNELS=$fast_set node dist/bench/gpu_check.js $quick --one-family
  fi
  note "gpu_check: $ran, $(tail -1 "$out/gpu_check.txt")"
  #    the official steps' structure in PyTorch, on this card in this run (bench/torch_convmae.py:
  #    first checked against the parity fixtures present, then both base-size steps timed)
  run "torch_convmae.py" 120 "$out/torch_step.txt" python3 bench/torch_convmae.py \
    --check $(ls test/fixtures/parity/*.safetensors) --time
  note "PyTorch official-structure steps: $ran, $(grep -E 'FAIL|img_per_s' "$out/torch_step.txt" | tr '\n' ' ')"
  #    with GPU_CHECK_TORCH_COMPILE=1 also the torch.compile pretraining step (minutes of compiling)
  if [[ "${GPU_CHECK_TORCH_COMPILE:-0}" == 1 ]]; then
    run "torch_convmae.py --compile" 300 "$out/torch_step_compiled.txt" python3 bench/torch_convmae.py --time --kind pretrain --compile
    note "PyTorch official-structure step, torch.compile: $ran, $(grep -E 'img_per_s' "$out/torch_step_compiled.txt" | tr '\n' ' ')"
  fi
}
section3() {
  if ((older_runs)); then
    run "step_profile" 60 "$out/step_profile.txt" env CONVMAE_KERNELS=$older node dist/bench/step_profile.js --top 30
  fi
  fast_only run "step_profile (fast kernels)" 60 "$out/step_profile_fast.txt" env CONVMAE_KERNELS=$fast_set node dist/bench/step_profile.js --top 30
  fast_only run "step_profile finetune (fast kernels)" 80 "$out/step_profile_finetune.txt" env CONVMAE_KERNELS=$fast_set \
    node dist/bench/step_profile.js --kind finetune --top 30
  for f in step_profile step_profile_fast step_profile_finetune; do
    [[ -f "$out/$f.txt" ]] && summary+=("$f: $(grep -E '^(wall|host waits|gemm paths|summary:|verdict:)' "$out/$f.txt" | tr '\n' ' ' || echo 'no summary')")
  done
  #    the host's own cost of the step on this machine's CPU (compute calls replaced by no-ops)
  run "step_profile --null-compute" 40 "$out/step_host.txt" env CONVMAE_KERNELS=$fast_set node dist/bench/step_profile.js --null-compute --steps 20
  note "host cost of a step: $ran, $(grep -E '^host cost' "$out/step_host.txt" || tail -1 "$out/step_host.txt")"
}
section4() {
  node dist/bench/op_timings.js --plan /tmp/plan.json
  run "torch_ops.py" 150 "$out/torch_ops.txt" python3 bench/torch_ops.py /tmp/plan.json "$out/torch.json" || note "torch_ops.py $ran (see torch_ops.txt)"
  run "op_timings" 150 "$out/op_timings.txt" env CONVMAE_KERNELS=$fast_set node dist/bench/op_timings.js --torch "$out/torch.json" ||
    note "op_timings $ran (see op_timings.txt)"
  if ((older_asked)); then
    run "op_timings (older kernels)" 90 "$out/op_timings_older.txt" env CONVMAE_KERNELS=$older node dist/bench/op_timings.js \
      --only '^(gemm|mlp|attention|layernorm|dwconv)' --torch "$out/torch.json" || note "op_timings (older kernels) $ran"
  fi
  #    the GEMMs on the tensor-core families the fast set did not take (of wgmma, tma, mma) too
  for g in $gemm_other; do
    run "op_timings (gemm $g)" 60 "$out/op_timings_gemm_$g.txt" env CONVMAE_KERNELS=gemm=$g \
      node dist/bench/op_timings.js --only '^(gemm|mlp)' --torch "$out/torch.json" || note "op_timings (gemm $g) $ran"
  done
}
section5() {
  [[ "${GPU_CHECK_MEMCHECK:-1}" != 0 ]] || return 0
  if command -v compute-sanitizer >/dev/null; then
    # no benchmark: timings under the sanitizer mean nothing; the fast families, so the bf16 tiny
    # step runs the wgmma and mma kernels under it too
    run "memcheck" 150 "$out/memcheck.txt" env CONVMAE_KERNELS=$fast_set compute-sanitizer --tool memcheck --leak-check full \
      --error-exitcode 3 node dist/bench/gpu_check.js --quick --no-bench
    note "memcheck: $ran, $(grep -E 'ERROR SUMMARY' "$out/memcheck.txt" | tail -1 || echo 'no summary (see memcheck.txt)')"
    if [[ "${GPU_CHECK_RACECHECK:-0}" == 1 ]]; then
      # shared-memory hazards (the mma attention and wgmma kernels share tiles between warps)
      fast_only run "racecheck" 240 "$out/racecheck.txt" env CONVMAE_KERNELS=$fast_set compute-sanitizer --tool racecheck \
        --error-exitcode 3 node dist/bench/gpu_check.js --quick --no-bench
      note "racecheck: $ran, $(grep -E 'RACECHECK SUMMARY|ERROR SUMMARY' "$out/racecheck.txt" | tail -1 || echo 'no summary (see racecheck.txt)')"
    fi
  else
    summary+=("memcheck: compute-sanitizer not found")
  fi
}
section6() {
  fast_only run "gpu_check --quick (fast kernels)" 120 "$out/gpu_check_fast.txt" env CONVMAE_KERNELS=$fast_set node dist/bench/gpu_check.js --quick --no-bench
  note "gpu_check --quick ($fast_set): $ran, $(tail -1 "$out/gpu_check_fast.txt")"
  for f in test/fixtures/parity/*.safetensors; do
    run "parity $(basename "$f")" 60 "$out/parity.txt" node dist/lib/cli/main.js parity "$f" --device cuda
    note "parity command --device cuda $(basename "$f"): $ran ($(grep -iE 'worst' "$out/parity.txt" | tr -s ' ' | tr '\n' ' '))"
  done
}
# 7. tiny pretraining, then finetuning and a linear probe from its checkpoint, on the built-in
#    synthetic data (GPU_CHECK_CLI=0 skips it, for a carry without sharp's native image library)
section7() {
  [[ "${GPU_CHECK_CLI:-1}" != 0 ]] || return 0
  if run "CLI on cuda" 120 "$out/cli.txt" bash -c "node dist/lib/cli/main.js pretrain --data synthetic --model tiny --img-size 64 \
       --batch-size 64 --steps 40 --lr 1.5e-3 --device cuda --out /tmp/cli-pt &&
     node dist/lib/cli/main.js finetune --init /tmp/cli-pt/checkpoint-last.safetensors --data synthetic \
       --img-size 64 --batch-size 64 --steps 20 --device cuda --out /tmp/cli-ft &&
     node dist/lib/cli/main.js linprobe --init /tmp/cli-pt/checkpoint-last.safetensors --data synthetic \
       --img-size 64 --batch-size 64 --steps 20 --device cuda --out /tmp/cli-lp"; then
    summary+=("CLI pretrain/finetune/linprobe on cuda: ok ($(grep -ciE 'loss' "$out/cli.txt") progress lines)")
  else
    note "CLI on cuda $ran: $(tail -2 "$out/cli.txt" | tr '\n' ' ')"
  fi
}
# 8. with GPU_CHECK_SWEEP=1 (an addon built with CONVMAE_GEMM_SWEEP=1, as bench/gpu-pack.sh does):
#    every GEMM family that passed the smoke check (and wmma) at each of its tilings (wgmma:
#    CONVMAE_WGMMA_TILE; tma: CONVMAE_TMA_TILE; wmma and mma: CONVMAE_GEMM_TILE) on the model's
#    GEMMs in their three training forms, in one process (bench/gemm_sweep.ts: a minute or less;
#    each output checked against mma's by two device-side sums); with GPU_CHECK_SWEEP_TESTS=1 also
#    the gemm tests under each tiling (90 s each); with GPU_CHECK_NCU=1, Nsight Compute on the
#    8192^3 GEMM and the stage-1 fc1, on the fast set's gemm family and on tma
section8() {
  sweep
  ncu_runs
}
sweep() {
  [[ "${GPU_CHECK_SWEEP:-0}" == 1 ]] || return 0
  local fams
  fams=$( { [[ ",$passed," == *,gemm=wgmma,* ]] && echo wgmma; ((gemm_tma_ok)) && echo tma; ((gemm_mma_ok)) && echo mma
    echo wmma; } | paste -sd,)
  run "gemm sweep" 240 "$out/gemm_sweep.txt" node dist/bench/gemm_sweep.js --families "$fams"
  note "gemm tiling sweep ($fams): $ran (see gemm_sweep.txt)"
  [[ "${GPU_CHECK_SWEEP_TESTS:-0}" == 1 ]] || return 0
  local sweeps=(WGMMA_TILE=1 WGMMA_TILE=2 WGMMA_TILE=3 WGMMA_TILE=4 GEMM_TILE=1 GEMM_TILE=2 GEMM_TILE=3)
  ((gemm_tma_ok)) && sweeps=(TMA_TILE=1 TMA_TILE=2 TMA_TILE=3 TMA_TILE=4 TMA_TILE=5 "${sweeps[@]}")
  ((gemm_mma_ok)) && sweeps+=(mma:GEMM_TILE=1 mma:GEMM_TILE=2 mma:GEMM_TILE=3)
  for t in "${sweeps[@]}"; do
    # the tests of the family the tiling belongs to ("mma:X=n": X=n under gemm=mma)
    case $t in mma:*) family=gemm=mma ;; WGMMA_*) family=gemm=wgmma ;; TMA_*) family=gemm=tma ;; *) family=gemm=wmma ;; esac
    v=${t#mma:} f=${t/:/_}
    run "sweep $t tests" 90 "$out/sweep_$f.txt" env CONVMAE_$v node node_modules/vitest/vitest.mjs run test/ops/core_cuda.test.ts \
      test/ops/gemm_epilogue.test.ts -t "gemm kernel family ${family#gemm=} "
    note "sweep $t gemm tests: $ran, $(tests_line "$out/sweep_$f.txt")"
  done
}
ncu_runs() {
  [[ "${GPU_CHECK_NCU:-0}" == 1 ]] && command -v ncu >/dev/null || return 0
  # the first GEMM kernel of each case: the 8192³ product and the stage-1 fc1 (K = 256, GELU);
  # the memory sections show whether L2 throughput bounds the tile (bench/RESULTS.md, session 11)
  # (auto's first kernel would be its first candidate's warm-up run: profile wgmma for it)
  ncu_families=$( { g=${gemm_picked:-wgmma}; echo "${g/#auto/wgmma}"; ((gemm_tma_ok)) && echo tma; } | sort -u)
  for g in $ncu_families; do
    for c in 'gemm square' 'gemm s1 fc1'; do
      f="ncu_${g}_${c// /_}"
      run "ncu $g $c" 120 "$out/$f.txt" env CONVMAE_KERNELS=gemm=$g ncu --clock-control none \
        --kernel-name regex:'gemm_(tc|wgmma|tma)' --launch-count 1 --section SpeedOfLight --section MemoryWorkloadAnalysis \
        --section Occupancy --section WarpStateStats --section LaunchStats \
        node dist/bench/op_timings.js --only "$c" --reps 1 || note "ncu $g $c $ran (see $f.txt)"
    done
  done
}

# Sections 1-8 in GPU_CHECK_ORDER (default: the steps, op timings and profiles first, then the
# tests, which the smoke check has already sampled, then the sweep; the sanitizer, quick check and
# CLI last, as they passed in run 7 and only the GEMMs changed since)
for section in ${GPU_CHECK_ORDER:-2 4 3 1 8 5 6 7}; do
  [[ $section =~ ^[1-8]$ ]] || { summary+=("GPU_CHECK_ORDER: no section $section"); status=1; continue; }
  wanted "$section" && "section$section"
done
exit $status
