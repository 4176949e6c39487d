// Public API of the convmae package.
export { backends, defaultDevice, formatBackends, gemmAutoChoices, gemmPaths, kernels, setKernel } from './backends';
export type { BackendInfo, GemmAutoChoice, GemmPathCount, GemmPaths, KernelChoices } from './backends';
export { DTYPES, DTYPE_BYTES } from './tensor/dtype';
export type { DType } from './tensor/dtype';
export type { Device } from './tensor/device';
export { Tensor, tensor, empty, full, zeros, ones, fromNdarray, isTensor } from './tensor/tensor';
export { tidy, keep } from './tensor/scope';
export { emptyCache, memory, resetPeakMemory } from './tensor/memory';
export type { DeviceMemory } from './tensor/memory';
export * as ops from './ops';
export { backward, noGrad, clearTape, requireGrad, retainUntilBackward } from './autograd/tape';
export { Module, param, buffer } from './nn/module';
export { Rng } from './data/rng';

// Models, checkpoints and the training API.
export { ConvMAE } from './models/convmae';
export { ConvViT } from './models/convvit';
export { PRESET_NAMES, preset } from './models/config';
export type { ConvMAEConfig, PresetName } from './models/config';
export { loadModel, saveModel, readCheckpoint, inferConfig } from './models/checkpoint';
export { readSafetensors, writeSafetensors, loadPth } from './io';
export { runParity } from './parity/parity';
export { pretrain } from './train/pretrain';
export type { PretrainOptions, PretrainResult } from './train/pretrain';
export { finetune } from './train/finetune';
export type { FinetuneOptions, FinetuneResult } from './train/finetune';
export { linprobe, LinearProbeModel, BatchNorm1d } from './train/linprobe';
export type { LinprobeOptions, LinprobeResult } from './train/linprobe';
export { evaluate, evaluateCheckpoint, loadClassifier } from './train/evaluate';
export type { EvaluateOptions, EvaluateCheckpointOptions, EvaluateCheckpointResult } from './train/evaluate';
export type { Classifier, EvalResult, EpochLog, StepLog as TrainStepLog } from './train/loop_utils';
