// gemm: for each of `batch` problems,
//   C[M,N] = alpha * op(A) · op(B) + beta * C + bias[N]      (row-major, bias optional)
// op(A) is A [M,K], or A stored [K,M] when trans_a; op(B) is B [K,N], or B stored [N,K] when
// trans_b (so linear layers y = x·Wᵀ + b use trans_b with W [out,in]). Problems are strided:
// batch i reads A + i*stride_a, B + i*stride_b and writes C + i*stride_c (elements). beta = 0
// writes C without reading it. Accumulation is fp32 (fp64 for float64 inputs).
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
};
void cpu_gemm(const GemmParams& p);
void cuda_gemm(const GemmParams& p);
}  // namespace convmae
