// gemm family mma: the sm_80+ tensor-core kernel of cuda/gemm_tc_tiles.cuh with its main loop
// written out: ldmatrix .x4 (.trans for an operand whose K runs along the rows of its tile) and
// mma.sync m16n8k16 (cuda/mma_sync.cuh) with the fragment layouts of the PTX ISA; per k16 step a
// warp's 64x64 tile takes 4 ldmatrix for A, 4 for B and 32 mma. The 8-element row pad (80-, 272-
// or 528-byte pitch) puts the 8 rows of every ldmatrix in distinct banks.
// On 128x256 tiles of 64x64 warp tiles (Cfg2): shared-memory traffic is the bound to beat for
// mma.sync. At ~0.5 m16n8k16 per clock per SM (H100 and A100) and 128 bytes of shared memory per
// clock, a 64x32 warp tile's 6 ldmatrix.x4 per 16 mma (plus its block's cp.async fills) take as
// many clocks as its tensor work, a 64x64 tile's 8 per 32 about 70% of them.
#include <cuda_bf16.h>

#include "gemm_tc.cuh"
#include "gemm_tc_tiles.cuh"
#include "mma_sync.cuh"

namespace convmae {

namespace {
template <int FM, int FN, bool a_kc, bool b_kc, int LDA, int LDB>
struct MmaWarpTile {
  float acc[FM][2 * FN][4];  // m16 tile i, n8 tile j: rows g and g + 8, columns 2t and 2t + 1

  __device__ void zero() {
#pragma unroll
    for (int i = 0; i < FM; ++i)
#pragma unroll
      for (int j = 0; j < 2 * FN; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;
  }
  // ldmatrix lane l points at row l % 8 of 8x8 matrix l / 8. A fragment: matrices (m 0-7, k 0-7),
  // (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15, k 8-15); B, two n8 tiles: (n 0-7, k 0-7),
  // (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15). A tile stored with K along its rows
  // ([k][m] or [k][n]) is read with .trans.
  __device__ void step(const bf16* ta, const bf16* tb, int kk, int r0, int c0, int lane) {
    const int q = lane / 8, row = lane % 8;
    uint32_t a[FM][4];
#pragma unroll
    for (int i = 0; i < FM; ++i) {
      const int m = r0 + 16 * i;
      if constexpr (a_kc) ldsm_x4(a[i], ta + (m + lane % 16) * LDA + kk + 8 * (lane / 16));
      else ldsm_x4_trans(a[i], ta + (kk + row + 8 * (q / 2)) * LDA + m + 8 * (q % 2));
    }
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      const int n = c0 + 16 * j;
      uint32_t b[4];
      if constexpr (b_kc) ldsm_x4(b, tb + (n + row + 8 * (q / 2)) * LDB + kk + 8 * (q % 2));
      else ldsm_x4_trans(b, tb + (kk + lane % 16) * LDB + n + 8 * (lane / 16));
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        mma(acc[i][2 * j], a[i], b[0], b[1]);
        mma(acc[i][2 * j + 1], a[i], b[2], b[3]);
      }
    }
  }
  // Lane (g, t) writes rows g and g + 8, columns 2t, 2t + 1 of both n8 halves as float2: with
  // 24-float rows each half-warp's stores cover the 32 banks once.
  __device__ void stage(int i, int j, float* st, int lane) const {
    const int g = lane / 4, t = lane % 4;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float(&c)[4] = acc[i][2 * j + h];
      *reinterpret_cast<float2*>(st + g * kStageLd + 8 * h + 2 * t) = make_float2(c[0], c[1]);
      *reinterpret_cast<float2*>(st + (g + 8) * kStageLd + 8 * h + 2 * t) = make_float2(c[2], c[3]);
    }
  }
};

}  // namespace

void cuda_gemm_mma(const GemmParams& p, int tiling) { launch_tiling<MmaWarpTile, Cfg2, Cfg0>(p, tiling); }

}  // namespace convmae
