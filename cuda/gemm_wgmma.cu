// gemm on Hopper tensor cores with wgmma (sm_90a) for bfloat16 storage (contract in
// native/ops/gemm.h; the caller checks gemm_tensor_core_eligible and cuda::wgmma_available).
// bf16 operands, fp32 accumulation, then alpha, beta·C and the bias in fp32 and one rounding.
//
// Block: 128 x BN outputs, two warpgroups of 4 warps, each owning 64 rows x BN columns in
// registers (m64nBNk16, BN/2 fp32 per thread). K advances 64 at a time through a STAGES-deep ring
// of shared-memory tiles filled by every thread with 16-byte cp.async copies, written straight
// into the 128B-swizzled layout wgmma reads (cuda/wgmma.cuh), whichever of the operand's
// dimensions is contiguous in memory: a K-contiguous operand is stored K-major, an M/N-contiguous
// one (the transposed forms the backward needs) MN-major, and the instruction's transpose flags
// say which. Rows past M/N and K past the end are zero-filled by the copies.
// Per K tile: wait for its copies, fence them to the async proxy, one barrier, queue the copy of
// the tile STAGES-2 ahead (its slot's last readers finished: each warpgroup keeps at most one
// batch of wgmmas in flight), then 4 wgmmas, commit, and wait until only this batch is pending.
// Epilogue: the accumulators go through shared memory (fp32, rows padded by 8 floats) so that
// epilogue_store8 writes C in 16-byte row pieces. Split K and batches as the WMMA kernel.
#include <cuda_bf16.h>

#include "cuda_api.h"
#include "gemm_common.cuh"
#include "gemm_wgmma.cuh"
#include "runtime.cuh"
#include "scratch.cuh"
#include "wgmma.cuh"

namespace convmae {

namespace {
using bf16 = __nv_bfloat16;

template <int BN_, int STAGES_, int MIN_BLOCKS_>
struct WgCfg {
  static constexpr int BM = 128, BN = BN_, BK = 64, STAGES = STAGES_, MIN_BLOCKS = MIN_BLOCKS_, THREADS = 256;
  static constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2, STAGE_BYTES = A_BYTES + B_BYTES;
  static constexpr int PANEL_BYTES = BK * 128;  // one 64-wide M/N panel of an MN-major tile
  static constexpr int OUT_LD = BN + 8;         // fp32 staging row, in floats
  static constexpr int PIPE_BYTES = STAGES * STAGE_BYTES, OUT_BYTES = BM * OUT_LD * 4;
  static constexpr size_t SMEM = size_t(PIPE_BYTES > OUT_BYTES ? PIPE_BYTES : OUT_BYTES) + 1024;  // + alignment
  static_assert(BN == 128 || BN == 256, "wgmma tiles are 64x128 or 64x256 per warpgroup");
  static_assert(STAGES >= 3, "the ring keeps one slot in flight on the tensor cores and one loading");
  static_assert(PANEL_BYTES % 1024 == 0 && STAGE_BYTES % 1024 == 0 && A_BYTES % 1024 == 0, "tiles start on swizzle atoms");
};
// The tilings the benchmark can pick (CONVMAE_WGMMA_TILE=0..4 in a CONVMAE_GEMM_SWEEP build); 0
// is the default and the only one compiled otherwise. The default runs two blocks per SM so that
// one block's pipeline fill and epilogue overlap the other's products: with one block, a K = 256
// tile (4 K steps, ~1.2 µs of tensor-core work on an H100) would also wait ~1 µs for its first
// tiles and ~0.7 µs for its epilogue, and most of the model's GEMMs have K <= 1024 (modelled:
// ~2x at K = 256, ~1.3x at 1024, ~1.1x at 3072; the sweep's tiling 1 is the one-block version).
using WgCfg0 = WgCfg<128, 3, 2>;  // 96 KB of shared memory, copies one tile ahead, two blocks per SM
using WgCfg1 = WgCfg<128, 4, 1>;  // 128 KB, copies two tiles ahead, one block per SM
using WgCfg2 = WgCfg<256, 3, 1>;  // 144 KB, 128x256 tiles
using WgCfg3 = WgCfg<128, 6, 1>;  // 192 KB, copies four tiles ahead (more loads in flight on long K)
// Every K step moves (BM + BN)·BK·2 bytes from L2 for 2·BM·BN·BK FLOP: 64 FLOP/B at 128x128, 85 at
// 128x256. Run 7's 349 TF/s at 8192³ on the default is 5.5 TB/s of L2 reads; if that is the L2's
// limit (bench/RESULTS.md, session 11), the 128x128 tilings stop there and 128x256 near 470 TF/s.
using WgCfg4 = WgCfg<256, 4, 1>;  // 192 KB, 128x256 tiles, copies two tiles ahead

#ifdef CONVMAE_WGMMA_DEVICE
// Copies the operand tile (outer rows o0.., K columns k0..k0+63) into a swizzled slot.
// kContig: element (o, k) at g[o*ld + k], stored K-major (OUTER rows of 64 K); else at
// g[k*ld + o], stored MN-major (64 rows of K, OUTER/64 panels of 64 outer elements).
template <bool kContig, int OUTER, int THREADS, int PANEL_BYTES>
__device__ inline void load_swizzled(unsigned char* s, const bf16* g, int64_t ld, int64_t o0, int64_t o_end, int64_t k0,
                                     int64_t k_end) {
  constexpr int vecs = OUTER * 64 / 8;
#pragma unroll
  for (int v = threadIdx.x; v < vecs; v += THREADS) {
    int64_t o, k;
    int dst;
    if (kContig) {
      const int r = v >> 3, c = v & 7;
      o = o0 + r;
      k = k0 + c * 8;
      dst = swizzle128(r, c);
    } else {
      constexpr int per_row = OUTER / 8;
      const int r = v / per_row, q = v % per_row;
      o = o0 + q * 8;
      k = k0 + r;
      dst = (q >> 3) * PANEL_BYTES + swizzle128(r, q & 7);
    }
    const bool valid = o < o_end && k < k_end;  // extents are multiples of 8: a vector is all in or out
    cp_async16(s + dst, valid ? (kContig ? g + o * ld + k : g + k * ld + o) : g, valid);
  }
}
#endif

template <typename G, bool TA, bool TB, bool SPLIT>
__global__ void __launch_bounds__(G::THREADS, G::MIN_BLOCKS)
    gemm_wgmma_kernel(bf16* C, const bf16* A, const bf16* B, const bf16* bias, TcDims d, TcExtras x, int64_t batch0, float* ws,
                      int64_t k_chunk) {
#ifdef CONVMAE_WGMMA_DEVICE
  constexpr int BM = G::BM, BN = G::BN, BK = G::BK, STAGES = G::STAGES, THREADS = G::THREADS;
  constexpr bool a_kc = !TA, b_kc = TB;  // K contiguous: stored K-major (transpose flag 0)
  extern __shared__ unsigned char smem_raw[];
  unsigned char* smem = smem_aligned_1024(smem_raw);

  int64_t k_begin, k_end;
  block_problem<SPLIT>(d, batch0, k_chunk, A, B, C, x, k_begin, k_end);
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  const int wg = threadIdx.x / 128;  // this warpgroup's rows: m0 + 64·wg ..

  float acc[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; ++i) acc[i] = 0.f;

  const int64_t ktiles = (k_end - k_begin + BK - 1) / BK;
  auto issue = [&](int64_t kt) {
    unsigned char* slot = smem + int(kt % STAGES) * G::STAGE_BYTES;
    const int64_t k0 = k_begin + kt * BK;
    load_swizzled<a_kc, BM, THREADS, G::PANEL_BYTES>(slot, A, d.lda, m0, d.m, k0, k_end);
    load_swizzled<b_kc, BN, THREADS, G::PANEL_BYTES>(slot + G::A_BYTES, B, d.ldb, n0, d.n, k0, k_end);
  };
#pragma unroll
  for (int s = 0; s < STAGES - 2; ++s) {
    if (s < ktiles) issue(s);
    cp_async_commit();
  }
  for (int64_t kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 3>();
    fence_proxy_async_smem();
    __syncthreads();  // tile kt is in place; every warpgroup is done with tile kt-2's slot
    if (kt + STAGES - 2 < ktiles) issue(kt + STAGES - 2);
    cp_async_commit();
    const unsigned char* ta = smem + int(kt % STAGES) * G::STAGE_BYTES;
    wgmma_fence();
    wgmma_fence_operands(acc);
    wgmma_k64<BN, TA, TB, G::PANEL_BYTES>(acc, ta, ta + G::A_BYTES, wg);
    wgmma_commit();
    wgmma_wait<1>();
    wgmma_fence_operands(acc);
  }
  wgmma_wait<0>();
  wgmma_fence_operands(acc);
  cp_async_wait<0>();
  __syncthreads();  // the ring is free: stage the fp32 tile in it

  float* out = reinterpret_cast<float*>(smem);
  wgmma_stage<BN>(out, G::OUT_LD, acc, wg);
  __syncthreads();
  store_staged_tile<SPLIT, BM, BN, THREADS>(C, ws, bias, d, x, m0, n0, out, G::OUT_LD);
#endif
}

// Writes 1 when this device runs the sm_90a code (wgmma compiled in), else 0.
__global__ void wgmma_probe_kernel(int* out) {
#ifdef CONVMAE_WGMMA_DEVICE
  *out = 1;
#else
  *out = 0;
#endif
}

template <typename G, bool TA, bool TB>
void launch(const GemmParams& p) {
  const TcDims d = tc_dims(p);
  const TcExtras x = tc_extras(p);
  const bf16* bias = p.bias ? p.bias->as<bf16>() : nullptr;
  auto launch_grid = [&](bool split, dim3 grid, const bf16* a, bf16* c, const TcDims& dd, const TcExtras& xx, float* ws,
                         int64_t k_chunk, int64_t b0) {
    auto kernel = split ? gemm_wgmma_kernel<G, TA, TB, true> : gemm_wgmma_kernel<G, TA, TB, false>;
    split ? allow_smem_once<gemm_wgmma_kernel<G, TA, TB, true>>(G::SMEM) : allow_smem_once<gemm_wgmma_kernel<G, TA, TB, false>>(G::SMEM);
    kernel<<<grid, G::THREADS, G::SMEM, cuda::stream()>>>(c, a, p.b->as<bf16>(), bias, dd, xx, b0, ws, k_chunk);
  };
  run_tiles(p, d, x, bias, G::BM, G::BN, G::BK, G::MIN_BLOCKS, launch_grid);
}

template <typename G>
void launch_any(const GemmParams& p) {
  with_transposes(p, [&](auto ta, auto tb) { launch<G, decltype(ta)::value, decltype(tb)::value>(p); });
}

bool probe_wgmma() {
  const cuda::DeviceInfo d = cuda::info();
  if (d.cc_major != 9 || d.cc_minor != 0) return false;
  Scratch flag(sizeof(int), "gemm");
  int host = 0;
  wgmma_probe_kernel<<<1, 1, 0, cuda::stream()>>>(flag.as<int>());
  cuda::count_wait();
  const bool ok = cudaGetLastError() == cudaSuccess &&
                  cudaMemcpyAsync(&host, flag.as<int>(), sizeof(int), cudaMemcpyDeviceToHost, cuda::stream()) == cudaSuccess &&
                  cudaStreamSynchronize(cuda::stream()) == cudaSuccess;
  cudaGetLastError();
  return ok && host == 1;
}
}  // namespace

namespace cuda {
bool wgmma_available() {
  static const bool available = info().usable && probe_wgmma();  // decided once: gemm asks per call
  return available;
}
}  // namespace cuda

bool cuda_gemm_wgmma_has_tiling(int tiling) {
  return tiling_in_build(tiling, 4);
}

void cuda_gemm_wgmma(const GemmParams& p, int tiling) {
#ifdef CONVMAE_GEMM_SWEEP
  if (tiling < 0) tiling = sweep_tiling("CONVMAE_WGMMA_TILE", 4);  // read per call: bench/gemm_sweep.ts switches it
  switch (tiling) {
    case 1: return launch_any<WgCfg1>(p);
    case 2: return launch_any<WgCfg2>(p);
    case 3: return launch_any<WgCfg3>(p);
    case 4: return launch_any<WgCfg4>(p);
    default: break;
  }
#endif
  launch_any<WgCfg0>(p);
}

}  // namespace convmae
