// The ConvMAE building blocks (SPEC.md §2.2-2.4) on visible-block rows and token sets:
// PatchEmbed (patch conv -> LayerNorm(1e-5) -> GELU), CBlock (the convolutional block of stages 1
// and 2), Attention, Mlp and Block (pre-norm transformer block of stage 3 and the decoder).
// Where stochastic depth is off (always in pretraining), each residual add rides in the epilogue
// of the GEMM that ends its branch (conv2, attention proj, fc2): the same function, one pass less;
// where it is on, the add rides in the drop-path pass (addDropPath).
import { Rng } from '../data/rng';
import { attention } from '../ops/attention';
import { addDropPath } from '../ops/drop_path';
import { gelu } from '../ops/gelu';
import { mlp } from '../ops/mlp';
import { VisibleLayout } from '../ops/visible_layout';
import { Tensor } from '../tensor/tensor';
import { InitContext } from './init';
import { Conv, DepthwiseConv, LayerNorm, Linear, LinearInit } from './layers';
import { Module } from './module';
import { useParam } from './precision';

/**
 * x + branch(x), with stochastic depth on the branch when training and rate > 0; otherwise the
 * branch gets x to add in its last GEMM's epilogue.
 */
function residual(x: Tensor, branch: (res: Tensor | null) => Tensor, rate: number, training: boolean, samples: number, rng: Rng): Tensor {
  if (training && rate > 0) return addDropPath(x, branch(null), rate, samples, rng);
  return branch(x);
}

/** fc2(gelu(fc1(x))) (+ residual) through the fused mlp op, parameters cast where used. */
function mlpForward(fc1: { weight: Tensor; bias: Tensor | null }, fc2: { weight: Tensor; bias: Tensor | null }, x: Tensor,
  residual: Tensor | null): Tensor {
  return mlp(x, useParam(fc1.weight, x), fc1.bias && useParam(fc1.bias, x), useParam(fc2.weight, x), fc2.bias && useParam(fc2.bias, x), { residual });
}

export class PatchEmbed extends Module {
  proj: Conv;
  norm: LayerNorm;
  constructor(ctx: InitContext, inChannels: number, outChannels: number, readonly kernel: number) {
    super();
    this.proj = new Conv(ctx, inChannels, outChannels, kernel);
    this.norm = new LayerNorm(ctx, outChannels, 1e-5);
  }
  /** tiles [R, Cin*k*k] -> [R, Cout]. */
  forward(tiles: Tensor): Tensor {
    return gelu(this.norm.forward(this.proj.forward(tiles)));
  }
}

export class ConvMlp extends Module {
  fc1: Conv;
  fc2: Conv;
  constructor(ctx: InitContext, dim: number, hidden: number) {
    super();
    this.fc1 = new Conv(ctx, dim, hidden, 1);
    this.fc2 = new Conv(ctx, hidden, dim, 1);
  }
  /** fc2(gelu(fc1(x))) (+ residual), x [R, dim]. */
  forward(x: Tensor, residual: Tensor | null = null): Tensor {
    return mlpForward(this.fc1, this.fc2, x, residual);
  }
}

export class CBlock extends Module {
  norm1: LayerNorm;
  conv1: Conv;
  conv2: Conv;
  attn: DepthwiseConv;
  norm2: LayerNorm;
  mlp: ConvMlp;
  constructor(ctx: InitContext, dim: number, mlpRatio: number, readonly dropPathRate = 0) {
    super();
    this.norm1 = new LayerNorm(ctx, dim, 1e-5);
    this.conv1 = new Conv(ctx, dim, dim, 1);
    this.conv2 = new Conv(ctx, dim, dim, 1);
    this.attn = new DepthwiseConv(ctx, dim, 5);
    this.norm2 = new LayerNorm(ctx, dim, 1e-5);
    this.mlp = new ConvMlp(ctx, dim, Math.floor(dim * mlpRatio));
  }
  /**
   * x: rows [N*K*t*t, C] of visible positions. The official mask multiply (after conv1) is the
   * identity on visible rows; the depthwise conv reads masked neighbours as 0 (SPEC.md §4).
   */
  forward(x: Tensor, layout: VisibleLayout, t: number, rng: Rng): Tensor {
    const b = this.conv1.forward(this.norm1.forward(x));
    const d = this.attn.forward(b, layout, t);
    const x1 = residual(x, (res) => this.conv2.forward(d, { residual: res }), this.dropPathRate, this.training, layout.n, rng);
    return residual(x1, (res) => this.mlp.forward(this.norm2.forward(x1), res), this.dropPathRate, this.training, layout.n, rng);
  }
}

export class Attention extends Module {
  qkv: Linear;
  proj: Linear;
  constructor(ctx: InitContext, dim: number, readonly heads: number, init: LinearInit) {
    super();
    if (dim % heads !== 0) throw new RangeError(`Attention: width ${dim} is not divisible by ${heads} heads`);
    this.qkv = new Linear(ctx, dim, dim * 3, { init });
    this.proj = new Linear(ctx, dim, dim, { init });
  }
  /** x [N, L, C] -> [N, L, C] (+ residual). */
  forward(x: Tensor, residual: Tensor | null = null): Tensor {
    return this.proj.forward(attention(this.qkv.forward(x), this.heads), { residual });
  }
}

export class Mlp extends Module {
  fc1: Linear;
  fc2: Linear;
  constructor(ctx: InitContext, dim: number, hidden: number, init: LinearInit) {
    super();
    this.fc1 = new Linear(ctx, dim, hidden, { init });
    this.fc2 = new Linear(ctx, hidden, dim, { init });
  }
  /** fc2(gelu(fc1(x))) (+ residual). */
  forward(x: Tensor, residual: Tensor | null = null): Tensor {
    return mlpForward(this.fc1, this.fc2, x, residual);
  }
}

export class Block extends Module {
  norm1: LayerNorm;
  attn: Attention;
  norm2: LayerNorm;
  mlp: Mlp;
  constructor(ctx: InitContext, dim: number, heads: number, mlpRatio: number, eps: number, readonly dropPathRate = 0,
    init: LinearInit = 'xavier') {
    super();
    this.norm1 = new LayerNorm(ctx, dim, eps);
    this.attn = new Attention(ctx, dim, heads, init);
    this.norm2 = new LayerNorm(ctx, dim, eps);
    this.mlp = new Mlp(ctx, dim, Math.floor(dim * mlpRatio), init);
  }
  /** x [N, L, C]. */
  forward(x: Tensor, rng: Rng): Tensor {
    const n = x.shape[0];
    const x1 = residual(x, (res) => this.attn.forward(this.norm1.forward(x), res), this.dropPathRate, this.training, n, rng);
    return residual(x1, (res) => this.mlp.forward(this.norm2.forward(x1), res), this.dropPathRate, this.training, n, rng);
  }
}
