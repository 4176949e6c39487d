// attention on tensor cores for bfloat16 storage (contract in native/ops/attention.h; chosen by
// cuda/attention.cu): head dims 32, 64 and 80, 1 <= L <= 256, any N·H. The L x L scores live only
// in registers; nothing of size L² is written anywhere.
//
// Both kernels run one block per (n, h), of 4 warps, or 8 where the block's shared memory leaves
// room for only one block per SM (L 196 Dh 64 and Dh 80 backward, L 256 Dh 80 forward on an H100:
// two warps per scheduler, so one's mma and ldmatrix latencies hide behind the other's) or where
// the block has 16 work items or more (the backward from L 113, the forward from L 241), and
// first stage that head's Q, K, V (and dO) in shared memory as bf16 [L16][Dh + 8] (L16 = L rounded
// up to 16; 16-byte copies, Q, K and V by cp.async, all in flight at once; rows past L zero; the
// 8-element pad puts the 8 rows of every ldmatrix in distinct banks). The products are
// mma.sync m16n8k16 (bf16 in, fp32 accumulate) with operands from ldmatrix (.trans where the
// reduction runs over rows of the staged matrix); softmax, scale, lse and D are fp32. Scores are
// kept in log2 units (s·scale·log2 e) so each exponential is one exp2. An m16 accumulator tile of
// two adjacent n8 tiles is, register for register, the A fragment of one k16 step, so P and dS
// turn into mma operands in registers (rounded to bf16). Rows past L take part with zero inputs and
// are masked: keys past L get score −inf (forward) or P = 0 (backward), queries past L get lse =
// +inf (P = 0) and D = 0 in the backward; nothing past L is stored. No atomics: deterministic.
//
//   forward: warp w takes query tiles w, w+W, ... (W warps; 16 rows each): Q fragments stay in registers;
//     keys go by in chunks of 64 with an online softmax (running max m and sum l, O rescaled when
//     m grows), 16-key blocks past L16 skipped: S = Q·Kᵀ (K by ldmatrix), P = exp2(S − m), O += P·V
//     (V by ldmatrix.trans). Then out = O / l and lse = (m + log2 l)·ln 2.
//   backward: 2·T work items (T = L16 / 16) dealt round-robin to the W warps, so both halves
//     balance together:
//     key tile (items < T), 16 keys with K and V fragments in registers: over 16-query blocks,
//       Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ, Pᵀ = exp2(Sᵀ − lse), dSᵀ = Pᵀ ⊙ (dPᵀ − D); dV += Pᵀ·dO and
//       dK += dSᵀ·Q (dO and Q by ldmatrix.trans); dK·scale and dV stored.
//     query tile (items >= T), 16 queries with Q and dO fragments in registers: over 16-key blocks,
//       S and dP recomputed, dS formed again, dQ += dS·K (K by ldmatrix.trans); dQ·scale stored.
//     dQ thus costs two recomputed products instead of atomics or an L² dS buffer in shared memory
//     (86 KB at L 196, one block per SM); D_i = dO_i·O_i is formed while staging dO.
//
// Costs per head (T = L16/16, counts of m16n8k16 mma; 2 bytes per bf16):
//   forward  T²·Dh/4 mma, L16² exp2, reads 3·L·Dh·2 B, writes L·Dh·2 + 4·L B;
//   backward T²·7·Dh/8 mma, 2·L16² exp2, reads 5·L·Dh·2 + 4·L B, writes 3·L·Dh·2 B.
//   ConvMAE-B at batch 128 on an H100 (132 SMs, ~3 TB/s; mma.sync at ~0.6 mma/clk/SM, 16 exp2/clk/SM):
//     L 49, 12 heads, Dh 64 (1536 blocks): fwd 0.4 M mma, 39 MB -> ~15 µs, memory bound;
//       bwd 1.4 M mma, 96 MB -> ~35 µs, memory bound.
//     L 196, 16 heads, Dh 32 (2048 blocks): fwd 2.8 M mma (~20 µs), 89 M exp2 (~25 µs), 105 MB
//       (~35 µs) -> ~40-50 µs; bwd 9.7 M mma (~70 µs), 177 M exp2 (~50 µs), 258 MB (~85 µs)
//       -> ~100-130 µs.
//   Shared memory per block: forward 3·L16·(Dh + 8)·2 B, backward 4·L16·(Dh + 8)·2 + 8·L16 B
//   (L 49 Dh 64: 27 / 37 KiB; L 196 Dh 32: 49 / 67 KiB; L 256 Dh 80: 132 / 178 KiB).
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "attention_mma.cuh"
#include "cp_async.cuh"
#include "mma_sync.cuh"
#include "errors.h"
#include "runtime.cuh"

namespace convmae {

namespace {
using bf16 = __nv_bfloat16;
constexpr int kPad = 8;     // bf16 elements of row padding in shared memory
constexpr int kChunk = 64;  // keys per online-softmax step of the forward
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;

struct Dims {
  int l, h;
  float scale;   // of the contract
  float scale2;  // scale·log2 e: scores in log2 units
};

__host__ __device__ constexpr int rows16(int64_t l) { return int((l + 15) & ~int64_t(15)); }
size_t fwd_smem(int64_t l, int64_t dh) { return size_t(3 * rows16(l) * (dh + kPad)) * sizeof(bf16); }
size_t bwd_smem(int64_t l, int64_t dh) {
  return size_t(4 * rows16(l) * (dh + kPad)) * sizeof(bf16) + size_t(2 * rows16(l)) * sizeof(float);
}

// ---- fragments (lane = g·4 + t; see the PTX ISA's m16n8k16 layouts) --------------------------

// Two fp32 values as one bf16x2 register, lo in the low half (round to nearest even).
__device__ inline uint32_t pack(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// The A fragment of one k16 step from the accumulators of two adjacent n8 tiles (x: columns 0-7,
// y: columns 8-15).
__device__ inline void to_a(uint32_t (&a)[4], const float (&x)[4], const float (&y)[4]) {
  a[0] = pack(x[0], x[1]);
  a[1] = pack(x[2], x[3]);
  a[2] = pack(y[0], y[1]);
  a[3] = pack(y[2], y[3]);
}

// The operands below come from a staged [rows][ld] matrix m by ldmatrix, 16 rows from r0 on;
// lane = threadIdx % 32. For each 8x8 matrix lane l points at row l % 8 of matrix l / 8.

// a = the A fragments of rows r0..r0+15 over the DH = 16·KS columns (one per k16 step).
template <int KS>
__device__ inline void load_a(uint32_t (&a)[KS][4], const bf16* m, int ld, int r0, int lane) {
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) ldsm_x4(a[kk], m + (r0 + lane % 16) * ld + 16 * kk + 8 * (lane / 16));
}

// acc += A·Mᵀ: the 16 rows of a (over the DH columns) times staged rows r0..r0+15 (the n index:
// acc[0] takes rows r0..r0+7, acc[1] the next 8).
template <int KS>
__device__ inline void mma_abt(float (&acc)[2][4], const uint32_t (&a)[KS][4], const bf16* m, int ld, int r0, int lane) {
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) {
    uint32_t b[4];
    ldsm_x4(b, m + (r0 + lane % 8 + 8 * (lane / 16)) * ld + 16 * kk + 8 * (lane / 8 % 2));
    mma(acc[0], a[kk], b[0], b[1]);
    mma(acc[1], a[kk], b[2], b[3]);
  }
}

// acc += A·M: one k16 step's A fragment times staged rows r0..r0+15 (the k index) over all
// 8·NT columns (ldmatrix.trans).
template <int NT>
__device__ inline void mma_ab(float (&acc)[NT][4], const uint32_t (&a)[4], const bf16* m, int ld, int r0, int lane) {
#pragma unroll
  for (int c = 0; c < NT / 2; ++c) {
    uint32_t b[4];
    ldsm_x4_trans(b, m + (r0 + lane % 16) * ld + 16 * c + 8 * (lane / 16));
    mma(acc[2 * c], a, b[0], b[1]);
    mma(acc[2 * c + 1], a, b[2], b[3]);
  }
}

// v[i] for a lane-dependent i in 0..3, by selects (an indexed register array would go to local memory).
__device__ inline uint32_t pick4(const uint32_t (&v)[4], int i) { return i == 0 ? v[0] : i == 1 ? v[1] : i == 2 ? v[2] : v[3]; }

// Rows r0 + g and r0 + g + 8 (those below L) of a warp's 16 x 8·NT fp32 tile, times mul0 and mul1,
// as bf16 into dst (row stride `stride` elements, rows 16-byte aligned). The four lanes of a quad
// hold a row, each two columns of every n8 tile; each group of four tiles is transposed within the
// quad (three shuffles) so that lane t writes tile 4G + t's 16 bytes and the quad 64 contiguous
// bytes: whole 32-byte sectors (4 bytes a lane would write half-sectors). Tiles past the last
// group of four (head dim 80) go out 4 bytes a lane.
template <int NT>
__device__ inline void store_tile(bf16* dst, int64_t stride, int r0, int L, const float (&acc)[NT][4], float mul0,
                                  float mul1) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, quad = lane & ~3;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = r0 + g + 8 * half;
    const float m = half ? mul1 : mul0;
    bf16* row = dst + r * stride;
#pragma unroll
    for (int G = 0; G < NT / 4; ++G) {
      uint32_t v[4], x[4], w[4];  // v[k]: tile 4G + k, this lane's columns; x[s]: from lane (t - s) % 4
#pragma unroll
      for (int k = 0; k < 4; ++k) v[k] = pack(acc[4 * G + k][2 * half] * m, acc[4 * G + k][2 * half + 1] * m);
      x[0] = pick4(v, t);
#pragma unroll
      for (int s = 1; s < 4; ++s) x[s] = __shfl_sync(0xffffffffu, pick4(v, (t + s) & 3), quad | ((t - s) & 3));
#pragma unroll
      for (int j = 0; j < 4; ++j) w[j] = pick4(x, (t - j) & 3);  // columns 2j, 2j + 1 of tile 4G + t
      if (r < L) *reinterpret_cast<uint4*>(row + 8 * (4 * G + t)) = make_uint4(w[0], w[1], w[2], w[3]);
    }
#pragma unroll
    for (int nt = 4 * (NT / 4); nt < NT; ++nt)
      if (r < L) *reinterpret_cast<uint32_t*>(row + 8 * nt + 2 * t) = pack(acc[nt][2 * half] * m, acc[nt][2 * half + 1] * m);
  }
}

// ---- staging ---------------------------------------------------------------------------------

// Q, K and V of one head (rows [0, L), row stride W, k and v at +D and +2D) into [L16][DH + kPad]
// each, in 16-byte cp.async copies that all go out at once (one group, committed here: the caller
// waits for it before its __syncthreads); rows [L, L16) zero.
template <int DH, int THREADS>
__device__ inline void stage_qkv(bf16* qs, bf16* ks, bf16* vs, const bf16* head, int64_t W, int64_t D, int L) {
  constexpr int kVec = DH / 8, ld = DH + kPad;
  const int n = rows16(L) * kVec;
  for (int idx = threadIdx.x; idx < n; idx += THREADS) {
    const int r = idx / kVec, c = idx % kVec * 8;
    const bool in = r < L;
    const bf16* src = head + (in ? r : 0) * W + c;
    cp_async16(qs + r * ld + c, src, in);
    cp_async16(ks + r * ld + c, src + D, in);
    cp_async16(vs + r * ld + c, src + 2 * D, in);
  }
  cp_async_commit();
}

// Σ of the products of eight bf16 pairs, in fp32.
__device__ inline float dot8(const uint4& a, const uint4& b) {
  const __nv_bfloat162* x = reinterpret_cast<const __nv_bfloat162*>(&a);
  const __nv_bfloat162* y = reinterpret_cast<const __nv_bfloat162*>(&b);
  float s = 0.f;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float2 u = __bfloat1622float2(x[e]), v = __bfloat1622float2(y[e]);
    s += u.x * v.x + u.y * v.y;
  }
  return s;
}

// The backward's per-row inputs, one thread per row: dO into [L16][DH + kPad] like stage_qkv,
// D_i = dO_i·O_i, and lse_i in log2 units; past L, dO = 0, D = 0 and lse = +inf (so P = 0).
template <int DH, int THREADS>
__device__ inline void stage_rows(bf16* dos, float* drow, float* ls, const bf16* dout_h, const bf16* out_h,
                                  const float* lse_h, int64_t D, int L) {
  constexpr int ld = DH + kPad;
  for (int r = threadIdx.x; r < rows16(L); r += THREADS) {
    float acc = 0.f;
#pragma unroll
    for (int c = 0; c < DH; c += 8) {
      uint4 g = make_uint4(0, 0, 0, 0), o = g;
      if (r < L) {
        g = *reinterpret_cast<const uint4*>(dout_h + r * D + c);
        o = *reinterpret_cast<const uint4*>(out_h + r * D + c);
      }
      *reinterpret_cast<uint4*>(dos + r * ld + c) = g;
      acc += dot8(g, o);
    }
    drow[r] = acc;
    ls[r] = r < L ? lse_h[r] * kLog2e : INFINITY;
  }
}

// ---- forward -----------------------------------------------------------------------------------

template <int DH, int WARPS>
__global__ void __launch_bounds__(32 * WARPS) attn_fwd_mma(bf16* out, float* lse, const bf16* qkv, Dims d) {
  constexpr int ld = DH + kPad, KS = DH / 16, NT = DH / 8;
  extern __shared__ uint4 smem[];
  const int L = d.l, L16 = rows16(L);
  bf16* qs = reinterpret_cast<bf16*>(smem);
  bf16* ks = qs + L16 * ld;
  bf16* vs = ks + L16 * ld;
  const int64_t D = int64_t(d.h) * DH, W = 3 * D;
  const int64_t nh = blockIdx.x, n = nh / d.h, h = nh % d.h;
  stage_qkv<DH, 32 * WARPS>(qs, ks, vs, qkv + n * L * W + h * DH, W, D, L);
  cp_async_wait<0>();
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, t = lane % 4;
  for (int q0 = 16 * warp; q0 < L16; q0 += 16 * WARPS) {
    uint32_t qf[KS][4];
    load_a<KS>(qf, qs, ld, q0, lane);
    float o[NT][4] = {};
    float mx[2] = {-INFINITY, -INFINITY}, sum[2] = {0.f, 0.f};  // rows g, g+8: running max, this lane's sum
    for (int c0 = 0; c0 < L16; c0 += kChunk) {
      float s[kChunk / 16][2][4] = {};  // 16-key blocks of two n8 tiles
#pragma unroll
      for (int b = 0; b < kChunk / 16; ++b) {
        if (c0 + 16 * b >= L16) break;
        mma_abt<KS>(s[b], qf, ks, ld, c0 + 16 * b, lane);
      }
      float m[2] = {mx[0], mx[1]};
#pragma unroll
      for (int b = 0; b < kChunk / 16; ++b)
#pragma unroll
        for (int j = 0; j < 2; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            float& x = s[b][j][e];
            x = c0 + 16 * b + 8 * j + 2 * t + e % 2 < L ? x * d.scale2 : -INFINITY;
            m[e / 2] = fmaxf(m[e / 2], x);
          }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        m[r] = fmaxf(m[r], __shfl_xor_sync(0xffffffffu, m[r], 1));
        m[r] = fmaxf(m[r], __shfl_xor_sync(0xffffffffu, m[r], 2));
        const float alpha = exp2f(mx[r] - m[r]);  // 0 on the first chunk (mx = −inf, m finite: key 0 < L)
        mx[r] = m[r];
        sum[r] *= alpha;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          o[nt][2 * r] *= alpha;
          o[nt][2 * r + 1] *= alpha;
        }
      }
#pragma unroll
      for (int b = 0; b < kChunk / 16; ++b) {
        if (c0 + 16 * b >= L16) break;
#pragma unroll
        for (int j = 0; j < 2; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            s[b][j][e] = exp2f(s[b][j][e] - mx[e / 2]);
            sum[e / 2] += s[b][j][e];
          }
        uint32_t pa[4];
        to_a(pa, s[b][0], s[b][1]);
        mma_ab<NT>(o, pa, vs, ld, c0 + 16 * b, lane);
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], 1);
      sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], 2);
      const int row = q0 + lane / 4 + 8 * r;
      if (t == 0 && row < L) lse[nh * L + row] = (mx[r] + log2f(sum[r])) * kLn2;
    }
    store_tile<NT>(out + n * L * D + h * DH, D, q0, L, o, 1.f / sum[0], 1.f / sum[1]);
  }
}

// ---- backward ----------------------------------------------------------------------------------

// The staged operands of one head in shared memory.
struct Staged {
  const bf16 *qs, *ks, *vs, *dos;
  const float *ls, *drow;  // lse (log2 units) and D per row
  int L, L16;
};

// dK and dV of keys k0..k0+15 (see the top of the file).
template <int DH>
__device__ inline void key_tile(const Staged& st, int k0, bf16* dk_out, bf16* dv_out, int64_t W, const Dims& d) {
  constexpr int ld = DH + kPad, KS = DH / 16, NT = DH / 8;
  const int lane = threadIdx.x % 32, t = lane % 4;
  uint32_t kf[KS][4], vf[KS][4];
  load_a<KS>(kf, st.ks, ld, k0, lane);
  load_a<KS>(vf, st.vs, ld, k0, lane);
  float dk[NT][4] = {}, dv[NT][4] = {};
  for (int i0 = 0; i0 < st.L16; i0 += 16) {
    float s[2][4] = {}, dp[2][4] = {};  // Sᵀ and dPᵀ: rows keys, columns queries i0..i0+15
    mma_abt<KS>(s, kf, st.qs, ld, i0, lane);
    mma_abt<KS>(dp, vf, st.dos, ld, i0, lane);
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int i = i0 + 8 * nt + 2 * t;  // the query of columns e = 0, 2 (i + 1 for e = 1, 3)
      const float2 l2 = *reinterpret_cast<const float2*>(st.ls + i);
      const float2 dd = *reinterpret_cast<const float2*>(st.drow + i);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[nt][e] = exp2f(fmaf(s[nt][e], d.scale2, -(e % 2 ? l2.y : l2.x)));
        dp[nt][e] = s[nt][e] * (dp[nt][e] - (e % 2 ? dd.y : dd.x));
      }
    }
    uint32_t pa[4], da[4];
    to_a(pa, s[0], s[1]);
    to_a(da, dp[0], dp[1]);
    mma_ab<NT>(dv, pa, st.dos, ld, i0, lane);
    mma_ab<NT>(dk, da, st.qs, ld, i0, lane);
  }
  store_tile<NT>(dk_out, W, k0, st.L, dk, d.scale, d.scale);
  store_tile<NT>(dv_out, W, k0, st.L, dv, 1.f, 1.f);
}

// dQ of queries q0..q0+15 (see the top of the file).
template <int DH>
__device__ inline void query_tile(const Staged& st, int q0, bf16* dq_out, int64_t W, const Dims& d) {
  constexpr int ld = DH + kPad, KS = DH / 16, NT = DH / 8;
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  uint32_t qf[KS][4], gf[KS][4];
  load_a<KS>(qf, st.qs, ld, q0, lane);
  load_a<KS>(gf, st.dos, ld, q0, lane);
  const float l2[2] = {st.ls[q0 + g], st.ls[q0 + g + 8]}, dd[2] = {st.drow[q0 + g], st.drow[q0 + g + 8]};
  float dq[NT][4] = {};
  for (int j0 = 0; j0 < st.L16; j0 += 16) {
    float s[2][4] = {}, dp[2][4] = {};  // S and dP: rows queries, columns keys j0..j0+15
    mma_abt<KS>(s, qf, st.ks, ld, j0, lane);
    mma_abt<KS>(dp, gf, st.vs, ld, j0, lane);
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = j0 + 8 * nt + 2 * t + e % 2 < st.L ? exp2f(fmaf(s[nt][e], d.scale2, -l2[e / 2])) : 0.f;
        dp[nt][e] = p * (dp[nt][e] - dd[e / 2]);
      }
    uint32_t da[4];
    to_a(da, dp[0], dp[1]);
    mma_ab<NT>(dq, da, st.ks, ld, j0, lane);
  }
  store_tile<NT>(dq_out, W, q0, st.L, dq, d.scale, d.scale);
}

template <int DH, int WARPS>
__global__ void __launch_bounds__(32 * WARPS) attn_bwd_mma(bf16* dqkv, const bf16* dout, const bf16* qkv, const bf16* out,
                                                         const float* lse, Dims d) {
  constexpr int ld = DH + kPad;
  extern __shared__ uint4 smem[];
  const int L = d.l, L16 = rows16(L);
  bf16* qs = reinterpret_cast<bf16*>(smem);
  bf16* ks = qs + L16 * ld;
  bf16* vs = ks + L16 * ld;
  bf16* dos = vs + L16 * ld;
  float* ls = reinterpret_cast<float*>(dos + L16 * ld);
  float* drow = ls + L16;
  const int64_t D = int64_t(d.h) * DH, W = 3 * D;
  const int64_t nh = blockIdx.x, n = nh / d.h, h = nh % d.h;
  const int64_t head = n * L * W + h * DH;  // q of row 0 of this head, in qkv and dqkv
  stage_qkv<DH, 32 * WARPS>(qs, ks, vs, qkv + head, W, D, L);
  stage_rows<DH, 32 * WARPS>(dos, drow, ls, dout + n * L * D + h * DH, out + n * L * D + h * DH, lse + nh * L, D, L);
  cp_async_wait<0>();  // Q, K and V, in flight while stage_rows ran
  __syncthreads();
  const Staged st{qs, ks, vs, dos, ls, drow, L, L16};
  const int tiles = L16 / 16;
  for (int item = threadIdx.x / 32; item < 2 * tiles; item += WARPS) {
    if (item < tiles) key_tile<DH>(st, 16 * item, dqkv + head + D, dqkv + head + 2 * D, W, d);
    else query_tile<DH>(st, 16 * (item - tiles), dqkv + head, W, d);
  }
}

// ---- launch ----------------------------------------------------------------------------------

// Calls f(std::integral_constant<int, DH>{}) for head dim 32, 64 or 80; anything else throws.
template <typename F>
void head_dim_dispatch(int64_t head_dim, const char* op, F f) {
  if (head_dim == 32) f(std::integral_constant<int, 32>{});
  else if (head_dim == 64) f(std::integral_constant<int, 64>{});
  else if (head_dim == 80) f(std::integral_constant<int, 80>{});
  else throw_error(op, "the mma kernels take head dims 32, 64 and 80, not " + std::to_string(head_dim));
}

// Calls f(std::integral_constant<int, W>{}) with the warps of a block using `smem` bytes and
// dealing out `items` work items (forward: query tiles; backward: key and query tiles): 8 where
// the SM holds only one such block (4 warps would leave each scheduler a single warp) or where
// there are at least 16 items (two for each of 8 warps), else 4. Run 8 on an H100
// (bench/RESULTS.md): the backward at L 196 (26 items) took 0.244 ms with 8 warps against 0.277
// with 4 at 16 heads of 32, and 0.41 against 0.61 at 12 heads of 64 (one block an SM); at L 49
// (8 items) 8 warps lost, and so did the forward at L 196 (13 items).
// Sweep builds (CONVMAE_GEMM_SWEEP) take CONVMAE_ATTENTION_WARPS=4 or 8 instead, so that
// bench/op_timings.ts can time both counts in one run.
template <typename F>
void warps_dispatch(size_t smem, int64_t items, const char* op, F f) {
  int warps = cuda::blocks_per_sm_by_smem(smem) < 2 || items >= 16 ? 8 : 4;
#ifdef CONVMAE_GEMM_SWEEP
  if (const char* v = std::getenv("CONVMAE_ATTENTION_WARPS")) {
    const std::string w = v;
    if (w != "4" && w != "8") throw_error(op, "CONVMAE_ATTENTION_WARPS must be 4 or 8, not '" + w + "'");
    warps = w == "8" ? 8 : 4;
  }
#else
  (void)op;
#endif
  if (warps == 8) f(std::integral_constant<int, 8>{});
  else f(std::integral_constant<int, 4>{});
}

// Lets `Kernel` take up to `bytes` of dynamic shared memory (at most the card's limit), once.
template <auto Kernel>
void allow_smem_once(size_t bytes, const char* op) {
  static bool ready = false;  // one flag per kernel
  if (ready) return;
  cuda::allow_smem(Kernel, std::min(bytes, cuda::smem_per_block()), op);
  ready = true;
}

Dims dims(int64_t l, int64_t heads, double scale) {
  return Dims{int(l), int(heads), float(scale), float(scale * 1.4426950408889634)};
}
}  // namespace

bool attention_mma_fits(int64_t l, int64_t head_dim, bool backward) {
  if ((head_dim != 32 && head_dim != 64 && head_dim != 80) || l < 1 || l > kAttentionMmaMaxL) return false;
  return (backward ? bwd_smem(l, head_dim) : fwd_smem(l, head_dim)) <= cuda::smem_per_block();
}

void cuda_attention_mma(const AttentionParams& p) {
  head_dim_dispatch(p.head_dim, "attention", [&](auto dh) {
    constexpr int DH = decltype(dh)::value;
    const size_t smem = fwd_smem(p.l, DH);
    warps_dispatch(smem, rows16(p.l) / 16, "attention", [&](auto w) {
      constexpr int WARPS = decltype(w)::value;
      allow_smem_once<attn_fwd_mma<DH, WARPS>>(fwd_smem(kAttentionMmaMaxL, DH), "attention");
      attn_fwd_mma<DH, WARPS><<<unsigned(p.n * p.heads), 32 * WARPS, smem, cuda::stream()>>>(
          p.out->as<bf16>(), p.lse->as<float>(), p.qkv->as<bf16>(), dims(p.l, p.heads, p.scale));
    });
  });
}

void cuda_attention_backward_mma(const AttentionBackwardParams& p) {
  head_dim_dispatch(p.head_dim, "attentionBackward", [&](auto dh) {
    constexpr int DH = decltype(dh)::value;
    const size_t smem = bwd_smem(p.l, DH);
    warps_dispatch(smem, 2 * (rows16(p.l) / 16), "attentionBackward", [&](auto w) {
      constexpr int WARPS = decltype(w)::value;
      allow_smem_once<attn_bwd_mma<DH, WARPS>>(bwd_smem(kAttentionMmaMaxL, DH), "attentionBackward");
      attn_bwd_mma<DH, WARPS><<<unsigned(p.n * p.heads), 32 * WARPS, smem, cuda::stream()>>>(
          p.dqkv->as<bf16>(), p.dout->as<bf16>(), p.qkv->as<bf16>(), p.out->as<bf16>(), p.lse->as<float>(),
          dims(p.l, p.heads, p.scale));
    });
  });
}

}  // namespace convmae
