// Devices present on this machine, so each op test is written once and run on every one of them.
// CUDA suites skip (saying why) where no GPU is usable.
import { backends } from '../../lib/backends';
import type { Device } from '../../lib/tensor/device';

const cuda = backends().cuda;
export const cudaUsable = cuda.usable;
export const cudaSkipReason = cuda.usable ? '' : `no usable GPU here (${cuda.reason || 'not compiled'}); CUDA checks run on a GPU machine`;
export const devices: Device[] = cuda.usable ? ['cpu', 'cuda'] : ['cpu'];

/**
 * [m, n, k] of a single GEMM whose tiles fill the GPU's full waves and leave a short last one, so
 * that its split plan (cuda/gemm_split.cu) runs the rows of that wave split in K (for every
 * tensor-core tiling: 128x128 at two blocks per SM, 128x256 at one): on a card of at most 8 SMs
 * (the emulator with CONVMAE_EMU_SMS=4) a small one; on a real GPU the stage-3 shape at batch 128
 * with K = 1024; none on the emulator at its 132 SMs, where that shape takes minutes.
 */
export function shortLastWaveShapes(): [number, number, number][] {
  if (!cuda.usable) return [];
  if (cuda.multiprocessors <= 8) return [[384, 384, 2600]];
  return cuda.name.includes('emulator') ? [] : [[6272, 768, 1024]];
}
