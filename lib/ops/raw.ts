// Tape-free ops over the native kernels: elementwise arithmetic (with an optional `out`),
// matrix products and reductions. Use them for work that needs no gradient.
export { add, sub, mul, div, scale, fill_ } from './elementwise';
export { matmul } from './matmul';
export type { MatmulOptions } from './matmul';
export { sum, mean } from './reduce';
