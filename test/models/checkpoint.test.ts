import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';

import { clearTape } from '../../lib/autograd/tape';
import { readSafetensors } from '../../lib/io/safetensors';
import { recordToFloat32 } from '../../lib/io/record';
import { preset } from '../../lib/models/config';
import { ConvMAE } from '../../lib/models/convmae';
import { inferConfig, loadModel, readCheckpoint, saveModel, weightsOnly } from '../../lib/models/checkpoint';
import { noGrad } from '../../lib/autograd/tape';
import { tidy } from '../../lib/tensor/scope';
import { tensor } from '../../lib/tensor/tensor';

const root = path.resolve(__dirname, '..', '..');
const fx = path.join(root, 'test', 'fixtures');
const cli = path.join(root, 'dist', 'lib', 'cli', 'main.js');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-checkpoint-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function fixtureLoss(model: ConvMAE): number {
  const { tensors } = readSafetensors(path.join(fx, 'parity', 'pretrain-tiny-normpix.safetensors'));
  const imgs = tensors.get('input.imgs')!;
  return noGrad(() => tidy(() => {
    const out = model.forward({ imgs: tensor(recordToFloat32(imgs), imgs.shape), noise: recordToFloat32(tensors.get('input.noise')!) });
    return out.loss.item();
  }));
}

describe('checkpoints', () => {
  const ref = Number(readSafetensors(path.join(fx, 'parity', 'pretrain-tiny-normpix.safetensors')).metadata.loss);

  it.each(['checkpoint', 'state_dict', 'fp16'])('the official %s .pth loads and reproduces the fixture loss', (kind) => {
    const model = loadModel(path.join(fx, 'pth', `pretrain-tiny-normpix.${kind}.pth`));
    try {
      expect(model).toBeInstanceOf(ConvMAE);
      const loss = fixtureLoss(model as ConvMAE);
      // float16 weights change the function; the others must match to float32 accuracy.
      expect(Math.abs(loss - ref) / ref).toBeLessThan(kind === 'fp16' ? 1e-2 : 1e-5);
    } finally {
      model.dispose();
      clearTape();
    }
  });

  it('infers the tiny architecture from shapes even though args.model names ConvMAE-B', () => {
    const ck = readCheckpoint(path.join(fx, 'pth', 'pretrain-tiny-normpix.checkpoint.pth'));
    expect((ck.extra.args as Record<string, unknown>).model).toMatch(/base/);
    const cfg = inferConfig(ck.stateDict);
    expect(cfg.embedDim).toEqual([16, 24, 32]);
    expect(cfg.depth).toEqual([1, 1, 2]);
    expect(cfg.mlpRatio).toEqual([2, 2, 2]);
    expect(cfg.numHeads).toBe(2);
    expect(cfg.decoderDim).toBe(16);
    expect(cfg.imgSize).toBe(224);
    expect(() => inferConfig(new Map([...ck.stateDict].filter(([k]) => !k.startsWith('blocks3.1'))))).toThrow(/--heads/);
    expect(inferConfig(new Map([...ck.stateDict].filter(([k]) => !k.startsWith('blocks3.1'))), { heads: 4, decoderHeads: 2 }).numHeads).toBe(4);
  });

  it('`convmae convert` writes every tensor with its dtype and the config, and the result reloads', () => {
    const dir = fs.mkdtempSync(path.join(scratch, 'convert-'));
    for (const kind of ['checkpoint', 'fp16']) {
      const out = path.join(dir, `${kind}.safetensors`);
      execFileSync(process.execPath, [cli, 'convert', path.join(fx, 'pth', `pretrain-tiny-normpix.${kind}.pth`), out], { encoding: 'utf8' });
      const src = readCheckpoint(path.join(fx, 'pth', `pretrain-tiny-normpix.${kind}.pth`)).stateDict;
      const { tensors, metadata } = readSafetensors(out);
      expect([...tensors.keys()].sort()).toEqual([...src.keys()].sort());
      for (const [k, r] of src) {
        expect(tensors.get(k)!.dtype).toBe(r.dtype);
        expect(Buffer.compare(Buffer.from(tensors.get(k)!.data), Buffer.from(r.data))).toBe(0);
      }
      expect(JSON.parse(metadata.config).embed_dim).toEqual([16, 24, 32]);
      const m = loadModel(out);
      m.dispose();
    }
    const bad = spawnSync(process.execPath, [cli, 'convert', path.join(fx, 'README.md'), path.join(dir, 'x.safetensors')], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/convmae: /);
  });

  it('ConvMAE-B has exactly the official state_dict keys and shapes, and saves and reloads', () => {
    const model = new ConvMAE(preset('base'));
    try {
      const named = model.namedTensors();
      expect(named.length).toBe(313);
      expect(named.reduce((s, [, t]) => s + t.numel, 0)).toBe(115_041_408);
      expect(model.parameters().reduce((s, t) => s + t.numel, 0)).toBe(114_790_528);
      const shapes = Object.fromEntries(named.map(([k, t]) => [k, t.shape]));
      expect(shapes['pos_embed']).toEqual([1, 196, 768]);
      expect(shapes['mask_token']).toEqual([1, 1, 512]);
      expect(shapes['decoder_pos_embed']).toEqual([1, 196, 512]);
      expect(shapes['patch_embed1.proj.weight']).toEqual([256, 3, 4, 4]);
      expect(shapes['patch_embed3.proj.weight']).toEqual([768, 384, 2, 2]);
      expect(shapes['patch_embed4.weight']).toEqual([768, 768]);
      expect(shapes['stage1_output_decode.weight']).toEqual([768, 256, 4, 4]);
      expect(shapes['stage2_output_decode.weight']).toEqual([768, 384, 2, 2]);
      expect(shapes['blocks1.1.attn.weight']).toEqual([256, 1, 5, 5]);
      expect(shapes['blocks2.0.mlp.fc1.weight']).toEqual([1536, 384, 1, 1]);
      expect(shapes['blocks3.10.attn.qkv.weight']).toEqual([2304, 768]);
      expect(shapes['decoder_blocks.7.mlp.fc2.weight']).toEqual([512, 2048]);
      expect(shapes['decoder_pred.weight']).toEqual([768, 512]);
      expect(Object.keys(shapes).slice(0, 3)).toEqual(['pos_embed', 'mask_token', 'decoder_pos_embed']);
      expect(named.map(([k]) => k).filter((k) => k.startsWith('blocks1.0.'))).toEqual([
        'blocks1.0.norm1.weight', 'blocks1.0.norm1.bias', 'blocks1.0.conv1.weight', 'blocks1.0.conv1.bias',
        'blocks1.0.conv2.weight', 'blocks1.0.conv2.bias', 'blocks1.0.attn.weight', 'blocks1.0.attn.bias',
        'blocks1.0.norm2.weight', 'blocks1.0.norm2.bias', 'blocks1.0.mlp.fc1.weight', 'blocks1.0.mlp.fc1.bias',
        'blocks1.0.mlp.fc2.weight', 'blocks1.0.mlp.fc2.bias']);
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-b-')), 'b.safetensors');
      saveModel(model, file);
      const back = readCheckpoint(file);
      expect([...back.stateDict.keys()]).toEqual(named.map(([k]) => k));
      const reloaded = loadModel(file);
      try {
        const a = model.namedTensors(), b = reloaded.namedTensors();
        expect(b.map(([k]) => k)).toEqual(a.map(([k]) => k));
        for (const i of [0, 5, 100, 312]) expect(Array.from(b[i][1].toFloat32Array())).toEqual(Array.from(a[i][1].toFloat32Array()));
      } finally {
        reloaded.dispose();
      }
      fs.rmSync(path.dirname(file), { recursive: true });
    } finally {
      model.dispose();
    }
  });

  it('refuses corrupt files and mismatched weights with clear errors', () => {
    const dir = fs.mkdtempSync(path.join(scratch, 'bad-'));
    const bad = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(bad, Buffer.from([1, 2, 3]));
    expect(() => loadModel(bad)).toThrow(/bad\.safetensors/);
    const model = new ConvMAE(preset('tiny', { imgSize: 224 }));
    const sd = weightsOnly(readCheckpoint(path.join(fx, 'pth', 'pretrain-tiny-normpix.state_dict.pth')).stateDict);
    sd.delete('norm.weight');
    sd.set('extra.weight', sd.get('norm.bias')!);
    expect(() => model.loadStateDict(sd)).toThrow(/missing keys: norm\.weight.*unexpected keys: extra\.weight/);
    const report = model.loadStateDict(sd, { strict: false });
    expect(report.missing).toEqual(['norm.weight']);
    model.dispose();
  });
});
