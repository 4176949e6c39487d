// CPU reference for gemm (contract in native/ops/gemm.h). op(A) is packed into 4-row blocks and
// op(B) into 16-column panels (zero padded), so the micro-kernel keeps a 4x16 accumulator tile in
// registers for the whole K loop. For float32 on x86-64 CPUs with AVX2 and FMA (checked at run
// time, Intel and AMD alike) the micro-kernel is the build compiled for them (ymm registers, fused
// multiply-adds); else, or with CONVMAE_CPU_SIMD=0, the portable build of 16-byte vectors (SSE2 on
// x86-64, NEON on arm64). Accumulation is in the storage type (fp32 for float32, as the contract
// says).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cpu/gelu_math.h"
#include "float_dispatch.h"
#include "ops/gemm.h"
#include "parallel.h"

namespace convmae {
namespace {

constexpr int MR = 4;
constexpr int NR = 16;

template <typename T>
struct Tile {
  T v[MR][NR];
};

// GCC vector types keep the 4x16 accumulator tile in registers (8 ymm in the AVX2 build).
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef double v2d __attribute__((vector_size(16)));

template <typename V, typename T>
__attribute__((always_inline)) inline void load_vec(V& v, const T* p) {
  std::memcpy(&v, p, sizeof v);
}

// t = Σ_k a[k*MR + r] * b[k*NR + c] over one packed 4-row block and one 16-column panel; V holds
// NR / VN values of T. Inlined into each build below, which gives it its instruction set.
template <typename T, typename V, int VN>
__attribute__((always_inline)) inline void micro_body(const T* a, const T* b, int64_t K, Tile<T>& t) {
  constexpr int W = NR / VN;
  V acc[MR][VN] = {};
  for (int64_t k = 0; k < K; ++k) {
    V bv[VN];
    for (int j = 0; j < VN; ++j) load_vec(bv[j], b + k * NR + j * W);
    for (int r = 0; r < MR; ++r) {
      const T ar = a[k * MR + r];
      for (int j = 0; j < VN; ++j) acc[r][j] += ar * bv[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < VN; ++j) std::memcpy(&t.v[r][j * W], &acc[r][j], sizeof(V));
}

void micro_portable(const float* a, const float* b, int64_t K, Tile<float>& t) {
  micro_body<float, v4f, 4>(a, b, K, t);
}
void micro_portable(const double* a, const double* b, int64_t K, Tile<double>& t) {
  micro_body<double, v2d, 8>(a, b, K, t);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) void micro_avx2(const float* a, const float* b, int64_t K, Tile<float>& t) {
  micro_body<float, v8f, 2>(a, b, K, t);
}

// Whether this CPU runs the AVX2/FMA build (and CONVMAE_CPU_SIMD is not 0), decided once.
bool use_avx2() {
  static const bool yes = [] {
    const char* env = std::getenv("CONVMAE_CPU_SIMD");
    if (env && std::strcmp(env, "0") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return yes;
}
#endif

inline void micro(const float* a, const float* b, int64_t K, Tile<float>& t) {
#if defined(__x86_64__)
  if (use_avx2()) return micro_avx2(a, b, K, t);
#endif
  micro_portable(a, b, K, t);
}
// float64 (the dtype of checks) takes the portable build everywhere: with 16 ymm accumulators
// the AVX2 build ran slower here (28 against 37 GFLOP/s).
inline void micro(const double* a, const double* b, int64_t K, Tile<double>& t) { micro_portable(a, b, K, t); }

// One problem's epilogue extras (gemm.h), offset to the problem; null where not given.
template <typename T>
struct Extras {
  const T* residual;
  T* gelu_out;
  const T* gelu_grad_of;
};

template <typename T>
void gemm_one(const GemmParams& p, const T* A, const T* B, T* C, const T* bias, Extras<T> x, std::vector<T>& bp) {
  const int64_t M = p.m, N = p.n, K = p.k;
  const int64_t panels = (N + NR - 1) / NR;
  // Pack op(B) into panels: bp[panel][k][c] = op(B)[k][panel*NR + c].
  bp.assign(size_t(panels * K * NR), T(0));
  parallel_for(panels, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t pn = lo; pn < hi; ++pn) {
      T* dst = bp.data() + pn * K * NR;
      int64_t c0 = pn * NR, cn = std::min<int64_t>(NR, N - c0);
      for (int64_t k = 0; k < K; ++k)
        for (int64_t c = 0; c < cn; ++c)
          dst[k * NR + c] = p.trans_b ? B[(c0 + c) * K + k] : B[k * N + c0 + c];
    }
  });
  const int64_t blocks = (M + MR - 1) / MR;
  const T alpha = T(p.alpha), beta = T(p.beta);
  // Each task packs its row blocks once, then walks the panels outermost so that one panel
  // (K x 16) stays in cache while it meets every row block of the task.
  parallel_for(blocks, 4, [&](int64_t lo, int64_t hi) {
    std::vector<T> ap(size_t((hi - lo) * K * MR));
    for (int64_t blk = lo; blk < hi; ++blk) {
      T* dst = ap.data() + (blk - lo) * K * MR;
      int64_t r0 = blk * MR, rn = std::min<int64_t>(MR, M - r0);
      for (int64_t k = 0; k < K; ++k)
        for (int r = 0; r < MR; ++r)
          dst[k * MR + r] = r < rn ? (p.trans_a ? A[k * M + r0 + r] : A[(r0 + r) * K + k]) : T(0);
    }
    Tile<T> tile;
    for (int64_t pn = 0; pn < panels; ++pn) {
      int64_t c0 = pn * NR, cn = std::min<int64_t>(NR, N - c0);
      for (int64_t blk = lo; blk < hi; ++blk) {
        micro(ap.data() + (blk - lo) * K * MR, bp.data() + pn * K * NR, K, tile);
        int64_t r0 = blk * MR, rn = std::min<int64_t>(MR, M - r0);
        for (int64_t r = 0; r < rn; ++r) {
          const int64_t row = (r0 + r) * N + c0;
          T* crow = C + row;
          for (int64_t c = 0; c < cn; ++c) {
            T v = alpha * tile.v[r][c];
            if (beta != T(0)) v += beta * crow[c];
            if (bias) v += bias[c0 + c];
            if (x.residual) v += x.residual[row + c];
            if (x.gelu_grad_of) v *= gelu_derivative(x.gelu_grad_of[row + c]);
            crow[c] = v;
            if (x.gelu_out) x.gelu_out[row + c] = gelu_value(v);
          }
        }
      }
    }
  });
}

}  // namespace

const char* cpu_gemm_build() {
#if defined(__x86_64__)
  if (use_avx2()) return "avx2+fma";
#endif
  return "portable";
}

void cpu_gemm(const GemmParams& p) {
  cpu_float_dispatch(p.c->dtype, "gemm", [&](auto zero) {
    using T = decltype(zero);
    std::vector<T> bp;
    for (int64_t i = 0; i < p.batch; ++i) {
      const int64_t oc = i * p.stride_c;
      const Extras<T> x{p.residual ? p.residual->as<T>() + oc : nullptr, p.gelu_out ? p.gelu_out->as<T>() + oc : nullptr,
                        p.gelu_grad_of ? p.gelu_grad_of->as<T>() + oc : nullptr};
      gemm_one<T>(p, p.a->as<T>() + i * p.stride_a, p.b->as<T>() + i * p.stride_b, p.c->as<T>() + oc,
                  p.bias ? p.bias->as<T>() : nullptr, x, bp);
    }
  });
}

}  // namespace convmae
