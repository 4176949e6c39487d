import { describe, expect, it } from 'vitest';

import { encoderParameterCount, fromFixtureConfig, preset, resolvePresetName, toFixtureConfig } from '../../lib/models/config';
import { ConvMAE } from '../../lib/models/convmae';
import { ConvViT } from '../../lib/models/convvit';
import { sincosPosEmbed } from '../../lib/models/pos_embed';
import { Rng } from '../../lib/data/rng';
import { maskingFromNoise, maskingFromShuffle, keptCount } from '../../lib/models/masking';

describe('model configurations', () => {
  it('presets reproduce the parameter counts of SPEC.md §1.1', () => {
    const expected: Record<string, number> = { small: 21.87e6, base: 84.46e6, 'base-star': 87.87e6, large: 321.75e6, huge: 679.21e6 };
    for (const [name, count] of Object.entries(expected)) {
      expect(Math.abs(encoderParameterCount(preset(name)) - count)).toBeLessThan(0.006e6);
    }
    expect(resolvePresetName('b')).toBe('base');
    expect(resolvePresetName('H')).toBe('huge');
    expect(() => preset('giant')).toThrow(/unknown model 'giant'/);
  });

  it('the counting formula agrees with a constructed model', () => {
    const cfg = preset('tiny', { imgSize: 32 });
    const m = new ConvViT(cfg);
    const named = m.namedParameters();
    const encoder = named.filter(([k]) => !/^(pos_embed|head|fc_norm)/.test(k)).reduce((s, [, t]) => s + t.numel, 0);
    // The classifier has fc_norm instead of norm: same size.
    expect(encoder + 2 * cfg.embedDim[2]).toBe(encoderParameterCount(cfg));
    m.dispose();
  });

  it('fixture configs round-trip and fill SPEC.md §11.2 defaults', () => {
    const cfg = fromFixtureConfig({ embed_dim: [24, 32, 48], depth: [2, 1, 3], mlp_ratio: [4, 3, 2], num_heads: 3, dec_dim: 24, dec_depth: 2, dec_heads: 3 });
    expect(cfg.decoderMlpRatio).toBe(4);
    expect(cfg.multiScaleFusion).toBe(true);
    expect(fromFixtureConfig(toFixtureConfig(cfg) as never)).toEqual(cfg);
    expect(() => fromFixtureConfig({ embed_dim: [24, 32], depth: [1, 1, 1], mlp_ratio: [4, 4, 4], num_heads: 3 })).toThrow(/embed_dim/);
    expect(() => fromFixtureConfig({ embed_dim: [24, 32, 50], depth: [1, 1, 1], mlp_ratio: [4, 4, 4], num_heads: 3 })).toThrow(/divisible|multiple/);
    const m = new ConvMAE(cfg);
    expect(m.namedTensors().find(([k]) => k === 'blocks2.0.mlp.fc1.weight')![1].shape).toEqual([96, 32, 1, 1]);
    m.dispose();
  });

  it('sin-cos position embedding matches the test vectors of SPEC.md §2.6', () => {
    const pe = sincosPosEmbed(768, 14);
    const at = (n: number, d: number) => pe[n * 768 + d];
    const rows: [number, number[], number[]][] = [
      [1, [0, 1, 191, 192, 193, 383, 384, 385, 575, 576, 767], [0.841471, 0.815251, 0.000105, 0.540302, 0.579108, 1, 0, 0, 0, 1, 1]],
      [14, [0, 1, 191, 192, 193, 383, 384, 385, 575, 576, 767], [0, 0, 0, 1, 1, 1, 0.841471, 0.815251, 0.000105, 0.540302, 1]],
      [195, [0, 1, 191, 192, 193, 383, 384, 385, 575, 576, 767], [0.420167, -0.17437, 0.001364, 0.907447, 0.98468, 0.999999, 0.420167, -0.17437, 0.001364, 0.907447, 0.999999]],
    ];
    for (const [n, ds, vs] of rows) ds.forEach((d, i) => expect(Math.abs(at(n, d) - vs[i])).toBeLessThan(1.5e-6));
    expect(pe.reduce((a, b) => a + b, 0)).toBeCloseTo(69594.5, 0);
    const pd = sincosPosEmbed(512, 14);
    expect(pd.reduce((a, b) => a + b, 0)).toBeCloseTo(46340.33, 1);
    expect(pd[15 * 512 + 1]).toBeCloseTo(0.801962, 5);
  });

  it('masking keeps floor(T(1-r)) tokens by a stable ascending argsort', () => {
    expect(keptCount(196, 0.75)).toBe(49);
    expect(keptCount(196, 0.9)).toBe(19);
    const noise = [0.5, 0.1, 0.9, 0.1, 0.3, 0.7, 0.2, 0.8];
    const m = maskingFromNoise(noise, 2, 4, 0.5);
    expect(Array.from(m.idsKeep)).toEqual([1, 3, 2, 0]);
    expect(Array.from(m.mask)).toEqual([1, 0, 1, 0, 0, 1, 0, 1]);
    expect(Array.from(m.idsRestore.slice(0, 4))).toEqual([2, 0, 3, 1]);
  });

  it('masking argsorts float32 noise (by packed keys) as a stable comparator sort does, ties, signs and NaN included', () => {
    const rng = new Rng(7);
    const tokens = 196, n = 8;
    const stable = (vals: ArrayLike<number>, b: number) => Array.from({ length: tokens }, (_, i) => i)
      .sort((x, y) => { const a = vals[b * tokens + x], c = vals[b * tokens + y]; return a < c ? -1 : a > c ? 1 : x - y; });
    const noise = new Float32Array(n * tokens);
    for (let i = 0; i < noise.length; i++) noise[i] = rng.uniform();
    for (let i = 0; i < tokens; i++) noise[tokens + i] = noise[tokens + (i % 5)]; // sample 1: five values, many ties
    for (let i = 0; i < tokens; i++) noise[2 * tokens + i] = (i % 3 === 0 ? -1 : 1) * noise[2 * tokens + i] * 1e-30; // signs, subnormals
    noise[3 * tokens] = -0; noise[3 * tokens + 1] = 0; noise[3 * tokens + 2] = -0; noise[3 * tokens + 3] = -Infinity; noise[3 * tokens + 4] = Infinity;
    for (let i = 0; i < tokens; i++) noise[6 * tokens + i] = 1 + ((tokens - i) % 97) * 2 ** -23; // one run of equal high bits, longer than 64
    for (let i = 0; i < 40; i++) noise[7 * tokens + 3 * i] = 0.75 + (40 - i) * 2 ** -24; // a short run among random values
    noise[4 * tokens + 10] = NaN; // sample 4 takes the comparator; NaN has no order, so only a permutation is expected
    const doubles = Array.from(noise, (v, i) => (i >= 5 * tokens && i < 6 * tokens ? v + 1e-12 * i : v)); // sample 5 not float32: all take the comparator
    for (const vals of [noise, doubles] as ArrayLike<number>[]) {
      const m = maskingFromNoise(vals, n, tokens, 0.75);
      for (let b = 0; b < n; b++) {
        const ids = Array.from(m.idsShuffle.slice(b * tokens, (b + 1) * tokens));
        if (b === 4) expect(ids.sort((x, y) => x - y)).toEqual(Array.from({ length: tokens }, (_, i) => i));
        else expect(ids, `sample ${b}`).toEqual(stable(vals, b));
      }
    }
  });

  it('masking argsorts samples of any token count, at the index bits\' edges too', () => {
    const rng = new Rng(11);
    for (const tokens of [1, 2, 3, 255, 256, 257, 1568]) {
      const noise = new Float32Array(3 * tokens);
      for (let i = 0; i < noise.length; i++) noise[i] = i % 7 === 0 ? noise[Math.floor(i / 2)] : rng.uniform(); // some ties
      const m = maskingFromNoise(noise, 3, tokens, 0.5);
      for (let b = 0; b < 3; b++) {
        const want = Array.from({ length: tokens }, (_, i) => i)
          .sort((x, y) => noise[b * tokens + x] - noise[b * tokens + y] || x - y);
        expect(Array.from(m.idsShuffle.slice(b * tokens, (b + 1) * tokens)), `${tokens} tokens, sample ${b}`).toEqual(want);
      }
    }
  });

  it('masking from given permutations: keep, restore and mask agree with them; anything but a permutation is refused', () => {
    const m = maskingFromShuffle(Int32Array.from([2, 0, 3, 1, 1, 2, 0, 3]), 2, 4, 0.5);
    expect(Array.from(m.idsKeep)).toEqual([2, 0, 1, 2]);
    expect(Array.from(m.idsRestore)).toEqual([1, 3, 0, 2, 2, 0, 1, 3]);
    expect(Array.from(m.mask)).toEqual([0, 1, 0, 1, 1, 0, 0, 1]);
    expect(() => maskingFromShuffle(Int32Array.from([0, 1, 2, 3, 0, 1, 1, 3]), 2, 4, 0.5)).toThrow(/sample 1 is not a permutation of 0..3/);
    expect(() => maskingFromShuffle(Int32Array.from([0, 1, 2, 4]), 1, 4, 0.5)).toThrow(/sample 0 is not a permutation/);
    expect(() => maskingFromShuffle(Int32Array.from([0, -1, 2, 3]), 1, 4, 0.5)).toThrow(/sample 0 is not a permutation/);
    expect(() => maskingFromShuffle(Int32Array.from([0, 1, 2]), 1, 4, 0.5)).toThrow(/3 entries, expected 4/);
    expect(() => maskingFromShuffle([0, 1, 2, 3] as unknown as Int32Array, 1, 4, 0.5)).toThrow(/expected an Int32Array/);
  });
});
