// Raw ops (no autograd): the TS face of the native op table.
export { add, sub, mul, div, scale, fill_ } from './elementwise';
export { matmul } from './matmul';
export type { MatmulOptions } from './matmul';
export { sum, mean } from './reduce';
