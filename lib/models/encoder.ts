// The ConvMAE / ConvViT encoder (SPEC.md §2.2-2.7) shared by the pretraining model, the
// classifier and the feature backbone. Stages 1-2 run on visible-block rows (every block kept
// when finetuning), stage 3 on kept tokens. Fields are declared in PyTorch's order so that walking
// them yields the official state_dict keys.
import { Rng } from '../data/rng';
import { add, reshape } from '../ops/arith';
import { gatherRows } from '../ops/gather';
import { linear } from '../ops/linear';
import { imageToRows, rowsToPatches } from '../ops/patches';
import { VisibleLayout } from '../ops/visible_layout';
import { keep } from '../tensor/scope';
import { Tensor, tensor } from '../tensor/tensor';
import { Block, CBlock, PatchEmbed } from '../nn/blocks';
import { InitContext, xavierUniform } from '../nn/init';
import { Linear, LinearInit } from '../nn/layers';
import { Module, param } from '../nn/module';
import { activationDType, Precision, resolvePrecision, toActivations, useParam, withParamCasts } from '../nn/precision';
import { Device } from '../tensor/device';
import { ConvMAEConfig } from './config';
import { resizePosTable } from './pos_resize';

/** Receives module outputs by their official names (act.<name> in the fixtures). */
export type Capture = (name: string, t: Tensor) => void;

export interface StageOutputs {
  /** Stage-1 output rows [N*K*16, C1] (E1 at visible positions). */
  e1: Tensor;
  /** Stage-2 output rows [N*K*4, C2]. */
  e2: Tensor;
  /** Stage-3 input tokens [N, K, C3] after patch_embed4 and the position embedding, ids_keep order. */
  tokens: Tensor;
}

export class ConvEncoder extends Module {
  pos_embed!: Tensor;
  patch_embed1: PatchEmbed;
  patch_embed2: PatchEmbed;
  patch_embed3: PatchEmbed;
  patch_embed4: Linear;
  blocks1: CBlock[];
  blocks2: CBlock[];
  blocks3: Block[];
  readonly grid: number;
  /** Randomness of drop path. */
  rng: Rng;
  /**
   * Compute precision (nn/precision.ts): 'bf16' (mixed: float32 parameters, bfloat16 activations,
   * CUDA only) or 'float32'; undefined means the device's default (bf16 on cuda).
   */
  precision?: Precision;
  private readonly resizedPos = new Map<string, Tensor>();

  constructor(ctx: InitContext, readonly config: ConvMAEConfig, linearInit: LinearInit, dropPath: number) {
    super();
    const c = config;
    const [c1, c2, c3] = c.embedDim;
    this.grid = c.imgSize / 16;
    this.rng = new Rng(ctx.rng.int(2 ** 31));
    this.patch_embed1 = new PatchEmbed(ctx, 3, c1, 4);
    this.patch_embed2 = new PatchEmbed(ctx, c1, c2, 2);
    this.patch_embed3 = new PatchEmbed(ctx, c2, c3, 2);
    // SPEC.md §5: xavier on patch_embed3.proj.weight viewed as [C3, C2*2*2]; its bias keeps the conv default.
    this.patch_embed3.proj.weight.dispose();
    this.patch_embed3.proj.weight = param(xavierUniform(ctx, [c3, c2, 2, 2], c2 * 4, c3));
    this.patch_embed4 = new Linear(ctx, c3, c3, { init: linearInit });
    const total = c.depth[0] + c.depth[1] + c.depth[2];
    const dpr = (i: number) => (total > 1 ? (dropPath * i) / (total - 1) : 0);
    this.blocks1 = Array.from({ length: c.depth[0] }, (_, i) => new CBlock(ctx, c1, c.mlpRatio[0], dpr(i)));
    this.blocks2 = Array.from({ length: c.depth[1] }, (_, i) => new CBlock(ctx, c2, c.mlpRatio[1], dpr(c.depth[0] + i)));
    this.blocks3 = Array.from({ length: c.depth[2] }, (_, i) =>
      new Block(ctx, c3, c.numHeads, c.mlpRatio[2], c.layerNormEps, dpr(c.depth[0] + c.depth[1] + i), linearInit));
  }

  /**
   * Stages 1-2 on visible rows, then patch_embed3/4 and the position embedding at kept tokens.
   * Images must be square with side layout.g·16; at a grid other than the model's, the position
   * table is bicubic-resized (SPEC.md §9.1) and takes no gradient.
   */
  stages(imgs: Tensor, layout: VisibleLayout, capture?: Capture): StageOutputs {
    const [, ch, h, w] = imgs.shape;
    const side = layout.g * 16;
    if (imgs.rank !== 4 || ch !== 3 || h !== side || w !== side) {
      throw new RangeError(`ConvMAE: expected images [N, 3, ${side}, ${side}] but got [${imgs.shape.join(', ')}]`);
    }
    let x = this.patch_embed1.forward(imageToRows(imgs, layout, 4));
    capture?.('patch_embed1', x);
    this.blocks1.forEach((b, i) => {
      x = b.forward(x, layout, 4, this.rng);
      capture?.(`blocks1.${i}`, x);
    });
    const e1 = x;
    x = this.patch_embed2.forward(rowsToPatches(e1, 4, 2));
    capture?.('patch_embed2', x);
    this.blocks2.forEach((b, i) => {
      x = b.forward(x, layout, 2, this.rng);
      capture?.(`blocks2.${i}`, x);
    });
    const e2 = x;
    const p3 = this.patch_embed3.forward(rowsToPatches(e2, 2, 2));
    capture?.('patch_embed3', p3);
    const p4 = this.patch_embed4.forward(p3);
    capture?.('patch_embed4', p4);
    const c3 = this.config.embedDim[2];
    const table = this.positionTable(layout.g, p4);
    // Every cell in raster order (finetuning, features): the table added to each sample as it is,
    // whose gradient is a column sum; else the kept cells' rows gathered (a scatter-add back).
    const tokens = layout.ordered
      ? reshape(add(reshape(p4, [layout.n, layout.k * c3]), reshape(table, [layout.k * c3])), [layout.n, layout.k, c3])
      : reshape(add(p4, gatherRows(table, layout.cells)), [layout.n, layout.k, c3]);
    return { e1, e2, tokens };
  }

  /** The precision a forward on this device runs in (checks an explicit bf16 against the device). */
  precisionOn(device: Device): Precision {
    return resolvePrecision(device, this.precision);
  }

  /**
   * Runs a forward on `device` with every parameter cast to the activation dtype once, up front
   * (nn/precision.ts withParamCasts); a no-op cast in float32.
   */
  protected withCasts<T>(device: Device, fn: () => T): T {
    return withParamCasts(this.parameters(), activationDType(this.precisionOn(device), this.pos_embed.dtype), fn);
  }

  /** Images (already checked to be a Tensor) as the stages take them: cast to the activation dtype. */
  protected enter(imgs: Tensor): Tensor {
    return toActivations(imgs, this.precisionOn(imgs.device), this.pos_embed.dtype);
  }

  /**
   * The [G·G, C3] position table for a grid side G (a resized, cached copy when G differs), in the
   * dtype of `like` (useParam).
   */
  private positionTable(g: number, like: Tensor): Tensor {
    const c3 = this.config.embedDim[2];
    if (g === this.grid) return reshape(useParam(this.pos_embed, like), [g * g, c3]);
    const key = `${g}:${this.pos_embed.device}`;
    let t = this.resizedPos.get(key);
    if (!t || t.disposed) {
      const table = resizePosTable(this.pos_embed.toFloat32Array(), this.grid, c3, g);
      t = keep(tensor(table, [g * g, c3], { dtype: this.pos_embed.dtype, device: this.pos_embed.device }));
      this.resizedPos.get(key)?.dispose();
      this.resizedPos.set(key, t);
    }
    return useParam(t, like);
  }

  /** Drops cached resized position tables (call after changing pos_embed). */
  clearPositionCache(): void {
    for (const t of this.resizedPos.values()) t.dispose();
    this.resizedPos.clear();
  }

  dispose(): void {
    this.clearPositionCache();
    super.dispose();
  }

  /** Stage-3 blocks on [N, K, C3] tokens. */
  stage3(tokens: Tensor, capture?: Capture): Tensor {
    let x = tokens;
    this.blocks3.forEach((b, i) => {
      x = b.forward(x, this.rng);
      capture?.(`blocks3.${i}`, x);
    });
    return x;
  }
}

/** Applies a kernel = stride fusion conv to the aligned tiles of stage rows: one output row per token. */
export function tileConv(rows: Tensor, t: number, weight: Tensor, bias: Tensor): Tensor {
  return linear(rowsToPatches(rows, t, t), useParam(weight, rows), useParam(bias, rows));
}
