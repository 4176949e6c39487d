// The ConvMAE pretraining model (SPEC.md §2.7-2.10): block-wise masking, sparse stages 1-2 on
// visible blocks, stage 3 on kept tokens, multi-scale fusion after stage 3 in the official order
// (E3 + s1 + s2, then `norm`), and the decoder with mask tokens and unshuffle; the loss is the
// masked MSE against the (norm-pix) patch target.
import { add, reshape } from '../ops/arith';
import { maskedMseLoss } from '../ops/losses';
import { patchify } from '../ops/patches';
import { unshuffleTokens } from '../ops/unshuffle';
import { makeVisibleLayout } from '../ops/visible_layout';
import { Rng } from '../data/rng';
import { retainUntilBackward } from '../autograd/tape';
import { Tensor, tensor } from '../tensor/tensor';
import { Block } from '../nn/blocks';
import { InitContext, fromValues, normal } from '../nn/init';
import { Conv, LayerNorm, Linear } from '../nn/layers';
import { buffer, param } from '../nn/module';
import { toOutput, useParam } from '../nn/precision';
import { ConvMAEConfig, preset, validateConfig } from './config';
import { Capture, ConvEncoder, tileConv } from './encoder';
import { Masking, maskingFromNoise, maskingFromShuffle, randomMasking } from './masking';
import { sincosPosEmbed } from './pos_embed';

export interface PretrainInputs {
  /** [N, 3, S, S] normalised images. */
  imgs: Tensor;
  /** Masking noise [N·T] (stable ascending argsort), as the official code's torch.rand. */
  noise?: ArrayLike<number>;
  /** Or the permutation itself [N·T]. */
  idsShuffle?: Int32Array;
  /** Defaults to the config's mask ratio. */
  maskRatio?: number;
  capture?: Capture;
}

export interface PretrainOutputs {
  loss: Tensor;
  /** [N, T, 16·16·3] predictions for every token, raster order (float32 under bf16 too). */
  pred: Tensor;
  masking: Masking;
}

export interface ModelOptions {
  seed?: number;
  /** float32 (default) or float64 (gradient checks). */
  dtype?: 'float32' | 'float64';
}

export class ConvMAE extends ConvEncoder {
  mask_token: Tensor;
  decoder_pos_embed: Tensor;
  stage1_output_decode?: Conv;
  stage2_output_decode?: Conv;
  norm: LayerNorm;
  decoder_embed: Linear;
  decoder_blocks: Block[];
  decoder_norm: LayerNorm;
  decoder_pred: Linear;
  /** Masking randomness when no noise is given. */
  maskRng: Rng;

  constructor(config: ConvMAEConfig, opts: ModelOptions = {}) {
    validateConfig(config);
    const ctx: InitContext = { rng: new Rng(opts.seed ?? 0), dtype: opts.dtype ?? 'float32' };
    super(ctx, config, 'xavier', 0);
    const c = config;
    const c3 = c.embedDim[2];
    const tokens = this.grid * this.grid;
    this.pos_embed = buffer(fromValues(ctx, sincosPosEmbed(c3, this.grid), [1, tokens, c3]));
    this.mask_token = param(normal(ctx, [1, 1, c.decoderDim], 0.02));
    this.decoder_pos_embed = buffer(fromValues(ctx, sincosPosEmbed(c.decoderDim, this.grid), [1, tokens, c.decoderDim]));
    if (c.multiScaleFusion) {
      this.stage1_output_decode = new Conv(ctx, c.embedDim[0], c3, 4);
      this.stage2_output_decode = new Conv(ctx, c.embedDim[1], c3, 2);
    }
    this.norm = new LayerNorm(ctx, c3, c.layerNormEps);
    this.decoder_embed = new Linear(ctx, c3, c.decoderDim);
    this.decoder_blocks = Array.from({ length: c.decoderDepth }, () =>
      new Block(ctx, c.decoderDim, c.decoderHeads, c.decoderMlpRatio, c.layerNormEps));
    this.decoder_norm = new LayerNorm(ctx, c.decoderDim, c.layerNormEps);
    this.decoder_pred = new Linear(ctx, c.decoderDim, 16 * 16 * 3);
    this.maskRng = new Rng((opts.seed ?? 0) + 1);
  }

  static fromPreset(name: string, overrides: Partial<ConvMAEConfig> = {}, opts: ModelOptions = {}): ConvMAE {
    return new ConvMAE(preset(name, overrides), opts);
  }

  /** Masking from the given noise or permutation, else from maskRng. */
  masking(n: number, inputs: Pick<PretrainInputs, 'noise' | 'idsShuffle' | 'maskRatio'> = {}): Masking {
    const tokens = this.grid * this.grid;
    const ratio = inputs.maskRatio ?? this.config.maskRatio;
    if (inputs.idsShuffle) return maskingFromShuffle(inputs.idsShuffle, n, tokens, ratio);
    if (inputs.noise) return maskingFromNoise(inputs.noise, n, tokens, ratio);
    return randomMasking(n, tokens, ratio, this.maskRng);
  }

  forward(inputs: PretrainInputs): PretrainOutputs {
    const { imgs } = inputs;
    if (!(imgs instanceof Tensor)) throw new TypeError('ConvMAE.forward: expected a Tensor for `imgs`');
    return this.withCasts(imgs.device, () => this.pretrainForward(imgs, inputs));
  }

  private pretrainForward(imgs: Tensor, inputs: PretrainInputs): PretrainOutputs {
    const { capture } = inputs;
    const x0Imgs = this.enter(imgs);
    const n = imgs.shape[0];
    const masking = this.masking(n, inputs);
    if (masking.kept === 0) throw new RangeError('ConvMAE.forward: the mask ratio keeps no token');
    const g = this.grid, tokens = g * g, k = masking.kept;
    const layout = makeVisibleLayout(masking.idsKeep, n, k, g, imgs.device);
    try {
      const { e1, e2, tokens: x0 } = this.stages(x0Imgs, layout, capture);
      let x = this.stage3(x0, capture);
      const c3 = this.config.embedDim[2];
      if (this.stage1_output_decode && this.stage2_output_decode) {
        const s1 = tileConv(e1, 4, this.stage1_output_decode.weight, this.stage1_output_decode.bias);
        capture?.('stage1_output_decode', s1);
        const s2 = tileConv(e2, 2, this.stage2_output_decode.weight, this.stage2_output_decode.bias);
        capture?.('stage2_output_decode', s2);
        x = add(add(x, reshape(s1, [n, k, c3])), reshape(s2, [n, k, c3]));
      }
      const latent = this.norm.forward(x);
      capture?.('norm', latent);
      const dtype = this.pos_embed.dtype;
      const pred = toOutput(this.decode(latent, masking, capture), dtype);
      const target = patchify(toOutput(imgs, dtype), 16);
      const mask = tensor(masking.mask, [n, tokens], { dtype, device: imgs.device });
      const loss = maskedMseLoss(pred, target, mask, this.config.normPixLoss);
      retainUntilBackward([target, mask]);
      return { loss, pred, masking };
    } finally {
      retainUntilBackward([layout.cells, layout.table]);
    }
  }

  /** decoder_embed, mask tokens + unshuffle, decoder_pos_embed, blocks, norm, pred. */
  private decode(latent: Tensor, masking: Masking, capture?: Capture): Tensor {
    const { n, tokens, kept } = masking;
    const y = this.decoder_embed.forward(latent);
    capture?.('decoder_embed', y);
    // Position l of sample b takes row b·K + r of y when it is the r-th kept token, else the mask
    // token; then the position embedding (the official cat, gather and add in one op).
    const src = new Int32Array(n * tokens);
    for (let b = 0; b < n; b++) {
      for (let l = 0; l < tokens; l++) {
        const r = masking.idsRestore[b * tokens + l];
        src[b * tokens + l] = r < kept ? b * kept + r : -1;
      }
    }
    let z = unshuffleTokens(y, useParam(this.mask_token, y), useParam(this.decoder_pos_embed, y), src);
    this.decoder_blocks.forEach((b, i) => {
      z = b.forward(z, this.rng);
      capture?.(`decoder_blocks.${i}`, z);
    });
    z = this.decoder_norm.forward(z);
    capture?.('decoder_norm', z);
    const pred = this.decoder_pred.forward(z);
    capture?.('decoder_pred', pred);
    return pred;
  }
}
