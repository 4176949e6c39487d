import { describe, expect, test } from 'vitest';
import {
  finetuneDecayGroup, finetuneParamGroups, layerDecayScales, layerIdForConvViT, linprobeParamGroups,
  pretrainParamGroups, weightDecayGroup,
} from '../../lib/train/param_groups';
import { convmaeBPretrain, convvitBFinetune, numel } from './convmae_b_params';

const DEPTHS = [2, 2, 11];

describe('pretraining weight-decay groups (SPEC 8.2)', () => {
  const params = convmaeBPretrain();

  test('the name list matches SPEC 1.2 totals', () => {
    expect(params).toHaveLength(313);
    expect(params.reduce((a, p) => a + numel(p), 0)).toBe(115_041_408);
  });

  test('element counts per group', () => {
    let frozen = 0;
    let noDecay = 0;
    let decay = 0;
    for (const p of params) {
      const g = weightDecayGroup(p.name, p.shape);
      if (g === 'frozen') frozen += numel(p);
      else if (g === 'no_decay') noDecay += numel(p);
      else decay += numel(p);
    }
    expect(noDecay).toBe(188_800);
    expect(decay).toBe(114_601_728);
    expect(noDecay + decay).toBe(114_790_528);
    expect(frozen).toBe(196 * 768 + 196 * 512);
  });

  test('individual rules', () => {
    expect(weightDecayGroup('mask_token', [1, 1, 512])).toBe('decay');
    expect(weightDecayGroup('pos_embed', [1, 196, 768])).toBe('frozen');
    expect(weightDecayGroup('decoder_pos_embed', [1, 196, 512])).toBe('frozen');
    expect(weightDecayGroup('blocks1.0.attn.weight', [256, 1, 5, 5])).toBe('decay');
    expect(weightDecayGroup('blocks1.0.conv1.weight', [256, 256, 1, 1])).toBe('decay');
    expect(weightDecayGroup('blocks1.0.conv1.bias', [256])).toBe('no_decay');
    expect(weightDecayGroup('norm.weight', [768])).toBe('no_decay');
    expect(weightDecayGroup('odd.bias', [4, 4])).toBe('no_decay');
  });

  test('pretrainParamGroups leaves frozen tensors out', () => {
    const groups = pretrainParamGroups(params);
    expect(groups.map((g) => [g.name, g.weightDecay])).toEqual([['no_decay', 0], ['decay', 0.05]]);
    const all = groups.flatMap((g) => g.params);
    expect(all).toHaveLength(311);
    expect(all).not.toContain('pos_embed');
    expect(groups[1].params).toContain('mask_token');
  });
});

describe('layer-wise lr decay (SPEC 6.4)', () => {
  const params = convvitBFinetune();
  const names = params.map((p) => p.name);

  test('the finetuning model has 85.37 M parameters (SPEC 1.1)', () => {
    expect(params.reduce((a, p) => a + numel(p), 0) / 1e6).toBeCloseTo(85.37, 2);
  });

  test('layer ids', () => {
    expect(layerIdForConvViT('pos_embed', DEPTHS)).toBe(0);
    expect(layerIdForConvViT('cls_token', DEPTHS)).toBe(0);
    for (const n of ['patch_embed1.proj.weight', 'patch_embed2.norm.bias', 'patch_embed3.proj.bias', 'patch_embed4.weight',
                     'blocks1.0.conv1.weight', 'blocks1.1.mlp.fc2.bias', 'blocks2.0.attn.weight', 'blocks2.1.norm2.weight']) {
      expect(layerIdForConvViT(n, DEPTHS)).toBe(0);
    }
    for (let k = 0; k < 11; k++) expect(layerIdForConvViT(`blocks3.${k}.attn.qkv.weight`, DEPTHS)).toBe(k + 1);
    for (const n of ['fc_norm.weight', 'fc_norm.bias', 'head.weight', 'head.bias', 'norm.weight']) {
      expect(layerIdForConvViT(n, DEPTHS)).toBe(12);
    }
  });

  test('scales at decay 0.65', () => {
    const s = layerDecayScales(names, DEPTHS, 0.65);
    expect(s.size).toBe(names.length);
    expect(s.get('pos_embed')).toBeCloseTo(0.005688, 6);
    expect(s.get('patch_embed4.weight')).toBeCloseTo(0.005688, 6);
    expect(s.get('blocks1.0.conv1.weight')).toBeCloseTo(0.005688, 6);
    expect(s.get('blocks2.1.mlp.fc1.weight')).toBeCloseTo(0.005688, 6);
    expect(s.get('blocks3.0.norm1.weight')).toBeCloseTo(0.00875, 5);
    expect(s.get('blocks3.10.mlp.fc2.bias')).toBeCloseTo(0.65, 12);
    for (let k = 0; k < 11; k++) expect(s.get(`blocks3.${k}.attn.proj.weight`)).toBeCloseTo(0.65 ** (11 - k), 12);
    expect(s.get('head.weight')).toBe(1);
    expect(s.get('fc_norm.bias')).toBe(1);
    expect(1 / s.get('blocks1.0.conv1.weight')!).toBeCloseTo(176, -1);
  });

  test('finetuning weight decay and group keys', () => {
    expect(finetuneDecayGroup('pos_embed', [1, 196, 768])).toBe('no_decay');
    expect(finetuneDecayGroup('cls_token', [1, 1, 768])).toBe('no_decay');
    expect(finetuneDecayGroup('head.weight', [1000, 768])).toBe('decay');
    expect(finetuneDecayGroup('head.bias', [1000])).toBe('no_decay');
    const groups = finetuneParamGroups(params, { depths: DEPTHS, layerDecay: 0.65 });
    const byName = new Map(groups.map((g) => [g.name, g]));
    expect(groups).toHaveLength(26);
    expect(byName.get('layer_0_no_decay')!.params).toContain('pos_embed');
    expect(byName.get('layer_0_no_decay')!.lrScale).toBeCloseTo(0.005688, 6);
    expect(byName.get('layer_0_decay')!.params).toContain('blocks2.1.attn.weight');
    expect(byName.get('layer_0_decay')!.weightDecay).toBe(0.05);
    expect(byName.get('layer_12_decay')!.params).toEqual(['head.weight']);
    expect(byName.get('layer_12_no_decay')!.params).toEqual(['fc_norm.weight', 'fc_norm.bias', 'head.bias']);
    expect(byName.get('layer_12_no_decay')!.weightDecay).toBe(0);
    expect(byName.get('layer_5_decay')!.params).toEqual(
      ['blocks3.4.attn.qkv.weight', 'blocks3.4.attn.proj.weight', 'blocks3.4.mlp.fc1.weight', 'blocks3.4.mlp.fc2.weight']);
    expect(groups.reduce((a, g) => a + g.params.length, 0)).toBe(params.length);
  });
});

test('linear probe trains only the head (SPEC 7)', () => {
  const params = [
    ...convvitBFinetune().filter((p) => !p.name.startsWith('head.')),
    { name: 'head.0.running_mean', shape: [768] }, { name: 'head.0.running_var', shape: [768] },
    { name: 'head.0.num_batches_tracked', shape: [] },
    { name: 'head.1.weight', shape: [1000, 768] }, { name: 'head.1.bias', shape: [1000] },
  ];
  expect(linprobeParamGroups(params)).toEqual([{ name: 'head', params: ['head.1.weight', 'head.1.bias'], weightDecay: 0, lrScale: 1 }]);
});
