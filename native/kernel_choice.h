// Which kernel family an op runs on CUDA where several compute the same function: the fast one
// (listed first) or an older one kept for comparison in tests and benchmarks, and as a way around
// a fault on a card the fast one was not checked on.
//   gemm:      auto (per kind of problem the fastest of the tensor-core kernels below, timed on
//              its first call: cuda/gemm_auto.cu) | wgmma (sm_90 tensor cores, Hopper only; other
//              cards run mma) | tma (wgmma fed by TMA copies from a producer warp, Hopper only;
//              other cards run mma) | mma (ldmatrix and mma.sync, sm_80+) | wmma (the WMMA API,
//              sm_80+)
//   attention: mma (tensor-core fused kernels) | simt (fp32 shared/global-memory kernels)
//   layernorm: rows (row in registers, 16-byte accesses) | warp (a warp per row, element loads)
//   dwconv:    cells (a visible cell's window read once per output tile; KS 3/5, t 2/4, even C;
//              other shapes run taps) | taps (every output reads its KS² taps)
// Default: the fast families (auto, mma, rows, cells), which passed bench/gpu-check.sh on an H100
// and measured fastest there (bench/RESULTS.md, runs 7 and 8: gemm auto over wgmma and the tma
// tilings won the pick by 26% over wgmma); the older ones stay for comparison.
// Set at load from CONVMAE_KERNELS ("gemm=wmma,attention=simt"; a bad value is reported by the
// first call that reads it) and from JS by setKernel(op, name). Reads are cheap (no locks: the
// choices change only from the JS thread, between ops).
#pragma once
#include <string>
#include <vector>

namespace convmae {
/** The chosen family of `op` (one of the names above); throws for an unknown op. */
const std::string& kernel_choice(const std::string& op);
/** Chooses `name` for `op`; throws a RangeError naming the allowed values. */
void set_kernel_choice(const std::string& op, const std::string& name);
/** The ops that have kernel families, in table order. */
std::vector<std::string> kernel_ops();
}  // namespace convmae
