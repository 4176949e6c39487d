// The last pass of the chunked column reductions (bias gradients in reduce.cu, dgamma/dbeta in
// layernorm.cu, the depthwise weight gradient in dwconv_layout.cuh): out[c] = Σ_k partial[k][c]
// over the chunks' partial sums. A block of kSumCols columns x kSumLanes lanes: lane l adds
// chunks l, l + kSumLanes, ... in order, then the block's first lane adds the lanes in order, so
// the result is deterministic for a given chunk count, and each thread reads ~chunks / 8 values
// instead of all of them.
#pragma once
#include <cstdint>

namespace convmae {

constexpr int kSumCols = 32, kSumLanes = 8, kSumThreads = kSumCols * kSumLanes;

// This thread's column of the block tile starting at column c0 is c0 + column_in_tile().
__device__ inline int column_in_tile() { return threadIdx.x % kSumCols; }

// Σ_k column[k * stride] for k < chunks, in Acc, returned to the threads of the first lane (the
// others get 0); `valid` is false for columns past the end. Every thread of the block must call
// it (it holds two barriers); `lanes` is the block's shared scratch.
template <typename Acc>
__device__ Acc chunk_column_sum(const float* column, int64_t chunks, int64_t stride, bool valid,
                                Acc (&lanes)[kSumLanes][kSumCols]) {
  const int tx = threadIdx.x % kSumCols, ly = threadIdx.x / kSumCols;
  Acc s = 0;
  if (valid)
    for (int64_t k = ly; k < chunks; k += kSumLanes) s += column[k * stride];
  lanes[ly][tx] = s;
  __syncthreads();
  Acc t = 0;
  if (ly == 0)
#pragma unroll
    for (int l = 0; l < kSumLanes; ++l) t += lanes[l][tx];
  __syncthreads();  // before the lanes are written again
  return t;
}

// Whether this thread holds chunk_column_sum's result.
__device__ inline bool first_sum_lane() { return threadIdx.x < kSumCols; }

}  // namespace convmae
