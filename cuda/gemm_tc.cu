// gemm family wmma: the sm_80+ tensor-core kernel of cuda/gemm_tc_tiles.cuh with its main loop on
// the WMMA API (16x16x16 fragments; their register layouts are the compiler's), on 128x128 tiles
// of 64x32 warp tiles (Cfg0, the best of run 5's sweep on an H100, within ~10%). Also the
// eligibility of the tensor-core path (cuda/gemm.cu runs the plain kernel otherwise).
#include <cuda_bf16.h>
#include <mma.h>

#include "gemm_tc.cuh"
#include "gemm_tc_tiles.cuh"

namespace convmae {

namespace {
using namespace nvcuda;

template <int FM, int FN, bool a_kc, bool b_kc, int LDA, int LDB>
struct WmmaWarpTile {
  using LayoutA = typename std::conditional<a_kc, wmma::row_major, wmma::col_major>::type;
  using LayoutB = typename std::conditional<b_kc, wmma::col_major, wmma::row_major>::type;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];

  __device__ void zero() {
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.f);
  }
  __device__ void step(const bf16* ta, const bf16* tb, int kk, int r0, int c0, int) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, LayoutA> fa[FM];
    wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, LayoutB> fb[FN];
#pragma unroll
    for (int i = 0; i < FM; ++i) {
      const int r = r0 + i * 16;
      wmma::load_matrix_sync(fa[i], a_kc ? ta + r * LDA + kk : ta + kk * LDA + r, LDA);
    }
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      const int c = c0 + j * 16;
      wmma::load_matrix_sync(fb[j], b_kc ? tb + c * LDB + kk : tb + kk * LDB + c, LDB);
    }
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
  }
  __device__ void stage(int i, int j, float* st, int) const {
    wmma::store_matrix_sync(st, acc[i][j], kStageLd, wmma::mem_row_major);
  }
};

}  // namespace

bool gemm_tensor_core_eligible(const GemmParams& p) {
  const int64_t a_contig = p.trans_a ? p.m : p.k, b_contig = p.trans_b ? p.k : p.n;
  const bool strides_ok = p.batch == 1 || (p.stride_a % 8 == 0 && p.stride_b % 8 == 0);
  return p.c->dtype == DType::BF16 && a_contig % 8 == 0 && b_contig % 8 == 0 && strides_ok && p.m > 0 && p.n > 0 &&
         p.k > 0 && (p.m + 127) / 128 <= 65535;
}

void cuda_gemm_wmma(const GemmParams& p, int tiling) { launch_tiling<WmmaWarpTile, Cfg0, Cfg2>(p, tiling); }

bool cuda_gemm_tc_has_tiling(int tiling) {
  return tiling_in_build(tiling, 3);
}

}  // namespace convmae
