// The functional op API. Every op here records its gradient rule on the autograd tape (when an
// input needs a gradient); `raw` holds the tape-free arithmetic the rules themselves use.
export { add, mul, scale, reshape, concatRows, meanTokens, sum, mean } from './arith';
export { linear } from './linear';
export type { LinearOptions } from './linear';
export { mlp } from './mlp';
export type { MlpOptions } from './mlp';
export { layerNorm } from './layernorm';
export { gelu } from './gelu';
export { attention } from './attention';
export { dwconvRows } from './dwconv';
export { rowsToPatches, imageToRows, patchify, rowsToMap } from './patches';
export { gatherRows } from './gather';
export { unshuffleTokens } from './unshuffle';
export { maxPool2x2 } from './maxpool';
export { addDropPath, dropPath } from './drop_path';
export { maskedMseLoss, crossEntropy, softTargets } from './losses';
export { castTo } from './cast';
export { adamwStep, adamwMultiStep } from './adamw';
export type { AdamwTensor } from './adamw';
export type { AdamwOptions } from './adamw';
export { makeVisibleLayout, fullLayout, disposeLayout } from './visible_layout';
export type { VisibleLayout } from './visible_layout';
export * as raw from './raw';
