// The ConvViT classifier for finetuning and linear probing (SPEC.md §6-7) and the multi-scale
// feature backbone (SPEC.md §9.1). Same encoder as pretraining with every block kept (one code
// path), a trainable pos_embed, global pooling + fc_norm (or the first token after `norm` in cls
// mode) and a linear head; drop path from a linspace over all blocks.
import { retainUntilBackward } from '../autograd/tape';
import { Rng } from '../data/rng';
import { meanTokens, reshape } from '../ops/arith';
import { gatherRows } from '../ops/gather';
import { maxPool2x2 } from '../ops/maxpool';
import { VisibleLayout, fullLayout } from '../ops/visible_layout';
import { rowsToMap } from '../ops/patches';
import { Tensor, tensor } from '../tensor/tensor';
import { InitContext, truncNormal } from '../nn/init';
import { LayerNorm, Linear } from '../nn/layers';
import { param } from '../nn/module';
import { toOutput } from '../nn/precision';
import { ConvMAEConfig, preset, validateConfig } from './config';
import { Capture, ConvEncoder } from './encoder';
import { ModelOptions } from './convmae';

export interface Features {
  /** Stage-1 output, stride 4: [N, C1, H/4, W/4]. */
  e1: Tensor;
  /** Stage-2 output, stride 8: [N, C2, H/8, W/8]. */
  e2: Tensor;
  /** Stage-3 output as a map, stride 16: [N, C3, H/16, W/16]. */
  e3: Tensor;
  /** Max-pooled stage-3 map, stride 32 (the detection backbone's E4). */
  e4: Tensor;
}

export class ConvViT extends ConvEncoder {
  fc_norm?: LayerNorm;
  norm?: LayerNorm;
  head: Linear;

  constructor(config: ConvMAEConfig, opts: ModelOptions = {}) {
    validateConfig(config);
    const ctx: InitContext = { rng: new Rng(opts.seed ?? 0), dtype: opts.dtype ?? 'float32' };
    super(ctx, config, 'trunc-normal', config.dropPath);
    const c3 = config.embedDim[2];
    const tokens = this.grid * this.grid;
    this.pos_embed = param(truncNormal(ctx, [1, tokens, c3], 0.02));
    if (config.globalPool) this.fc_norm = new LayerNorm(ctx, c3, config.layerNormEps);
    else this.norm = new LayerNorm(ctx, c3, config.layerNormEps);
    this.head = new Linear(ctx, c3, config.numClasses, { init: 'trunc-normal' });
  }

  static fromPreset(name: string, overrides: Partial<ConvMAEConfig> = {}, opts: ModelOptions = {}): ConvViT {
    return new ConvViT(preset(name, overrides), opts);
  }

  private layout(imgs: Tensor, anySize = false): VisibleLayout {
    if (!(imgs instanceof Tensor)) throw new TypeError('ConvViT: expected a Tensor for `imgs`');
    const side = imgs.shape[2];
    if (anySize && (imgs.rank !== 4 || side % 16 !== 0 || side < 16)) {
      throw new RangeError(`ConvViT.forwardFeatures: expected square images [N, 3, S, S] with S a multiple of 16 but got [${imgs.shape.join(', ')}]`);
    }
    return fullLayout(imgs.shape[0], anySize ? side / 16 : this.grid, imgs.device);
  }

  /** Pooled features before the head: [N, C3], in the parameters' dtype (float32 under bf16). */
  forwardPooled(imgs: Tensor, capture?: Capture): Tensor {
    const layout = this.layout(imgs);
    try {
      return this.withCasts(imgs.device, () => this.pooled(imgs, layout, capture));
    } finally {
      retainUntilBackward([layout.cells, layout.table]);
    }
  }

  private pooled(imgs: Tensor, layout: VisibleLayout, capture?: Capture): Tensor {
    const x = this.stage3(this.stages(this.enter(imgs), layout, capture).tokens, capture);
    const dtype = this.pos_embed.dtype;
    if (this.fc_norm) {
      const pooled = toOutput(this.fc_norm.forward(meanTokens(x)), dtype);
      capture?.('fc_norm', pooled);
      return pooled;
    }
    // cls mode: `norm` then the first token (top-left patch); the model has no class token.
    const normed = this.norm!.forward(x);
    const first = tensor(Int32Array.from({ length: layout.n }, (_, b) => b * layout.k), [layout.n], { dtype: 'int32', device: imgs.device });
    const out = gatherRows(reshape(normed, [layout.n * layout.k, this.config.embedDim[2]]), first);
    retainUntilBackward([first]);
    return toOutput(out, dtype);
  }

  /** Class logits [N, numClasses]. */
  forward(imgs: Tensor, capture?: Capture): Tensor {
    const logits = this.head.forward(this.forwardPooled(imgs, capture));
    capture?.('head', logits);
    return logits;
  }

  /**
   * E1..E4 at strides 4, 8, 16, 32 (no final norm, nothing masked; float32 under bf16), for square inputs of any
   * side that is a multiple of 16 (32 for E4); the position table is resized to the grid.
   */
  forwardFeatures(imgs: Tensor): Features {
    const layout = this.layout(imgs, true);
    try {
      return this.withCasts(imgs.device, () => this.features(imgs, layout));
    } finally {
      retainUntilBackward([layout.cells, layout.table]);
    }
  }

  private features(imgs: Tensor, layout: VisibleLayout): Features {
    const s = this.stages(this.enter(imgs), layout);
    const x = this.stage3(s.tokens);
    const c3 = this.config.embedDim[2];
    const dtype = this.pos_embed.dtype;
    const e1 = toOutput(rowsToMap(s.e1, layout, 4), dtype);
    const e2 = toOutput(rowsToMap(s.e2, layout, 2), dtype);
    const e3 = toOutput(rowsToMap(reshape(x, [layout.n * layout.k, c3]), layout, 1), dtype);
    const e4 = maxPool2x2(e3);
    return { e1, e2, e3, e4 };
  }
}

