// gemm: for each of `batch` problems,
//   C[M,N] = alpha * op(A) · op(B) + beta * C + bias[N]      (row-major, bias optional)
// op(A) is A [M,K], or A stored [K,M] when trans_a; op(B) is B [K,N], or B stored [N,K] when
// trans_b (so linear layers y = x·Wᵀ + b use trans_b with W [out,in]). Problems are strided:
// batch i reads A + i*stride_a, B + i*stride_b and writes C + i*stride_c (elements). beta = 0
// writes C without reading it. Accumulation is fp32 (fp64 for float64 inputs).
// Epilogue extras (each optional, shaped and strided like C): v = alpha·op(A)·op(B) + beta·C +
// bias + residual; if gelu_grad_of is given, v ← v · gelu'(gelu_grad_of) (the MLP backward's
// dH = dG ⊙ gelu'(H)); C = v, rounded once to C's dtype; if gelu_out is given, gelu_out =
// gelu(C) from the stored C (the MLP forward writes H and G = gelu(H) in one pass).
#pragma once
#include <cstdint>

#include "buffer.h"

namespace convmae {
struct GemmParams {
  Buffer* c;
  const Buffer* a;
  const Buffer* b;
  const Buffer* bias;  // nullable, [N]
  int64_t m, n, k;
  bool trans_a, trans_b;
  double alpha, beta;
  int64_t batch, stride_a, stride_b, stride_c;
  const Buffer* residual;      // nullable, like C
  Buffer* gelu_out;            // nullable, like C
  const Buffer* gelu_grad_of;  // nullable, like C
};
void cpu_gemm(const GemmParams& p);
/** The build of the CPU gemm's float32 micro-kernel this process runs: "avx2+fma" or "portable". */
const char* cpu_gemm_build();
void cuda_gemm(const GemmParams& p);
}  // namespace convmae
