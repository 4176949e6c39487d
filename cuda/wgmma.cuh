// Hopper warpgroup MMA (wgmma, sm_90a) primitives for bf16 operands in shared memory and fp32
// accumulators in registers: the shared-memory matrix descriptor of a 128-byte-swizzled tile, the
// fences and group waits, and m64nNk16 for N = 128 and 256. Only for device code compiled for
// sm_90a (callers guard with CONVMAE_WGMMA_DEVICE); layouts as in the PTX ISA, section
// "Asynchronous Warpgroup Level Matrix Shared Memory Layout":
//   a tile is made of 128-byte rows; 16-byte chunk c of row r sits at r·128 + ((c ^ (r % 8))·16)
//   from a 1024-byte-aligned base (the 128B swizzle: address bits 4-6 XOR bits 7-9).
//   K-major operand (rows = M or N, 64 K-elements per row): SBO = 1024 (the next 8 rows), LBO
//     unused (1); the k16 step s starts 32·s bytes into the rows.
//   MN-major operand (rows = K, 64 M/N-elements per row, 64-wide panels `panel_bytes` apart):
//     LBO = panel_bytes (the next 64 M/N elements), SBO = 1024 (the next 8 K rows); the k16 step
//     s starts 16 rows (2048 bytes) further.
//   The fp32 accumulator of m64nNk16: thread t of the warpgroup (warp w = t/32, lane l) holds
//     d[4j + e] at row 16w + l/4 + 8·(e/2), column 8j + 2·(l%4) + e%2.
#pragma once
#include <cstdint>

// The emulated build (emu/) compiles the kernel too, with its twins of the instructions below.
#if (defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)) || defined(CONVMAE_CUDA_EMULATION)
#define CONVMAE_WGMMA_DEVICE 1
#endif

namespace convmae {

/** Byte offset of chunk `c` (16 bytes) of row `r` in a 128B-swizzled tile. */
__host__ __device__ constexpr int swizzle128(int r, int c) { return r * 128 + ((c ^ (r & 7)) << 4); }

#ifdef CONVMAE_WGMMA_DEVICE
/** The block's dynamic shared memory from its first 1024-byte boundary (swizzle atoms need it). */
__device__ inline unsigned char* smem_aligned_1024(unsigned char* raw) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(raw));
  return raw + ((1024 - (addr & 1023)) & 1023);
}

__device__ inline uint64_t wgmma_desc(const void* smem, uint32_t lbo_bytes, uint32_t sbo_bytes) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const auto enc = [](uint32_t x) { return uint64_t((x & 0x3FFFF) >> 4); };
  return enc(addr) | (enc(lbo_bytes) << 16) | (enc(sbo_bytes) << 32) | (uint64_t(1) << 62);
}
#ifdef CONVMAE_CUDA_EMULATION
__device__ inline void wgmma_fence() {}
__device__ inline void wgmma_commit() { ::emu::wgmma_commit(); }
template <int N>
__device__ inline void wgmma_wait() { ::emu::wgmma_wait(N); }
__device__ inline void fence_proxy_async_smem() {}
template <int R>
__device__ inline void wgmma_fence_operands(float (&)[R]) {}
template <int TA, int TB>
__device__ inline void wgmma_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b) {
  ::emu::wgmma_bf16(d, 128, desc_a, desc_b, TA, TB);
}
template <int TA, int TB>
__device__ inline void wgmma_m64n256k16(float (&d)[128], uint64_t desc_a, uint64_t desc_b) {
  ::emu::wgmma_bf16(d, 256, desc_a, desc_b, TA, TB);
}
#else
__device__ inline void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ inline void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ inline void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
/** Makes this thread's ordinary shared-memory writes (cp.async included) visible to wgmma reads. */
__device__ inline void fence_proxy_async_smem() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
/** Keeps the compiler from moving accumulator reads or writes across a wgmma fence or wait. */
template <int R>
__device__ inline void wgmma_fence_operands(float (&d)[R]) {
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// d += A·B for one k16 step; TA / TB = 1 when A / B is MN-major in shared memory.
template <int TA, int TB>
__device__ inline void wgmma_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,"
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47,"
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
      "}, %64, %65, p, 1, 1, %67, %68;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(1), "n"(TA), "n"(TB));
}

template <int TA, int TB>
__device__ inline void wgmma_m64n256k16(float (&d)[128], uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,"
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47,"
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63,"
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79,"
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95,"
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111,"
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
      "}, %128, %129, p, 1, 1, %131, %132;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
        "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
        "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
        "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
        "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
        "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
        "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
        "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
        "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
      : "l"(desc_a), "l"(desc_b), "r"(1), "n"(TA), "n"(TB));
}
#endif  // CONVMAE_CUDA_EMULATION

/**
 * d += one 64-deep K tile for warpgroup wg (its rows 64·wg..) of a ring slot: A at ta (K-major, or
 * MN-major in 64-wide panels panel_bytes apart when TA), B at tb likewise (K-major when TB). Queues
 * the four k16 wgmmas; the caller fences, commits and waits.
 */
template <int BN, bool TA, bool TB, int PANEL_BYTES>
__device__ inline void wgmma_k64(float (&d)[BN / 2], const unsigned char* ta, const unsigned char* tb, int wg) {
#pragma unroll
  for (int s = 0; s < 4; ++s) {
    const uint64_t da = !TA ? wgmma_desc(ta + wg * 64 * 128 + s * 32, 16, 1024)
                            : wgmma_desc(ta + wg * PANEL_BYTES + s * 2048, PANEL_BYTES, 1024);
    const uint64_t db = TB ? wgmma_desc(tb + s * 32, 16, 1024) : wgmma_desc(tb + s * 2048, PANEL_BYTES, 1024);
    if constexpr (BN == 128) wgmma_m64n128k16<TA ? 1 : 0, TB ? 0 : 1>(d, da, db);
    else wgmma_m64n256k16<TA ? 1 : 0, TB ? 0 : 1>(d, da, db);
  }
}

/** Writes warpgroup wg's fp32 accumulators (its 64 x BN outputs) to rows 64·wg.. of out (ld floats a row). */
template <int BN>
__device__ inline void wgmma_stage(float* out, int ld, const float (&d)[BN / 2], int wg) {
  const int t = threadIdx.x % 128, row = wg * 64 + (t / 32) * 16 + (t % 32) / 4, col = 2 * (t % 4);
#pragma unroll
  for (int j = 0; j < BN / 8; ++j) {
    *reinterpret_cast<float2*>(out + row * ld + 8 * j + col) = make_float2(d[4 * j], d[4 * j + 1]);
    *reinterpret_cast<float2*>(out + (row + 8) * ld + 8 * j + col) = make_float2(d[4 * j + 2], d[4 * j + 3]);
  }
}

/**
 * Writes columns [64·c, 64·c + 64) of this warp's 16 accumulator rows (of one m64nNk16) to out, a
 * 16 x 64 fp32 block (ld floats a row; local row 0 is the warp's row 16·(warp % 4)): the
 * per-warp staging of an epilogue that needs no other warp (each warp owns its rows).
 */
template <int BN>
__device__ inline void wgmma_stage_rows16(float* out, int ld, const float (&d)[BN / 2], int c) {
  const int lane = threadIdx.x % 32, row = lane / 4, col = 2 * (lane % 4);
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int q = 8 * c + j;
    *reinterpret_cast<float2*>(out + row * ld + 8 * j + col) = make_float2(d[4 * q], d[4 * q + 1]);
    *reinterpret_cast<float2*>(out + (row + 8) * ld + 8 * j + col) = make_float2(d[4 * q + 2], d[4 * q + 3]);
  }
}
#endif  // CONVMAE_WGMMA_DEVICE

}  // namespace convmae
