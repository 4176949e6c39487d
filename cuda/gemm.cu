// gemm on CUDA (contract in native/ops/gemm.h). bfloat16 problems with 16-byte aligned extents go
// to the tensor cores: the kernel choice picks wgmma (cuda/gemm_wgmma.cu) or tma (cuda/gemm_tma.cu;
// both Hopper only, other cards run mma for them), mma (cuda/gemm_mma.cu), wmma (cuda/gemm_tc.cu)
// or auto (cuda/gemm_auto.cu: per kind of problem the fastest of those, timed); the rest
// (float32, odd extents) run this plain tiled kernel: 64x64 output tiles, K in steps of 16 staged
// through shared memory as fp32, each of 256 threads owning a 4x4 sub-tile; fp32 accumulation.
// Batches run on grid z. Every path applies the epilogue extras (residual, gelu', gelu) in the
// order gemm.h gives. Each call is counted by the path it takes (cuda::gemm_path_counts).
#include <cuda_bf16.h>

#include <atomic>

#include "gelu_math.cuh"
#include "cuda_api.h"
#include "gemm_auto.cuh"
#include "gemm_tc.cuh"
#include "gemm_tma.cuh"
#include "gemm_wgmma.cuh"
#include "kernel_choice.h"
#include "ops/gemm.h"
#include "runtime.cuh"
#include "storage.cuh"

namespace convmae {

namespace {
constexpr int TM = 64, TN = 64, TK = 16;

struct Dims {
  int64_t m, n, k, sa, sb, sc;
  bool ta, tb;
  float alpha, beta;
};

// The epilogue extras of gemm.h (null where not given).
template <typename T>
struct Extras {
  const T* residual;
  T* gelu_out;
  const T* gelu_grad_of;
};

template <typename T>
__global__ void __launch_bounds__(256) gemm_kernel(T* C, const T* A, const T* B, const T* bias, Dims d, Extras<T> x,
                                                   int64_t batch0) {
  __shared__ float as[TK][TM + 1];
  __shared__ float bs[TK][TN + 1];
  const int64_t z = batch0 + blockIdx.z;
  A += z * d.sa;
  B += z * d.sb;
  C += z * d.sc;
  if (x.residual) x.residual += z * d.sc;
  if (x.gelu_out) x.gelu_out += z * d.sc;
  if (x.gelu_grad_of) x.gelu_grad_of += z * d.sc;
  const int64_t row0 = int64_t(blockIdx.y) * TM, col0 = int64_t(blockIdx.x) * TN;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < d.k; k0 += TK) {
    for (int i = threadIdx.x; i < TK * TM; i += 256) {
      int kk = i / TM, mm = i % TM;
      int64_t r = row0 + mm, c = k0 + kk;
      float v = 0.f;
      if (r < d.m && c < d.k) v = ldf(A, d.ta ? c * d.m + r : r * d.k + c);
      as[kk][mm] = v;
    }
    for (int i = threadIdx.x; i < TK * TN; i += 256) {
      int kk = i / TN, nn = i % TN;
      int64_t r = k0 + kk, c = col0 + nn;
      float v = 0.f;
      if (r < d.k && c < d.n) v = ldf(B, d.tb ? c * d.k + r : r * d.n + c);
      bs[kk][nn] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = as[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = bs[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    int64_t r = row0 + ty * 4 + i;
    if (r >= d.m) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      int64_t c = col0 + tx * 4 + j;
      if (c >= d.n) continue;
      const int64_t e = r * d.n + c;
      float v = d.alpha * acc[i][j];
      if (d.beta != 0.f) v += d.beta * ldf(C, e);
      if (bias) v += ldf(bias, c);
      if (x.residual) v += ldf(x.residual, e);
      if (x.gelu_grad_of) v *= gelu_derivative(ldf(x.gelu_grad_of, e));
      stf(C, e, v);
      if (x.gelu_out) stf(x.gelu_out, e, gelu_of(ldf(C, e)));
    }
  }
}

// The counts of cuda::gemm_path_counts: calls and output elements of each path.
struct PathCounter {
  std::atomic<int64_t> calls{0}, outputs{0};
  void add(const GemmParams& p) {
    calls.fetch_add(1, std::memory_order_relaxed);
    outputs.fetch_add(p.batch * p.m * p.n, std::memory_order_relaxed);
  }
  void read(int64_t* c, int64_t* o, bool reset) {
    *c = reset ? calls.exchange(0) : calls.load();
    *o = reset ? outputs.exchange(0) : outputs.load();
  }
};
PathCounter tensor_core_path, plain_bf16_path, plain_f32_path;

template <typename T>
void launch(const GemmParams& p) {
  Dims d{p.m, p.n, p.k, p.stride_a, p.stride_b, p.stride_c, p.trans_a, p.trans_b, float(p.alpha), float(p.beta)};
  const Extras<T> x{p.residual ? p.residual->as<T>() : nullptr, p.gelu_out ? p.gelu_out->as<T>() : nullptr,
                    p.gelu_grad_of ? p.gelu_grad_of->as<T>() : nullptr};
  dim3 grid(unsigned((p.n + TN - 1) / TN), unsigned((p.m + TM - 1) / TM), 1);
  for (int64_t b0 = 0; b0 < p.batch; b0 += 65535) {
    grid.z = unsigned(p.batch - b0 < 65535 ? p.batch - b0 : 65535);
    gemm_kernel<T><<<grid, 256, 0, cuda::stream()>>>(p.c->as<T>(), p.a->as<T>(), p.b->as<T>(),
                                                     p.bias ? p.bias->as<T>() : nullptr, d, x, b0);
  }
}
}  // namespace

void cuda_gemm(const GemmParams& p) {
  if (gemm_tensor_core_eligible(p)) {
    tensor_core_path.add(p);
    const std::string& family = kernel_choice("gemm");
    if (family == "auto") cuda_gemm_auto(p);
    else if (family == "tma" && cuda::wgmma_available()) cuda_gemm_tma(p);
    else if (family == "wgmma" && cuda::wgmma_available()) cuda_gemm_wgmma(p);
    else if (family == "wmma") cuda_gemm_wmma(p);
    else cuda_gemm_mma(p);
  } else if (p.c->dtype == DType::F32) {
    plain_f32_path.add(p);
    launch<float>(p);
  } else {
    plain_bf16_path.add(p);
    launch<__nv_bfloat16>(p);
  }
}

namespace cuda {
GemmPathCounts gemm_path_counts(bool reset) {
  GemmPathCounts c;
  tensor_core_path.read(&c.tensor_core_calls, &c.tensor_core_outputs, reset);
  plain_bf16_path.read(&c.plain_bf16_calls, &c.plain_bf16_outputs, reset);
  plain_f32_path.read(&c.plain_f32_calls, &c.plain_f32_outputs, reset);
  return c;
}
}  // namespace cuda

}  // namespace convmae
