// Each gemm kernel family's tiling variable and how many tilings a CONVMAE_GEMM_SWEEP build has
// (the sweep_tiling calls of cuda/: tiling 0 is the one every build runs). No imports, so that
// scripts/test-emu.js can read it without loading the addon.
export type GemmFamily = 'wgmma' | 'tma' | 'mma' | 'wmma';
export const TILINGS: Record<GemmFamily, { env: string; count: number }> = {
  wgmma: { env: 'CONVMAE_WGMMA_TILE', count: 5 }, // cuda/gemm_wgmma.cu
  tma: { env: 'CONVMAE_TMA_TILE', count: 8 }, // cuda/gemm_tma.cu (4-7: cuda/gemm_tma_persistent.cuh)
  mma: { env: 'CONVMAE_GEMM_TILE', count: 4 }, // cuda/gemm_tc_tiles.cuh
  wmma: { env: 'CONVMAE_GEMM_TILE', count: 4 },
};
