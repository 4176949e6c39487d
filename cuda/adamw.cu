// adamw on CUDA (full contract in native/ops/adamw.h): one AdamW step in place over float32
// param, m and v, reading grad; torch.optim.AdamW semantics (decoupled weight decay), t = step:
//   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
//   p ← p − lr·(m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + eps)
// float32 storage only. As on the CPU the arithmetic runs in double and each stored value is
// rounded to float32 once (elementwise and memory-bound, so fp64 costs nothing that matters on
// the target GPUs). Bias corrections are formed on the host. Grid-stride loop; each element is
// read into registers before it is written.
// adamw_multi: up to kMaxTensors tensors per launch (cuda/multi_tensor.cuh: their pointers,
// sizes, lr and decay passed by value, a block per 4096 elements of one tensor), with the same
// formula as adamw_kernel, so each tensor ends as adamw would leave it. Where a tensor's four
// buffers are 16-byte aligned they move as float4, a thread loading two quads of all four buffers
// before it writes either, and the tensor's last n % 4 elements go one at a time.
#include <cmath>

#include "multi_tensor.cuh"
#include "ops/adamw.h"
#include "runtime.cuh"

namespace convmae {

namespace {
struct AdamwScalars {
  double lr, beta1, beta2, eps, bc1, bc2, decay;
};

__device__ inline void adamw_element(float* param, const float* grad, float* m, float* v, int64_t i, double lr,
                                     double decay, double beta1, double beta2, double eps, double bc1, double bc2) {
  const double g = grad[i];
  const double mi = beta1 * double(m[i]) + (1.0 - beta1) * g;
  const double vi = beta2 * double(v[i]) + (1.0 - beta2) * g * g;
  const double pi = double(param[i]) * decay - lr * (mi / bc1) / (sqrt(vi / bc2) + eps);
  m[i] = float(mi);
  v[i] = float(vi);
  param[i] = float(pi);
}

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, int64_t n, AdamwScalars s) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    adamw_element(param, grad, m, v, i, s.lr, s.decay, s.beta1, s.beta2, s.eps, s.bc1, s.bc2);
}

constexpr int kMaxTensors = 48;
struct MultiEntry {
  float* param;
  const float* grad;
  float* m;
  float* v;
  int64_t n, first_block;
  double lr, decay;
  bool wide;  // all four buffers 16-byte aligned: float4 accesses
};
struct MultiLaunch {
  MultiEntry e[kMaxTensors];
  int count;
  double beta1, beta2, eps, bc1, bc2;
};
static_assert(sizeof(MultiLaunch) <= 4000, "kernel parameters must stay under 4 KB");

// A wide block's quads per thread, and how many of them are loaded (all four buffers) before any
// is written: 2 x 4 float4 keep 128 bytes per thread in flight at 76 registers, 3 blocks per SM.
constexpr int kQuadsPerThread = multi_tensor::kChunk / (4 * multi_tensor::kThreads), kQuadsInFlight = 2;
static_assert(kQuadsPerThread % kQuadsInFlight == 0, "passes cover a block's quads");

// adamw_element's formula on the four lanes of a quad held in registers.
__device__ inline void adamw_lane(float& p, float g, float& m, float& v, double lr, double decay, const MultiLaunch& L) {
  adamw_element(&p, &g, &m, &v, 0, lr, decay, L.beta1, L.beta2, L.eps, L.bc1, L.bc2);
}
__device__ inline void adamw_quad(float4& p, const float4& g, float4& m, float4& v, double lr, double decay,
                                  const MultiLaunch& L) {
  adamw_lane(p.x, g.x, m.x, v.x, lr, decay, L);
  adamw_lane(p.y, g.y, m.y, v.y, lr, decay, L);
  adamw_lane(p.z, g.z, m.z, v.z, lr, decay, L);
  adamw_lane(p.w, g.w, m.w, v.w, lr, decay, L);
}

__global__ void __launch_bounds__(multi_tensor::kThreads) adamw_multi_kernel(const __grid_constant__ MultiLaunch L) {
  const MultiEntry& e = multi_tensor::block_entry(L.e, L.count);
  int64_t begin, end;
  multi_tensor::block_range(e, begin, end);
  int64_t scalar_from = begin;
  if (e.wide) {
    const int64_t q0 = begin / 4, q_end = end / 4;  // begin is a multiple of kChunk
    for (int pass = 0; pass < kQuadsPerThread; pass += kQuadsInFlight) {
      float4 g[kQuadsInFlight], m[kQuadsInFlight], v[kQuadsInFlight], p[kQuadsInFlight];
#pragma unroll
      for (int j = 0; j < kQuadsInFlight; ++j) {
        const int64_t q = q0 + threadIdx.x + (pass + j) * multi_tensor::kThreads;
        if (q < q_end) {
          g[j] = reinterpret_cast<const float4*>(e.grad)[q];
          m[j] = reinterpret_cast<const float4*>(e.m)[q];
          v[j] = reinterpret_cast<const float4*>(e.v)[q];
          p[j] = reinterpret_cast<const float4*>(e.param)[q];
        }
      }
#pragma unroll
      for (int j = 0; j < kQuadsInFlight; ++j) {
        const int64_t q = q0 + threadIdx.x + (pass + j) * multi_tensor::kThreads;
        if (q < q_end) {
          adamw_quad(p[j], g[j], m[j], v[j], e.lr, e.decay, L);
          reinterpret_cast<float4*>(e.m)[q] = m[j];
          reinterpret_cast<float4*>(e.v)[q] = v[j];
          reinterpret_cast<float4*>(e.param)[q] = p[j];
        }
      }
    }
    scalar_from = q_end * 4;
  }
  for (int64_t i = scalar_from + threadIdx.x; i < end; i += multi_tensor::kThreads)
    adamw_element(e.param, e.grad, e.m, e.v, i, e.lr, e.decay, L.beta1, L.beta2, L.eps, L.bc1, L.bc2);
}
}  // namespace

void cuda_adamw(const AdamwParams& p) {
  const int64_t n = p.param->numel;
  if (n == 0) return;
  AdamwScalars s{p.lr, p.beta1, p.beta2, p.eps, 1.0 - std::pow(p.beta1, double(p.step)),
                 1.0 - std::pow(p.beta2, double(p.step)), 1.0 - p.lr * p.weight_decay};
  adamw_kernel<<<cuda::grid_for(n, 256), 256, 0, cuda::stream()>>>(p.param->as<float>(), p.grad->as<float>(),
                                                                  p.m->as<float>(), p.v->as<float>(), n, s);
}

void cuda_adamw_multi(const AdamwMultiParams& p) {
  MultiLaunch base{};
  base.beta1 = p.beta1;
  base.beta2 = p.beta2;
  base.eps = p.eps;
  base.bc1 = 1.0 - std::pow(p.beta1, double(p.step));
  base.bc2 = 1.0 - std::pow(p.beta2, double(p.step));
  auto launch = [](const MultiLaunch& L, int64_t blocks) {
    adamw_multi_kernel<<<unsigned(blocks), multi_tensor::kThreads, 0, cuda::stream()>>>(L);
  };
  multi_tensor::Batcher<MultiLaunch, kMaxTensors, decltype(launch)> batch(base, launch);
  for (const AdamwTensor& t : p.tensors) {
    if (t.param->numel == 0) continue;
    const auto aligned = [](const Buffer* b) { return reinterpret_cast<uintptr_t>(b->data) % 16 == 0; };
    const bool wide = aligned(t.param) && aligned(t.grad) && aligned(t.m) && aligned(t.v);
    batch.add(MultiEntry{t.param->as<float>(), t.grad->as<float>(), t.m->as<float>(), t.v->as<float>(), t.param->numel, 0,
                         t.lr, 1.0 - t.lr * t.weight_decay, wide});
  }
  batch.flush();
}

}  // namespace convmae
