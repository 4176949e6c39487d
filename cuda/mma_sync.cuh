// Warp-level tensor-core primitives of sm_80+ shared by the kernels that use them
// (cuda/attention_mma.cu, cuda/gemm_mma.cu): ldmatrix .x4 (.trans) from shared memory and
// mma.sync m16n8k16 with bf16 operands and fp32 accumulators (lane = g·4 + t; layouts as in the
// PTX ISA). The emulated build (emu/) runs its twins of the three PTX instructions.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

namespace convmae {

__device__ inline uint32_t smem_addr(const void* p) { return uint32_t(__cvta_generic_to_shared(p)); }

// Four 8x8 bf16 matrices; lane l gives the address of row l % 8 of matrix l / 8 (16-byte aligned).
// Lane l receives from each matrix row l / 4, columns 2(l % 4) and +1 (.trans: column l / 4, rows
// 2(l % 4) and +1).
__device__ inline void ldsm_x4(uint32_t (&r)[4], const __nv_bfloat16* p) {
#ifdef CONVMAE_CUDA_EMULATION
  ::emu::ldmatrix_x4(r, p, false);
#else
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
#endif
}
__device__ inline void ldsm_x4_trans(uint32_t (&r)[4], const __nv_bfloat16* p) {
#ifdef CONVMAE_CUDA_EMULATION
  ::emu::ldmatrix_x4(r, p, true);
#else
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
#endif
}

// d += a·b for one 16x8x16 tile: a the A fragment (16x16, row-major), b0/b1 the B fragment (16x8,
// column-major), d the fp32 accumulators (rows g and g+8, columns 2t and 2t+1).
__device__ inline void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#ifdef CONVMAE_CUDA_EMULATION
  ::emu::mma_m16n8k16_bf16(d, a, b0, b1);
#else
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

}  // namespace convmae
