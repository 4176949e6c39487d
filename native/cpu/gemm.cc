// CPU reference for gemm (contract in native/ops/gemm.h). op(A) is packed into 4-row blocks and
// op(B) into 16-column panels (zero padded), so the micro-kernel keeps a 4x16 accumulator tile in
// registers for the whole K loop; target_clones picks an AVX2/FMA build where the CPU has it.
#include <algorithm>
#include <vector>

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

// acc = Σ_k a[r][k] * b[k][c] over one 4-row block (a: [MR][K] interleaved as a[k*MR + r]) and one
// 16-column panel (b: [K][NR]).
__attribute__((target_clones("arch=haswell", "default")))
void micro_f32(const float* a, const float* b, int64_t K, Tile<float>& t) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = b + k * NR;
    const float* ak = a + k * MR;
    for (int r = 0; r < MR; ++r)
      for (int c = 0; c < NR; ++c) acc[r][c] += ak[r] * bk[c];
  }
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NR; ++c) t.v[r][c] = acc[r][c];
}

__attribute__((target_clones("arch=haswell", "default")))
void micro_f64(const double* a, const double* b, int64_t K, Tile<double>& t) {
  double acc[MR][NR] = {};
  for (int64_t k = 0; k < K; ++k) {
    const double* bk = b + k * NR;
    const double* ak = a + k * MR;
    for (int r = 0; r < MR; ++r)
      for (int c = 0; c < NR; ++c) acc[r][c] += ak[r] * bk[c];
  }
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NR; ++c) t.v[r][c] = acc[r][c];
}

inline void micro(const float* a, const float* b, int64_t K, Tile<float>& t) { micro_f32(a, b, K, t); }
inline void micro(const double* a, const double* b, int64_t K, Tile<double>& t) { micro_f64(a, b, K, t); }

template <typename T>
void gemm_one(const GemmParams& p, const T* A, const T* B, T* C, const T* bias, std::vector<T>& bp) {
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
  parallel_for(blocks, 4, [&](int64_t lo, int64_t hi) {
    std::vector<T> ap(size_t(K * MR));
    Tile<T> tile;
    for (int64_t blk = lo; blk < hi; ++blk) {
      int64_t r0 = blk * MR, rn = std::min<int64_t>(MR, M - r0);
      for (int64_t k = 0; k < K; ++k)
        for (int r = 0; r < MR; ++r)
          ap[size_t(k * MR + r)] =
              r < rn ? (p.trans_a ? A[k * M + r0 + r] : A[(r0 + r) * K + k]) : T(0);
      for (int64_t pn = 0; pn < panels; ++pn) {
        micro(ap.data(), bp.data() + pn * K * NR, K, tile);
        int64_t c0 = pn * NR, cn = std::min<int64_t>(NR, N - c0);
        for (int64_t r = 0; r < rn; ++r) {
          T* crow = C + (r0 + r) * N + c0;
          for (int64_t c = 0; c < cn; ++c) {
            T v = alpha * tile.v[r][c];
            if (beta != T(0)) v += beta * crow[c];
            if (bias) v += bias[c0 + c];
            crow[c] = v;
          }
        }
      }
    }
  });
}

}  // namespace

void cpu_gemm(const GemmParams& p) {
  cpu_float_dispatch(p.c->dtype, "gemm", [&](auto zero) {
    using T = decltype(zero);
    std::vector<T> bp;
    for (int64_t i = 0; i < p.batch; ++i) {
      gemm_one<T>(p, p.a->as<T>() + i * p.stride_a, p.b->as<T>() + i * p.stride_b, p.c->as<T>() + i * p.stride_c,
                  p.bias ? p.bias->as<T>() : nullptr, bp);
    }
  });
}

}  // namespace convmae
