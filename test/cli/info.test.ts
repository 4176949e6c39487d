import { execFileSync, spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

import { formatBackends, backends } from '../../lib/backends';

const root = path.resolve(__dirname, '..', '..');

describe('convmae info', () => {
  it('reports a usable cpu backend and the cuda backend state', () => {
    const b = backends();
    expect(b.cpu.usable).toBe(true);
    expect(['avx2+fma', 'portable']).toContain(b.cpu.gemm);
    expect(typeof b.cuda.compiled).toBe('boolean');
    expect(typeof b.cuda.wgmma).toBe('boolean');
    if (!b.cuda.usable) expect(b.cuda.wgmma).toBe(false);
    if (b.cuda.usable) expect(b.cuda.multiprocessors).toBeGreaterThan(0);
    else expect(b.cuda.multiprocessors).toBe(0);
    const text = formatBackends(b);
    expect(text).toMatch(/cpu: +compiled yes, usable yes, \d+ threads, gemm (avx2\+fma|portable)/);
    expect(text).toMatch(/cuda: compiled (yes|no)/);
  });

  it('runs through the compiled CLI', () => {
    const out = execFileSync(process.execPath, [path.join(root, 'dist/lib/cli/main.js'), 'info', '--json'], { encoding: 'utf8' });
    const j = JSON.parse(out);
    expect(j.cpu.usable).toBe(true);
    const help = execFileSync(process.execPath, [path.join(root, 'dist/lib/cli/main.js'), '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/info/);
  });
});

describe('loading the addon', () => {
  it('a missing binary gives one message saying what was tried and how to fix it', () => {
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(path.join(root, 'dist/lib/index.js'))})`], {
      encoding: 'utf8', env: { ...process.env, CONVMAE_ADDON: '/nonexistent/convmae.node' },
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/could not load the native addon/);
    expect(r.stderr).toMatch(/tried: \/nonexistent\/convmae\.node/);
    expect(r.stderr).toMatch(/fix: build it with/);
  });
});
