// Model configurations: the size presets of SPEC.md §1 (tiny, small, base, base-star, large, huge
// and the aliases s, b, l, h) and the conversion to and from the fixtures' JSON schema
// (snake_case keys, SPEC.md §11.2 defaults for absent keys).

export interface ConvMAEConfig {
  /** Stage widths C1, C2, C3. */
  embedDim: [number, number, number];
  /** Blocks per stage L1, L2, L3. */
  depth: [number, number, number];
  /** MLP ratios P1, P2, P3. */
  mlpRatio: [number, number, number];
  /** Stage-3 attention heads. */
  numHeads: number;
  decoderDim: number;
  decoderDepth: number;
  decoderHeads: number;
  decoderMlpRatio: number;
  multiScaleFusion: boolean;
  normPixLoss: boolean;
  maskRatio: number;
  imgSize: number;
  /** eps of the stage-3, decoder and head LayerNorms (PatchEmbed and CBlock norms use 1e-5). */
  layerNormEps: number;
  /** Classifier settings. */
  numClasses: number;
  globalPool: boolean;
  dropPath: number;
}

export const PRESET_NAMES = ['tiny', 'small', 'base', 'base-star', 'large', 'huge'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];
export const PRESET_ALIASES: Record<string, PresetName> = { s: 'small', b: 'base', 'b*': 'base-star', l: 'large', h: 'huge' };

const common = {
  decoderDim: 512, decoderDepth: 8, decoderHeads: 16, decoderMlpRatio: 4, multiScaleFusion: true, normPixLoss: true,
  maskRatio: 0.75, imgSize: 224, layerNormEps: 1e-6, numClasses: 1000, globalPool: true, dropPath: 0.1,
};

const PRESETS: Record<PresetName, ConvMAEConfig> = {
  tiny: {
    ...common, embedDim: [16, 24, 32], depth: [1, 1, 2], mlpRatio: [2, 2, 2], numHeads: 2,
    decoderDim: 16, decoderDepth: 1, decoderHeads: 2, decoderMlpRatio: 2, imgSize: 64, numClasses: 10, dropPath: 0,
  },
  small: { ...common, embedDim: [128, 256, 384], depth: [2, 2, 11], mlpRatio: [4, 4, 4], numHeads: 6 },
  base: { ...common, embedDim: [256, 384, 768], depth: [2, 2, 11], mlpRatio: [4, 4, 4], numHeads: 12 },
  'base-star': { ...common, embedDim: [256, 384, 768], depth: [2, 2, 11], mlpRatio: [8, 8, 4], numHeads: 12 },
  large: { ...common, embedDim: [384, 768, 1024], depth: [2, 2, 23], mlpRatio: [8, 8, 4], numHeads: 16 },
  huge: { ...common, embedDim: [768, 1024, 1280], depth: [2, 2, 31], mlpRatio: [8, 8, 4], numHeads: 16 },
};

export function resolvePresetName(name: string): PresetName {
  const key = name.toLowerCase();
  const resolved = PRESET_ALIASES[key] ?? key;
  if (!(PRESET_NAMES as readonly string[]).includes(resolved)) {
    throw new RangeError(`unknown model '${name}': expected one of ${PRESET_NAMES.join(', ')} (aliases s, b, l, h)`);
  }
  return resolved as PresetName;
}

/** A preset's config, with overrides. */
export function preset(name: string, overrides: Partial<ConvMAEConfig> = {}): ConvMAEConfig {
  const base = PRESETS[resolvePresetName(name)];
  const cfg = { ...base, ...overrides } as ConvMAEConfig;
  cfg.embedDim = [...cfg.embedDim] as ConvMAEConfig['embedDim'];
  cfg.depth = [...cfg.depth] as ConvMAEConfig['depth'];
  cfg.mlpRatio = [...cfg.mlpRatio] as ConvMAEConfig['mlpRatio'];
  validateConfig(cfg);
  return cfg;
}

function triple(v: unknown, key: string): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x <= 0)) {
    throw new RangeError(`config: expected three positive numbers for \`${key}\` but got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1], v[2]];
}

export function validateConfig(c: ConvMAEConfig): void {
  triple(c.embedDim, 'embedDim');
  triple(c.depth, 'depth');
  triple(c.mlpRatio, 'mlpRatio');
  const posInt = (v: number, k: string, min = 1) => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`config: expected an integer >= ${min} for \`${k}\` but got ${v}`);
  };
  c.embedDim.forEach((d, i) => posInt(d, `embedDim[${i}]`));
  c.depth.forEach((d, i) => posInt(d, `depth[${i}]`, 0));
  posInt(c.numHeads, 'numHeads');
  posInt(c.decoderDim, 'decoderDim');
  posInt(c.decoderDepth, 'decoderDepth', 0);
  posInt(c.decoderHeads, 'decoderHeads');
  posInt(c.imgSize, 'imgSize', 16);
  posInt(c.numClasses, 'numClasses');
  if (c.imgSize % 16 !== 0) throw new RangeError(`config: \`imgSize\` must be a multiple of 16 but got ${c.imgSize}`);
  if (c.embedDim[2] % c.numHeads !== 0) throw new RangeError(`config: embedDim[2] = ${c.embedDim[2]} is not divisible by numHeads = ${c.numHeads}`);
  if (c.decoderDim % c.decoderHeads !== 0) throw new RangeError(`config: decoderDim = ${c.decoderDim} is not divisible by decoderHeads = ${c.decoderHeads}`);
  if (c.embedDim[2] % 4 !== 0 || c.decoderDim % 4 !== 0) throw new RangeError('config: embedDim[2] and decoderDim must be multiples of 4 (sin-cos position embedding)');
  if (!(c.maskRatio >= 0 && c.maskRatio < 1)) throw new RangeError(`config: \`maskRatio\` must be in [0, 1) but got ${c.maskRatio}`);
  if (!(c.layerNormEps > 0)) throw new RangeError(`config: \`layerNormEps\` must be positive but got ${c.layerNormEps}`);
  if (!(c.dropPath >= 0 && c.dropPath < 1)) throw new RangeError(`config: \`dropPath\` must be in [0, 1) but got ${c.dropPath}`);
}

/** The fixtures' JSON schema (SPEC.md §11.2 / fixtures/README.md). */
export interface FixtureConfig {
  embed_dim: number[]; depth: number[]; mlp_ratio: number[]; num_heads: number;
  dec_dim?: number; dec_depth?: number; dec_heads?: number; dec_mlp_ratio?: number; multi_scale_fusion?: boolean;
  norm_pix_loss?: boolean; mask_ratio?: number; img_size?: number; layer_norm_eps?: number;
  num_classes?: number; global_pool?: boolean; drop_path?: number;
}

export function fromFixtureConfig(j: Record<string, unknown>, defaults: { multiScaleFusion?: boolean; imgSize?: number } = {}): ConvMAEConfig {
  if (j === null || typeof j !== 'object') throw new TypeError('config: expected a JSON object');
  const num = (k: string, d: number): number => {
    const v = j[k];
    if (v === undefined) return d;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`config: expected a number for \`${k}\` but got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (k: string, d: boolean): boolean => {
    const v = j[k];
    if (v === undefined) return d;
    if (typeof v !== 'boolean') throw new TypeError(`config: expected a boolean for \`${k}\` but got ${JSON.stringify(v)}`);
    return v;
  };
  const mlpRatio = triple(j.mlp_ratio, 'mlp_ratio');
  const cfg: ConvMAEConfig = {
    embedDim: triple(j.embed_dim, 'embed_dim'),
    depth: triple(j.depth, 'depth'),
    mlpRatio,
    numHeads: num('num_heads', NaN),
    decoderDim: num('dec_dim', 512),
    decoderDepth: num('dec_depth', 8),
    decoderHeads: num('dec_heads', 16),
    decoderMlpRatio: num('dec_mlp_ratio', mlpRatio[0]),
    multiScaleFusion: bool('multi_scale_fusion', defaults.multiScaleFusion ?? true),
    normPixLoss: bool('norm_pix_loss', true),
    maskRatio: num('mask_ratio', 0.75),
    imgSize: defaults.imgSize ?? num('img_size', 224),
    layerNormEps: num('layer_norm_eps', 1e-6),
    numClasses: num('num_classes', 1000),
    globalPool: bool('global_pool', true),
    dropPath: num('drop_path', 0),
  };
  if (Number.isNaN(cfg.numHeads)) throw new TypeError('config: `num_heads` is required');
  validateConfig(cfg);
  return cfg;
}

export function toFixtureConfig(c: ConvMAEConfig): FixtureConfig {
  return {
    embed_dim: [...c.embedDim], depth: [...c.depth], mlp_ratio: [...c.mlpRatio], num_heads: c.numHeads,
    dec_dim: c.decoderDim, dec_depth: c.decoderDepth, dec_heads: c.decoderHeads, dec_mlp_ratio: c.decoderMlpRatio,
    multi_scale_fusion: c.multiScaleFusion, norm_pix_loss: c.normPixLoss, mask_ratio: c.maskRatio, img_size: c.imgSize,
    layer_norm_eps: c.layerNormEps, num_classes: c.numClasses, global_pool: c.globalPool, drop_path: c.dropPath,
  };
}

/**
 * Encoder parameters without pos-embed and head (SPEC.md §1.1's count): patch embeds 1-4, the
 * stage blocks and the final norm.
 */
export function encoderParameterCount(c: ConvMAEConfig): number {
  const [c1, c2, c3] = c.embedDim;
  const conv = (cin: number, cout: number, k: number) => cout * cin * k * k + cout;
  const patchEmbeds = conv(3, c1, 4) + 2 * c1 + conv(c1, c2, 2) + 2 * c2 + conv(c2, c3, 2) + 2 * c3 + c3 * c3 + c3;
  const cblock = (d: number, r: number) => {
    const h = Math.floor(d * r);
    return 2 * d + (d * d + d) * 2 + 25 * d + d + 2 * d + (d * h + h) + (h * d + d);
  };
  const block = (d: number, r: number) => {
    const h = Math.floor(d * r);
    return 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * h + h) + (h * d + d);
  };
  return patchEmbeds + c.depth[0] * cblock(c1, c.mlpRatio[0]) + c.depth[1] * cblock(c2, c.mlpRatio[1]) +
    c.depth[2] * block(c3, c.mlpRatio[2]) + 2 * c3;
}
