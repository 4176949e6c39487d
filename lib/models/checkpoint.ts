// Model checkpoints. Weights are stored under their state_dict keys in safetensors, with metadata
// {format_version, kind, config (the fixtures' JSON schema)}; optimizer state and training
// metadata may ride along (optim.* keys, which weight loaders skip). Official .pth files carry no
// architecture, so inferConfig reads widths, depths and MLP ratios from tensor shapes and takes
// head counts from the preset those shapes match, or from the caller.
import { loadPth } from '../io/pth';
import { TensorRecord } from '../io/record';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { ConvMAEConfig, PRESET_NAMES, fromFixtureConfig, preset, toFixtureConfig } from './config';
import { ConvMAE } from './convmae';
import { ConvViT } from './convvit';

export const CHECKPOINT_FORMAT_VERSION = '1';
export type ModelKind = 'convmae-pretrain' | 'convvit-classifier';

export interface LoadedCheckpoint {
  stateDict: Map<string, TensorRecord>;
  metadata: Record<string, string>;
  /** Everything else a .pth held (epoch, args ...), as plain data. */
  extra: Record<string, unknown>;
}

/** Reads a .safetensors or official .pth checkpoint; optim.* keys are split off. */
export function readCheckpoint(path: string): LoadedCheckpoint {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('readCheckpoint: expected a file path for `path`');
  if (/\.safetensors$/i.test(path)) {
    const { tensors, metadata } = readSafetensors(path);
    return { stateDict: tensors, metadata, extra: {} };
  }
  const { stateDict, extra } = loadPth(path);
  return { stateDict, metadata: {}, extra };
}

/** Weight tensors only (drops optim.* and other non-weight keys). */
export function weightsOnly(sd: Map<string, TensorRecord>): Map<string, TensorRecord> {
  return new Map([...sd].filter(([k]) => !k.startsWith('optim.') && !k.startsWith('state.')));
}

function count(sd: Map<string, TensorRecord>, prefix: string): number {
  let n = 0;
  while (sd.has(`${prefix}.${n}.norm1.weight`)) n++;
  return n;
}

function shapeOf(sd: Map<string, TensorRecord>, key: string): number[] {
  const r = sd.get(key);
  if (!r) throw new Error(`inferConfig: the checkpoint has no '${key}', so it is not a ConvMAE/ConvViT state dict`);
  return r.shape;
}

export function inferKind(sd: Map<string, TensorRecord>): ModelKind {
  return sd.has('head.weight') ? 'convvit-classifier' : 'convmae-pretrain';
}

/**
 * The architecture a state dict describes. Head counts come from `heads` / `decoderHeads`, else
 * from the preset with the same widths, depths and MLP ratios.
 */
export function inferConfig(sd: Map<string, TensorRecord>, opts: { heads?: number; decoderHeads?: number } = {}): ConvMAEConfig {
  const c1 = shapeOf(sd, 'patch_embed1.proj.weight')[0];
  const c2 = shapeOf(sd, 'patch_embed2.proj.weight')[0];
  const c3 = shapeOf(sd, 'patch_embed3.proj.weight')[0];
  const depth: [number, number, number] = [count(sd, 'blocks1'), count(sd, 'blocks2'), count(sd, 'blocks3')];
  const ratio = (prefix: string, d: number) => (sd.has(`${prefix}.0.mlp.fc1.weight`) ? shapeOf(sd, `${prefix}.0.mlp.fc1.weight`)[0] / d : 4);
  const mlpRatio: [number, number, number] = [ratio('blocks1', c1), ratio('blocks2', c2), ratio('blocks3', c3)];
  const tokens = sd.has('pos_embed') ? shapeOf(sd, 'pos_embed')[1] : 196;
  const grid = Math.round(Math.sqrt(tokens));
  if (grid * grid !== tokens) throw new Error(`inferConfig: pos_embed has ${tokens} tokens, not a square grid`);
  const decoderDim = sd.has('decoder_embed.weight') ? shapeOf(sd, 'decoder_embed.weight')[0] : 512;
  const decoderDepth = count(sd, 'decoder_blocks');
  const decoderMlpRatio = decoderDepth > 0 ? shapeOf(sd, 'decoder_blocks.0.mlp.fc1.weight')[0] / decoderDim : 4;
  const match = PRESET_NAMES.map((n) => preset(n)).find((p) =>
    p.embedDim.every((v, i) => v === [c1, c2, c3][i]) && p.depth.every((v, i) => v === depth[i]) &&
    p.mlpRatio.every((v, i) => v === mlpRatio[i]));
  const heads = opts.heads ?? match?.numHeads;
  if (heads === undefined) {
    throw new Error(`inferConfig: widths [${c1}, ${c2}, ${c3}], depths [${depth}] and MLP ratios [${mlpRatio}] match no preset; give the stage-3 head count (--heads)`);
  }
  const decoderHeads = opts.decoderHeads ?? (match && match.decoderDim === decoderDim ? match.decoderHeads : undefined);
  if (decoderHeads === undefined && decoderDepth > 0) {
    throw new Error(`inferConfig: the decoder (width ${decoderDim}) matches no preset; give its head count (--decoder-heads)`);
  }
  const base = match ?? preset('base');
  const cfg: ConvMAEConfig = {
    ...base,
    embedDim: [c1, c2, c3], depth, mlpRatio, numHeads: heads,
    decoderDim, decoderDepth, decoderHeads: decoderHeads ?? 16, decoderMlpRatio,
    multiScaleFusion: sd.has('stage1_output_decode.weight'),
    imgSize: grid * 16,
    numClasses: sd.has('head.weight') ? shapeOf(sd, 'head.weight')[0] : base.numClasses,
    globalPool: sd.has('head.weight') ? sd.has('fc_norm.weight') : base.globalPool,
  };
  return cfg;
}

/** The config stored in a checkpoint's metadata, else inferred from its shapes. */
export function checkpointConfig(ck: LoadedCheckpoint, opts: { heads?: number; decoderHeads?: number } = {}): ConvMAEConfig {
  if (ck.metadata.config) {
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(ck.metadata.config);
    } catch {
      throw new Error("checkpoint: its 'config' metadata is not valid JSON");
    }
    return fromFixtureConfig(j);
  }
  return inferConfig(ck.stateDict, opts);
}

export function checkpointMetadata(kind: ModelKind, config: ConvMAEConfig, extra: Record<string, string> = {}): Record<string, string> {
  return { format_version: CHECKPOINT_FORMAT_VERSION, kind, config: JSON.stringify(toFixtureConfig(config)), ...extra };
}

/** Saves a model's weights (and optional extra tensors such as optim.*) atomically. */
export function saveModel(model: ConvMAE | ConvViT, path: string, opts: { extraTensors?: Map<string, TensorRecord>; metadata?: Record<string, string> } = {}): void {
  const sd = model.stateDict();
  for (const [k, v] of opts.extraTensors ?? []) sd.set(k, v);
  const kind: ModelKind = model instanceof ConvMAE ? 'convmae-pretrain' : 'convvit-classifier';
  writeSafetensors(path, sd, checkpointMetadata(kind, model.config, opts.metadata));
}

/** Builds the model a checkpoint holds and loads its weights (strict). */
export function loadModel(path: string, opts: { heads?: number; decoderHeads?: number } = {}): ConvMAE | ConvViT {
  const ck = readCheckpoint(path);
  const config = checkpointConfig(ck, opts);
  const kind = (ck.metadata.kind as ModelKind | undefined) ?? inferKind(ck.stateDict);
  const model = kind === 'convvit-classifier' ? new ConvViT(config) : new ConvMAE(config);
  try {
    model.loadStateDict(weightsOnly(ck.stateDict), { strict: true });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
