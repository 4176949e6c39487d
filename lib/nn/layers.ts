// Basic layers with PyTorch's parameter names and layouts: Linear (weight [out, in]), LayerNorm,
// Conv (weight [out, in, k, k], applied to gathered rows as a GEMM), DepthwiseConv (weight
// [C, 1, k, k], applied to visible-block rows). Initialisation follows SPEC.md §5. Parameters are
// cast to the input's dtype where used (the mixed-precision policy, nn/precision.ts).
import { layerNorm } from '../ops/layernorm';
import { linear, LinearOptions } from '../ops/linear';
import { dwconvRows } from '../ops/dwconv';
import { VisibleLayout } from '../ops/visible_layout';
import { Tensor } from '../tensor/tensor';
import { InitContext, constant, torchDefault, xavierUniform, truncNormal } from './init';
import { Module, param } from './module';
import { useParam } from './precision';

export type LinearInit = 'xavier' | 'trunc-normal';

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(ctx: InitContext, readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean; init?: LinearInit } = {}) {
    super();
    this.weight = param(opts.init === 'trunc-normal'
      ? truncNormal(ctx, [outFeatures, inFeatures], 0.02)
      : xavierUniform(ctx, [outFeatures, inFeatures], inFeatures, outFeatures));
    this.bias = opts.bias === false ? null : param(constant(ctx, [outFeatures], 0));
  }
  forward(x: Tensor, opts: LinearOptions = {}): Tensor {
    return linear(x, useParam(this.weight, x), this.bias && useParam(this.bias, x), opts);
  }
}

export class LayerNorm extends Module {
  weight: Tensor;
  bias: Tensor;
  constructor(ctx: InitContext, readonly dim: number, readonly eps: number) {
    super();
    this.weight = param(constant(ctx, [dim], 1));
    this.bias = param(constant(ctx, [dim], 0));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, useParam(this.weight, x), useParam(this.bias, x), this.eps);
  }
}

/** A kernel = stride convolution (1x1 or a patch conv) whose input arrives as gathered rows. */
export class Conv extends Module {
  weight: Tensor;
  bias: Tensor;
  constructor(ctx: InitContext, readonly inChannels: number, readonly outChannels: number, readonly kernel: number) {
    super();
    const fanIn = inChannels * kernel * kernel;
    this.weight = param(torchDefault(ctx, [outChannels, inChannels, kernel, kernel], fanIn));
    this.bias = param(torchDefault(ctx, [outChannels], fanIn));
  }
  /** rows [R, inChannels*kernel*kernel] (channel-major tiles) -> [R, outChannels]. */
  forward(rows: Tensor, opts: LinearOptions = {}): Tensor {
    return linear(rows, useParam(this.weight, rows), useParam(this.bias, rows), opts);
  }
}

export class DepthwiseConv extends Module {
  weight: Tensor;
  bias: Tensor;
  constructor(ctx: InitContext, readonly channels: number, readonly kernel: number) {
    super();
    const fanIn = kernel * kernel;
    this.weight = param(torchDefault(ctx, [channels, 1, kernel, kernel], fanIn));
    this.bias = param(torchDefault(ctx, [channels], fanIn));
  }
  forward(rows: Tensor, layout: VisibleLayout, t: number): Tensor {
    return dwconvRows(rows, useParam(this.weight, rows), useParam(this.bias, rows), layout, t);
  }
}
