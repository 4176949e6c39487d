// layernorm on CUDA (full contract in native/ops/layernorm.h): LayerNorm over the last dim of a
// row-major [rows, C] tensor, biased variance, eps inside the root, and its backward.
//   forward:  y = (x − mean)·rstd·gamma + beta, mean [rows] and rstd [rows] saved (fp32)  (=)
//   backward: dx = rstd·(g − mean_c(g) − x̂·mean_c(g·x̂)) with g = dy·gamma   (= or += accumulate)
//             dgamma[c] = Σ_r dy·x̂,  dbeta[c] = Σ_r dy                                  (=)
// float32 or bfloat16 storage for x, y, gamma, beta and their gradients; mean and rstd always
// float32; arithmetic and every sum in fp32 (the cross-row sums of dgamma and dbeta finish in
// double). With accumulate, dx is read and the new value added before the one rounding to T. Outputs are distinct from the inputs (checked by the binding). rows
// may be 0: the forward is then not called, and the backward writes dgamma = dbeta = 0.
//
// Forward and dx: one warp per row (8 rows per 256-thread block, grid-stride over rows). The row
// statistics are taken relative to the row's first element x0 (two passes over centred values),
// so that rows with a large mean keep their precision in fp32 as the CPU's double sums do:
// s = Σ(x − x0), μ' = s/C, var = Σ(x − x0 − μ')²/C, and mean = x0 + μ' is only formed to be saved.
// The `rows` kernel family (kernel_choice("layernorm"), for C a multiple of 8 up to 1024 and
// 16-byte aligned buffers): the same warp per row, but the row is read once, in 16-byte pieces
// (lane l takes the 8-element vectors l, l + 32, ...), kept in registers for both statistics
// passes and the output, and written in 16-byte pieces; dx likewise holds x and dy in registers.
// Its forward's grid stops at the blocks the SMs hold at once, and each warp loads its next row
// before it reduces the current one. Same formulas; the sums group differently (per lane over its
// vectors, then the warp).
// dgamma/dbeta: the rows are cut into chunks (a split that depends only on `rows`, so the result
// is deterministic) with partial sums [chunks, 2, C], which a last kernel adds up
// (cuda/chunk_sum.cuh). The rows family
// with C <= 768 takes the backward in one pass: one block per chunk (<= 512 chunks of >= 16 rows)
// computes dx and its chunk's partial sums from the x and dy it holds in registers. Otherwise
// dx comes first, then a kernel writes the partials of <= 256 chunks of >= 64 rows (32 columns
// x 8 row lanes per block, or 256 columns with 8 per thread and 16-byte loads where C % 8 == 0;
// column tiles on grid x, chunks on grid y).
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <string>

#include "chunk_sum.cuh"
#include "cuda_api.h"
#include "kernel_choice.h"
#include "errors.h"
#include "ops/layernorm.h"
#include "runtime.cuh"
#include "storage.cuh"
#include "scratch.cuh"

namespace convmae {

namespace {
constexpr int kThreads = 256, kWarps = kThreads / 32;
constexpr int kColTile = 32, kRowLanes = 8;  // the partial-sum kernel's block shape
constexpr int kFusedMaxC = 768;               // widest row the one-pass rows backward takes (3 vectors per lane)

template <typename T>
__global__ void __launch_bounds__(kThreads) layernorm_kernel(T* y, float* mean, float* rstd, const T* x, const T* gamma,
                                                             const T* beta, int64_t rows, int64_t C, float eps) {
  const int lane = threadIdx.x % 32;
  for (int64_t r = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; r < rows; r += int64_t(gridDim.x) * kWarps) {
    const T* xr = x + r * C;
    const float x0 = ldf(xr, 0);
    float s = 0.f;
    for (int64_t c = lane; c < C; c += 32) s += ldf(xr, c) - x0;
    const float mu = warp_sum(s) / float(C);  // mean − x0
    float v = 0.f;
    for (int64_t c = lane; c < C; c += 32) {
      const float d = (ldf(xr, c) - x0) - mu;
      v += d * d;
    }
    const float rs = 1.f / sqrtf(warp_sum(v) / float(C) + eps);
    T* yr = y + r * C;
    for (int64_t c = lane; c < C; c += 32) {
      const float xh = ((ldf(xr, c) - x0) - mu) * rs;
      stf(yr, c, xh * ldf(gamma, c) + ldf(beta, c));
    }
    if (lane == 0) {
      stf(mean, r, x0 + mu);
      stf(rstd, r, rs);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) layernorm_dx_kernel(T* dx, const T* dy, const T* x, const float* mean,
                                                                const float* rstd, const T* gamma, int64_t rows, int64_t C,
                                                                bool accumulate) {
  const int lane = threadIdx.x % 32;
  for (int64_t r = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; r < rows; r += int64_t(gridDim.x) * kWarps) {
    const T* xr = x + r * C;
    const T* dyr = dy + r * C;
    const float m = ldf(mean, r), rs = ldf(rstd, r);
    float sg = 0.f, sgx = 0.f;  // Σ_c g and Σ_c g·x̂
    for (int64_t c = lane; c < C; c += 32) {
      const float xh = (ldf(xr, c) - m) * rs;
      const float g = __fmul_rn(ldf(dyr, c), ldf(gamma, c));  // rounded as in the second loop (no fma)
      sg += g;
      sgx += g * xh;
    }
    const float mg = warp_sum(sg) / float(C), mgx = warp_sum(sgx) / float(C);
    T* dxr = dx + r * C;
    for (int64_t c = lane; c < C; c += 32) {
      const float xh = (ldf(xr, c) - m) * rs;
      const float v = rs * (__fmul_rn(ldf(dyr, c), ldf(gamma, c)) - mg - xh * mgx);
      stf(dxr, c, accumulate ? ldf(dxr, c) + v : v);
    }
  }
}

// The rows family: V vectors of 8 per lane cover C (C / 8 <= 32·V); vector j of lane l is
// elements 8·(32j + l) .. +8 when 32j + l < C / 8. The grid is at most the blocks the SMs hold at
// once, so each warp takes several rows; the next row's loads go out before this row's sums, so
// that a warp keeps a row in flight while it reduces one (a row of 256 bf16 is 16 bytes a lane).
template <typename T, int V>
__device__ inline void load_row(Packed8<T> (&raw)[V], const T* x, int64_t r, int64_t rows, int C, int lane) {
  if (r >= rows) return;
#pragma unroll
  for (int j = 0; j < V; ++j)
    if (32 * j + lane < C / 8) load_packed8(x + r * C + 8 * (32 * j + lane), raw[j]);
}

template <typename T, int V>
__global__ void __launch_bounds__(kThreads) layernorm_rows_kernel(T* y, float* mean, float* rstd, const T* x, const T* gamma,
                                                                  const T* beta, int64_t rows, int C, float eps) {
  const int lane = threadIdx.x % 32, nv = C / 8;
  const int64_t stride = int64_t(gridDim.x) * kWarps;
  int64_t r = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32;
  Packed8<T> raw[V];
  load_row<T, V>(raw, x, r, rows, C, lane);
  for (; r < rows; r += stride) {
    float v[V][8];
#pragma unroll
    for (int j = 0; j < V; ++j)
      if (32 * j + lane < nv) unpack8(raw[j], v[j]);
    load_row<T, V>(raw, x, r + stride, rows, C, lane);
    const float x0 = __shfl_sync(0xffffffffu, v[0][0], 0);  // element 0: lane 0's first
    float s = 0.f;
#pragma unroll
    for (int j = 0; j < V; ++j)
      if (32 * j + lane < nv) {
#pragma unroll
        for (int e = 0; e < 8; ++e) s += v[j][e] - x0;
      }
    const float mu = warp_sum(s) / float(C);  // mean − x0
    float q = 0.f;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      if (32 * j + lane < nv) {
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const float d = (v[j][e] - x0) - mu;
          q += d * d;
        }
      }
    }
    const float rs = 1.f / sqrtf(warp_sum(q) / float(C) + eps);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int vi = 32 * j + lane;
      if (vi < nv) {
        float g[8], b[8];
        load8(gamma + 8 * vi, g);
        load8(beta + 8 * vi, b);
#pragma unroll
        for (int e = 0; e < 8; ++e) v[j][e] = ((v[j][e] - x0) - mu) * rs * g[e] + b[e];
        store8(y + r * C + 8 * vi, v[j]);
      }
    }
    if (lane == 0) {
      stf(mean, r, x0 + mu);
      stf(rstd, r, rs);
    }
  }
}

// The rows family's backward: dx with x and dy read once into registers (a warp per row). With
// PARTIALS (C <= kFusedMaxC), also the block's partial dgamma/dbeta over its chunk of rows
// (part[blockIdx.x][0][c] = Σ dy·x̂, part[blockIdx.x][1][c] = Σ dy) from the same registers, a
// block per chunk, each lane adding its rows in order and the 8 warps then added in warp order:
// deterministic for a given chunk. Without, the warps stride over all rows.
template <typename T, int V, bool PARTIALS>
__global__ void __launch_bounds__(kThreads)
    layernorm_rows_backward_kernel(T* dx, float* part, const T* dy, const T* x, const float* mean, const float* rstd,
                                   const T* gamma, int64_t rows, int C, int64_t chunk, bool accumulate) {
  __shared__ __align__(16) float acc[2][PARTIALS ? kFusedMaxC : 1];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nv = C / 8;
  const int64_t first = PARTIALS ? int64_t(blockIdx.x) * chunk + warp : int64_t(blockIdx.x) * kWarps + warp;
  const int64_t end = PARTIALS ? (first - warp + chunk < rows ? first - warp + chunk : rows) : rows;
  const int64_t step = PARTIALS ? kWarps : int64_t(gridDim.x) * kWarps;
  float pg[V][8] = {}, pb[V][8] = {};
  for (int64_t r = first; r < end; r += step) {
    const float m = mean[r], rs = rstd[r];
    float xh[V][8], g[V][8];
    float sg = 0.f, sgx = 0.f;  // Σ_c g and Σ_c g·x̂
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int vi = 32 * j + lane;
      if (vi < nv) {
        float w[8];
        load8(x + r * C + 8 * vi, xh[j]);
        load8(dy + r * C + 8 * vi, g[j]);
        load8(gamma + 8 * vi, w);
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          xh[j][e] = (xh[j][e] - m) * rs;
          if constexpr (PARTIALS) {
            pg[j][e] += g[j][e] * xh[j][e];
            pb[j][e] += g[j][e];
          }
          g[j][e] = __fmul_rn(g[j][e], w[e]);
          sg += g[j][e];
          sgx += g[j][e] * xh[j][e];
        }
      }
    }
    const float mg = warp_sum(sg) / float(C), mgx = warp_sum(sgx) / float(C);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const int vi = 32 * j + lane;
      if (vi < nv) {
#pragma unroll
        for (int e = 0; e < 8; ++e) g[j][e] = rs * (g[j][e] - mg - xh[j][e] * mgx);
        if (accumulate) {
          float old[8];
          load8(dx + r * C + 8 * vi, old);
#pragma unroll
          for (int e = 0; e < 8; ++e) g[j][e] += old[e];
        }
        store8(dx + r * C + 8 * vi, g[j]);
      }
    }
  }
  if constexpr (PARTIALS) {
    // Every column is some lane's: warp 0 sets acc, warps 1..7 add in turn.
    for (int w = 0; w < kWarps; ++w) {
      if (warp == w) {
#pragma unroll
        for (int j = 0; j < V; ++j) {
          const int vi = 32 * j + lane;
          if (vi < nv) {
#pragma unroll
            for (int q = 0; q < 2; ++q) {  // the dgamma sums, then the dbeta sums
              const float(&mine)[8] = q ? pb[j] : pg[j];
              float sum[8];
              if (w > 0) load8_spread(&acc[q][8 * vi], sum);
#pragma unroll
              for (int e = 0; e < 8; ++e) sum[e] = w == 0 ? mine[e] : sum[e] + mine[e];
              store8_spread(&acc[q][8 * vi], sum);
            }
          }
        }
      }
      __syncthreads();
    }
    for (int c = threadIdx.x; c < C; c += kThreads) {
      part[(int64_t(blockIdx.x) * 2) * C + c] = acc[0][c];
      part[(int64_t(blockIdx.x) * 2 + 1) * C + c] = acc[1][c];
    }
  }
}

bool aligned16(std::initializer_list<const void*> buffers) {
  for (const void* b : buffers)
    if (reinterpret_cast<uintptr_t>(b) % 16 != 0) return false;
  return true;
}

// Whether the rows family takes a problem: chosen, C a multiple of 8 up to 1024, every buffer
// it reads or writes in 16-byte pieces aligned.
bool rows_family(int64_t C, std::initializer_list<const void*> buffers) {
  return kernel_choice("layernorm") == "rows" && C % 8 == 0 && C <= 1024 && aligned16(buffers);
}

// Calls f(std::integral_constant<int, V>) with V = the vectors per lane C needs (1..4).
template <typename F>
void with_vectors_per_lane(int64_t C, F f) {
  const int64_t v = (C / 8 + 31) / 32;
  if (v <= 1) f(std::integral_constant<int, 1>{});
  else if (v == 2) f(std::integral_constant<int, 2>{});
  else if (v == 3) f(std::integral_constant<int, 3>{});
  else f(std::integral_constant<int, 4>{});
}

// part[ch][0][c] = Σ_{r in chunk ch} dy·x̂,  part[ch][1][c] = Σ_{r in chunk ch} dy. A block of
// 32 x 8 threads covers 32·VEC columns, each thread VEC consecutive columns (VEC = 8: 16-byte
// loads of dy and x, for C % 8 == 0 and aligned rows) over every 8th row of the chunk; each
// column's rows are added in row order, then the 8 row lanes in lane order.
template <typename T, int VEC>
__global__ void __launch_bounds__(kColTile* kRowLanes)
    layernorm_partial_kernel(float* part, const T* dy, const T* x, const float* mean, const float* rstd, int64_t rows,
                             int64_t C, int64_t chunk) {
  constexpr int W = kColTile * VEC;
  __shared__ __align__(16) float sg[kRowLanes][W];
  __shared__ __align__(16) float sb[kRowLanes][W];
  const int tx = threadIdx.x % kColTile, ty = threadIdx.x / kColTile;
  const int64_t ch = blockIdx.y;
  const int64_t r0 = ch * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
  const int64_t tiles = (C + W - 1) / W;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {  // uniform per block
    const int64_t c = tile * W + tx * VEC;
    float ag[VEC] = {}, ab[VEC] = {};
    if (c < C) {
#pragma unroll 1  // rolled: unrolled, the VEC = 1 form spills on sm_80
      for (int64_t r = r0 + ty; r < r1; r += kRowLanes) {
        float d[VEC], v[VEC];
        load_vec<VEC>(dy + r * C + c, d);
        load_vec<VEC>(x + r * C + c, v);
        const float m = mean[r], rs = rstd[r];
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
          ag[e] += d[e] * ((v[e] - m) * rs);
          ab[e] += d[e];
        }
      }
    }
    if constexpr (VEC == 8) {
      store8_spread(&sg[ty][tx * 8], ag);
      store8_spread(&sb[ty][tx * 8], ab);
    } else {
      sg[ty][tx] = ag[0];
      sb[ty][tx] = ab[0];
    }
    __syncthreads();
    const int64_t col = tile * W + threadIdx.x;  // thread t < W: column t of the tile
    if (threadIdx.x < W && col < C) {
      float tg = 0.f, tb = 0.f;
#pragma unroll
      for (int k = 0; k < kRowLanes; ++k) {
        tg += sg[k][threadIdx.x];
        tb += sb[k][threadIdx.x];
      }
      part[(ch * 2) * C + col] = tg;
      part[(ch * 2 + 1) * C + col] = tb;
    }
    __syncthreads();  // before the next tile overwrites sg/sb
  }
}

// dgamma[c] = Σ_ch part[ch][0][c], dbeta[c] = Σ_ch part[ch][1][c], by chunk_column_sum in double
// (cuda/chunk_sum.cuh).
template <typename T>
__global__ void __launch_bounds__(kSumThreads)
    layernorm_param_grad_kernel(T* dgamma, T* dbeta, const float* part, int64_t chunks, int64_t C) {
  __shared__ double lanes[kSumLanes][kSumCols];
  for (int64_t c0 = int64_t(blockIdx.x) * kSumCols; c0 < C; c0 += int64_t(gridDim.x) * kSumCols) {  // uniform per block
    const int64_t c = c0 + column_in_tile();
    const double g = chunk_column_sum(part + c, chunks, 2 * C, c < C, lanes);
    const double b = chunk_column_sum(part + C + c, chunks, 2 * C, c < C, lanes);
    if (first_sum_lane() && c < C) {
      stf(dgamma, c, float(g));
      stf(dbeta, c, float(b));
    }
  }
}
}  // namespace

void cuda_layernorm(const LayerNormParams& p) {
  if (p.rows == 0 || p.c == 0) return;
  cuda_float_dispatch(p.x->dtype, "layernorm", [&](auto zero) {
    using T = decltype(zero);
    const unsigned grid = cuda::grid_for(p.rows, kWarps);
    if (rows_family(p.c, {p.y->data, p.x->data, p.gamma->data, p.beta->data})) {
      with_vectors_per_lane(p.c, [&](auto v) {
        constexpr auto kernel = layernorm_rows_kernel<T, decltype(v)::value>;
        static const int per_sm = cuda::resident_blocks(kernel, kThreads, 0, "layernorm");  // one per instantiation
        const unsigned resident = unsigned(cuda::sm_count() * per_sm);
        kernel<<<std::min(grid, resident), kThreads, 0, cuda::stream()>>>(
            p.y->as<T>(), p.mean->as<float>(), p.rstd->as<float>(), p.x->as<T>(), p.gamma->as<T>(), p.beta->as<T>(),
            p.rows, int(p.c), float(p.eps));
      });
      return;
    }
    layernorm_kernel<T><<<grid, kThreads, 0, cuda::stream()>>>(
        p.y->as<T>(), p.mean->as<float>(), p.rstd->as<float>(), p.x->as<T>(), p.gamma->as<T>(), p.beta->as<T>(), p.rows,
        p.c, float(p.eps));
  });
}

void cuda_layernorm_backward(const LayerNormBackwardParams& p) {
  const int64_t R = p.rows, C = p.c;
  if (C == 0) return;
  const bool fused = R > 0 && C <= kFusedMaxC && rows_family(C, {p.dx->data, p.dy->data, p.x->data, p.gamma->data});
  // One-pass rows backward: up to 512 chunks of at least 16 rows (a block each). Otherwise the
  // CPU reference's chunking: at most 256 chunks of at least 64 rows.
  const int64_t chunk = fused ? std::max<int64_t>(16, (R + 511) / 512) : std::max<int64_t>(64, (R + 255) / 256);
  const int64_t chunks = (R + chunk - 1) / chunk;  // 0 when rows == 0: dgamma = dbeta = 0
  Scratch part(size_t(chunks) * 2 * size_t(C) * sizeof(float), "layernormBackward");
  cuda_float_dispatch(p.x->dtype, "layernormBackward", [&](auto zero) {
    using T = decltype(zero);
    cudaStream_t st = cuda::stream();
    if (fused) {
      with_vectors_per_lane(C, [&](auto v) {
        constexpr int V = decltype(v)::value;
        if constexpr (V <= 3) {
          layernorm_rows_backward_kernel<T, V, true><<<unsigned(chunks), kThreads, 0, st>>>(
              p.dx->as<T>(), part.as<float>(), p.dy->as<T>(), p.x->as<T>(), p.mean->as<float>(), p.rstd->as<float>(),
              p.gamma->as<T>(), R, int(C), chunk, p.accumulate);
        } else {
          throw_error("layernormBackward", "internal: the one-pass backward takes C <= 768 only");  // fused excludes it
        }
      });
    } else if (R > 0) {
      if (rows_family(C, {p.dx->data, p.dy->data, p.x->data, p.gamma->data})) {
        with_vectors_per_lane(C, [&](auto v) {
          layernorm_rows_backward_kernel<T, decltype(v)::value, false><<<cuda::grid_for(R, kWarps), kThreads, 0, st>>>(
              p.dx->as<T>(), nullptr, p.dy->as<T>(), p.x->as<T>(), p.mean->as<float>(), p.rstd->as<float>(),
              p.gamma->as<T>(), R, int(C), 0, p.accumulate);
        });
      } else {
        layernorm_dx_kernel<T><<<cuda::grid_for(R, kWarps), kThreads, 0, st>>>(
            p.dx->as<T>(), p.dy->as<T>(), p.x->as<T>(), p.mean->as<float>(), p.rstd->as<float>(), p.gamma->as<T>(), R, C,
            p.accumulate);
      }
      const bool wide = C % 8 == 0 && aligned16({p.dy->data, p.x->data});
      const int64_t width = wide ? kColTile * 8 : kColTile, tiles = (C + width - 1) / width;
      dim3 grid(unsigned(std::min<int64_t>(tiles, 65535 * 32)), unsigned(chunks), 1);
      auto kernel = wide ? layernorm_partial_kernel<T, 8> : layernorm_partial_kernel<T, 1>;
      kernel<<<grid, kColTile * kRowLanes, 0, st>>>(part.as<float>(), p.dy->as<T>(), p.x->as<T>(), p.mean->as<float>(),
                                                     p.rstd->as<float>(), R, C, chunk);
    }
    layernorm_param_grad_kernel<T><<<cuda::grid_for(C, kSumCols), kSumThreads, 0, st>>>(
        p.dgamma->as<T>(), p.dbeta->as<T>(), part.as<float>(), chunks, C);
  });
}

}  // namespace convmae
