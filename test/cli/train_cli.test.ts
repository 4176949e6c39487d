// The training commands through the compiled CLI (`npx tsc -p tsconfig.json` first): --help of
// each, finetune from the official tiny .pth then eval of its best checkpoint (eval.json),
// a cached-feature linprobe, visualize (a PNG), and the clear errors of a corrupt --init, a
// missing data folder, a missing --init and a precision the device cannot run.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'dist', 'lib', 'cli', 'main.js');
const PTH = path.join(root, 'test', 'fixtures', 'pth', 'pretrain-tiny-normpix.checkpoint.pth');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-train-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function convmae(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: tmp });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const FAST = ['--workers', '0', '--device', 'cpu'];

beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'dist', 'lib', 'cli', 'commands', 'finetune.js'))) {
    throw new Error('dist/ lacks the training commands: run `npx tsc -p tsconfig.json` before these tests');
  }
});

describe('training CLI', () => {
  it.each([
    ['finetune', ['--data', '--model', '--img-size', '--batch-size', '--accum', '--epochs', '--steps', '--blr', '--lr', '--out', '--device',
      '--precision', '--seed', '--save-every', '--resume', '--init', '--layer-decay', '--drop-path', '--mixup', '--cutmix', '--smoothing', '--clip-grad'],
     ['(default: 0.0005)', '(default: 0.8)', '(default: 0.1)', '(default: 0.000001)']],
    ['linprobe', ['--data', '--model', '--img-size', '--batch-size', '--accum', '--epochs', '--steps', '--blr', '--lr', '--out', '--device',
      '--precision', '--seed', '--save-every', '--resume', '--init', '--global-pool', '--cache-features'], ['(default: 0.1)', '(default: runs/linprobe)']],
    ['eval', ['--init', '--data', '--batch-size', '--limit', '--out', '--device', '--precision'], ['(default: 64)']],
    ['visualize', ['--init', '--data', '--images', '--seed', '--out'], ['(default: 4)']],
  ])('%s --help lists its flags with defaults', (cmd, flags, defaults) => {
    const r = convmae(cmd, '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`usage: convmae ${cmd}`);
    for (const f of flags) expect(r.stdout, f).toMatch(new RegExp(`^  ${f}\\b`, 'm'));
    for (const d of defaults) expect(r.stdout).toContain(d);
  });

  it('finetune --init <official .pth>, then eval and visualize', () => {
    const out = path.join(tmp, 'ft');
    const ft = convmae('finetune', '--init', PTH, '--steps', '1', '--batch-size', '2', '--limit', '2', '--val-limit', '2', '--out', out, ...FAST);
    expect(ft.code, ft.stderr).toBe(0);
    expect(ft.stderr).toContain('re-initialised fc_norm.weight, fc_norm.bias, head.weight, head.bias');
    expect(ft.stdout).toMatch(/validation: top-1/);
    for (const f of ['best.safetensors', 'checkpoint-last.safetensors', 'metrics.jsonl', 'loss.png']) expect(fs.existsSync(path.join(out, f)), f).toBe(true);

    const ev = convmae('eval', '--init', path.join(out, 'best.safetensors'), '--limit', '3', '--out', out, '--device', 'cpu');
    expect(ev.code, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/top-1 [\d.]+% \(\d\/3\)\s+top-5 [\d.]+% \(\d\/3\)\s+loss [\d.]+/);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'eval.json'), 'utf8'));
    expect(j).toMatchObject({ count: 3, split: 'val', imgSize: 224, numClasses: 10, classifier: 'finetune' });
    for (const k of ['acc1', 'acc5', 'loss', 'correct1', 'correct5']) expect(typeof j[k], k).toBe('number');

    const vis = path.join(tmp, 'vis');
    const v = convmae('visualize', '--init', PTH, '--images', '2', '--seed', '3', '--out', vis, '--device', 'cpu');
    expect(v.code, v.stderr).toBe(0);
    const png = fs.readFileSync(path.join(vis, 'reconstructions.png'));
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  });

  it('linprobe with cached features', () => {
    const out = path.join(tmp, 'lp');
    const r = convmae('linprobe', '--model', 'tiny', '--img-size', '32', '--steps', '4', '--batch-size', '8', '--limit', '16', '--val-limit', '8',
      '--cache-features', '--out', out, ...FAST);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/caching the frozen features of 16 training and 8 validation images/);
    const rows = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.step)).toEqual([1, 2, 3, 4]);
    expect(rows.filter((x) => x.acc1 !== undefined).map((x) => x.step)).toEqual([2, 4]); // every epoch (2 steps)
  });

  it('gives clear errors: corrupt --init, missing data folder, missing --init', () => {
    const corrupt = path.join(tmp, 'corrupt.pth');
    fs.writeFileSync(corrupt, Buffer.from('this is not a checkpoint at all, just some bytes'.repeat(20)));
    const a = convmae('finetune', '--init', corrupt, '--out', path.join(tmp, 'x'), ...FAST);
    expect(a.code).not.toBe(0);
    expect(a.stderr).toContain(`cannot read --init ${corrupt}`);

    const missing = path.join(tmp, 'no-such-images');
    const b = convmae('finetune', '--data', missing, '--out', path.join(tmp, 'y'), ...FAST);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain(`'${missing}' is not synthetic, fashion-mnist or an existing image folder`);
    const b2 = convmae('linprobe', '--data', missing, '--out', path.join(tmp, 'y'), ...FAST);
    expect(b2.code).not.toBe(0);
    expect(b2.stderr).toContain(missing);

    const c = convmae('visualize', '--out', path.join(tmp, 'z'));
    expect(c.code).not.toBe(0);
    expect(c.stderr).toContain('--init <pretraining checkpoint> is required');

    const d = convmae('eval', '--init', PTH, '--limit', '2');
    expect(d.code).not.toBe(0);
    expect(d.stderr).toMatch(/no classifier head .* pretraining checkpoint/);

    const e = convmae('finetune', '--init', path.join(tmp, 'nowhere.safetensors'), '--out', path.join(tmp, 'w'), ...FAST);
    expect(e.code).not.toBe(0);
    expect(e.stderr).toContain('nowhere.safetensors: no such file');

    // bf16 mixed precision is a CUDA mode; an unknown precision names the choices.
    const f = convmae('pretrain', '--precision', 'bf16', '--steps', '1', '--out', path.join(tmp, 'v'), ...FAST);
    expect(f.code).not.toBe(0);
    expect(f.stderr).toContain('`precision` bf16 needs device cuda');
    const g = convmae('finetune', '--precision', 'fp8', '--steps', '1', '--out', path.join(tmp, 'u'), ...FAST);
    expect(g.code).not.toBe(0);
    expect(g.stderr).toMatch(/precision.*bf16.*float32/);
  });
});
