// Devices present on this machine, so each op test is written once and run on every one of them.
// CUDA suites skip (saying why) where no GPU is usable.
import { backends } from '../../lib/backends';
import type { Device } from '../../lib/tensor/device';

const cuda = backends().cuda;
export const cudaUsable = cuda.usable;
export const cudaSkipReason = cuda.usable ? '' : `no usable GPU here (${cuda.reason || 'not compiled'}); CUDA checks run on a GPU machine`;
export const devices: Device[] = cuda.usable ? ['cpu', 'cuda'] : ['cpu'];
