// Public API of the convmae package.
export { backends, defaultDevice, formatBackends } from './backends';
export type { BackendInfo } from './backends';
export { DTYPES, DTYPE_BYTES } from './tensor/dtype';
export type { DType } from './tensor/dtype';
export type { Device } from './tensor/device';
export { Tensor, tensor, empty, full, zeros, ones, fromNdarray, isTensor } from './tensor/tensor';
export { tidy, keep } from './tensor/scope';
export { memory, resetPeakMemory } from './tensor/memory';
export type { DeviceMemory } from './tensor/memory';
export * as ops from './ops';
