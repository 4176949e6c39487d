// Data pipeline: datasets, transforms, mixup and the prefetching loader (pure TypeScript + sharp).

export * from './types';
export * from './rng';
export * from './resample';
export * from './augment';
export * from './synthetic';
export * from './fashion_mnist';
export * from './image_folder';
export * from './mixup';
export * from './loader';
export { warnOnce, setWarnSink, resetWarnings } from './warn';
