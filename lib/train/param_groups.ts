// Optimiser parameter groups from parameter names and shapes (spec §6.4, §7, §8.2).
//
// Contract:
//  * Pretraining (§8.2, timm add_weight_decay): `pos_embed` and `decoder_pos_embed` are frozen
//    (no group); tensors with one dimension or names ending in ".bias" get weight decay 0; all
//    others (conv/linear weights, depthwise 5×5 weights, and the 3-D `mask_token`) are decayed.
//  * Finetuning (§6.4, lr_decay.py ConvViT variant): num_layers = L3 + 1; layer id 0 for
//    pos_embed/cls_token, patch_embed1..4.* and all of blocks1.*/blocks2.*; blocks3.k.* → k + 1;
//    everything else (fc_norm, head, norm) → num_layers. lr_scale = decay^(num_layers − id).
//    No decay for 1-D tensors and for pos_embed/cls_token. Groups are named
//    `layer_{id}_{decay|no_decay}`, in order of first appearance.
//  * Linear probe (§7): only `head.*` parameters train (weight decay 0, LARS handles 1-D vs 2-D).
// `depths` is [L1, L2, L3] (only L3 matters for ids).

export type Shape = readonly number[];

export interface ParamInfo {
  name: string;
  shape: Shape;
}

export interface ParamGroup {
  name: string;
  params: string[];
  weightDecay: number;
  lrScale: number;
}

export type DecayGroup = 'decay' | 'no_decay' | 'frozen';

/** Parameters that pretraining keeps fixed (§2.6, §8.2). */
export const PRETRAIN_FROZEN: readonly string[] = ['pos_embed', 'decoder_pos_embed'];

/** §8.2: weight-decay group of a pretraining parameter. */
export function weightDecayGroup(name: string, shape: Shape, frozen: readonly string[] = PRETRAIN_FROZEN): DecayGroup {
  if (frozen.includes(name)) return 'frozen';
  if (shape.length === 1 || name.endsWith('.bias')) return 'no_decay';
  return 'decay';
}

/** §6.4: weight-decay group of a finetuning parameter. */
export function finetuneDecayGroup(name: string, shape: Shape): 'decay' | 'no_decay' {
  return shape.length === 1 || name === 'pos_embed' || name === 'cls_token' ? 'no_decay' : 'decay';
}

/** §6.4: layer id of a ConvViT parameter. */
export function layerIdForConvViT(name: string, depths: readonly number[]): number {
  const numLayers = depths[depths.length - 1] + 1;
  if (name === 'pos_embed' || name === 'cls_token') return 0;
  if (name.startsWith('patch_embed')) return 0;
  if (/^blocks[12]\./.test(name)) return 0;
  const m = /^blocks3\.(\d+)\./.exec(name);
  if (m) return Number(m[1]) + 1;
  return numLayers;
}

/** §6.4: lr scale of every name, decay^(num_layers − layer_id). */
export function layerDecayScales(names: readonly string[], depths: readonly number[], decay: number): Map<string, number> {
  const numLayers = depths[depths.length - 1] + 1;
  const out = new Map<string, number>();
  for (const n of names) out.set(n, Math.pow(decay, numLayers - layerIdForConvViT(n, depths)));
  return out;
}

/** §8.2: the two pretraining groups (frozen parameters are left out). */
export function pretrainParamGroups(params: readonly ParamInfo[], weightDecay = 0.05): ParamGroup[] {
  const decay: ParamGroup = { name: 'decay', params: [], weightDecay, lrScale: 1 };
  const noDecay: ParamGroup = { name: 'no_decay', params: [], weightDecay: 0, lrScale: 1 };
  for (const p of params) {
    const g = weightDecayGroup(p.name, p.shape);
    if (g === 'decay') decay.params.push(p.name);
    else if (g === 'no_decay') noDecay.params.push(p.name);
  }
  return [noDecay, decay];
}

/** §6.4: layer-decayed finetuning groups `layer_{id}_{decay|no_decay}`. */
export function finetuneParamGroups(params: readonly ParamInfo[],
                                    o: { depths: readonly number[]; layerDecay: number; weightDecay?: number }): ParamGroup[] {
  const wd = o.weightDecay ?? 0.05;
  const numLayers = o.depths[o.depths.length - 1] + 1;
  const groups = new Map<string, ParamGroup>();
  for (const p of params) {
    const id = layerIdForConvViT(p.name, o.depths);
    const kind = finetuneDecayGroup(p.name, p.shape);
    const key = `layer_${id}_${kind}`;
    let g = groups.get(key);
    if (!g) {
      g = { name: key, params: [], weightDecay: kind === 'decay' ? wd : 0, lrScale: Math.pow(o.layerDecay, numLayers - id) };
      groups.set(key, g);
    }
    g.params.push(p.name);
  }
  return [...groups.values()];
}

const BUFFER_SUFFIXES = ['.running_mean', '.running_var', '.num_batches_tracked'];

/** §7: the linear probe trains only the head (weight decay 0). */
export function linprobeParamGroups(params: readonly ParamInfo[]): ParamGroup[] {
  const head = params.filter((p) => p.name.startsWith('head.') && !BUFFER_SUFFIXES.some((s) => p.name.endsWith(s)));
  return [{ name: 'head', params: head.map((p) => p.name), weightDecay: 0, lrScale: 1 }];
}
