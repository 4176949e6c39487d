// Memory-access profile of the CUDA kernels, from the CPU emulator's profile build (emu/access_profile.h):
// each op case of bench/op_timings.ts (ConvMAE-B shapes, at a small batch) runs forward and
// backward once while every load and store of the kernels is recorded, grouped into warp-wide
// requests by code site and scored as the hardware serves them: shared-memory wavefronts (bank
// conflicts) and global-memory sectors (coalescing), each against the fewest the same bytes could
// take. It finds layout mistakes without a GPU; it says nothing of time (`npm run profile:emu`).
//   node dist/bench/access_profile.js [--only REGEX] [--batch N] [--top N]
// needs CONVMAE_ADDON=<build-emu-prof/Release/convmae.node>; the kernel families come from
// CONVMAE_KERNELS as everywhere. --only defaults to every case but the 8192³ product and AdamW
// over all parameters (slow under instrumentation); --batch defaults to 1; --top (default 8) is
// how many sites each case lists, the most excess first.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { clearTape } from '../lib/autograd/tape';
import { kernels } from '../lib/backends';
import { EmuAccessSite, native } from '../lib/binding';
import { buildCase, opCases } from './op_timings';

/** The package's root (this file runs as bench/*.ts under vitest and as dist/bench/*.js). */
const ROOT = [path.resolve(__dirname, '..'), path.resolve(__dirname, '..', '..')].find((d) => fs.existsSync(path.join(d, 'package.json')))!;

export interface Located extends EmuAccessSite {
  /** The access's line (innermost source location under cuda/ or emu/), and the kernel launched. */
  where: string;
  kernel: string;
}

/** Each offset's source locations, innermost first (addr2line -i follows the inlining). */
function locations(module: string, offsets: number[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  const r = spawnSync('addr2line', ['-e', module, '-a', '-i', ...offsets.map((o) => `0x${o.toString(16)}`)], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`addr2line failed: ${r.stderr || r.error}`);
  let current: string[] = [];
  for (const line of r.stdout.split('\n')) {
    if (/^0x[0-9a-f]+$/.test(line)) {
      current = [];
      out.set(parseInt(line, 16), current);
    } else if (line) current.push(line.replace(/ \(discriminator \d+\)$/, ''));
  }
  return out;
}

const sources = new Map<string, string>();
/** The names of a source file's __global__ functions. */
function kernelNames(file: string): string[] {
  if (!sources.has(file)) sources.set(file, fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
  return [...sources.get(file)!.matchAll(/__global__\s+(?:void\s+)?(?:__launch_bounds__\s*\([^)]*\)\s*)?(?:void\s+)?(\w+)\s*\(/g)].map((m) => m[1]);
}
/**
 * The kernel a launch ("file.cu:line expr") runs: expr when it names a kernel of the file, else
 * (a kernel pointer variable) the kernel the nearest line above the launch names.
 */
function launchedKernel(launch: string): string {
  const m = /^(.+):(\d+) (.+)$/.exec(launch);
  if (!m) return '?';
  const file = path.join(ROOT, m[1].startsWith('selftest') ? 'emu' : 'cuda', m[1]);
  const names = kernelNames(file);
  const expr = m[3].replace(/^.*::/, '');
  if (names.includes(expr)) return expr;
  const lines = sources.get(file)!.split('\n').slice(0, Number(m[2]) - 1).reverse();
  for (const line of lines) {
    const named = names.find((n) => new RegExp(`\\b${n}\\b`).test(line));
    if (named) return named;
  }
  return m[3];
}

/** Each site with its source line and kernel (addr2line on the module). */
export function locate(sites: EmuAccessSite[]): Located[] {
  const byModule = new Map<string, EmuAccessSite[]>();
  for (const s of sites) {
    if (!byModule.has(s.module)) byModule.set(s.module, []);
    byModule.get(s.module)!.push(s);
  }
  const out: Located[] = [];
  for (const [module, list] of byModule) {
    const locs = locations(module, list.map((s) => s.offset));
    for (const s of list) {
      const ours = (locs.get(s.offset) ?? []).filter((l) => /\/(cuda|emu)\/[^/]+:\d+$/.test(l));
      const inner = ours[0];
      out.push({
        ...s,
        where: inner ? path.relative(ROOT, inner) : `${path.basename(module)}+0x${s.offset.toString(16)}`,
        kernel: launchedKernel(s.launch),
      });
    }
  }
  return out;
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

/** Sites on the same line of the same kernel (copies of an unrolled loop, say) summed into one. */
function merge(sites: Located[]): Located[] {
  const by = new Map<string, Located>();
  for (const s of sites) {
    const key = `${s.kernel}|${s.where}|${s.space}|${s.store}`;
    const m = by.get(key);
    if (!m) by.set(key, { ...s });
    else for (const f of ['requests', 'laneAccesses', 'bytes', 'transactions', 'ideal'] as const) m[f] += s[f];
  }
  return [...by.values()];
}

/** The case's table: totals per space, then the sites with the most excess. */
function report(name: string, sites: Located[], top: number): string {
  const lines = [`\n${name}`];
  for (const space of ['shared', 'global'] as const) {
    const of = sites.filter((s) => s.space === space);
    const t = of.reduce((a, s) => a + s.transactions, 0), ideal = of.reduce((a, s) => a + s.ideal, 0);
    const requests = of.reduce((a, s) => a + s.requests, 0);
    if (of.length) lines.push(`  ${space}: ${t} ${space === 'shared' ? 'wavefronts' : 'sectors'} against ${ideal} ideal (${pct((t - ideal) / t)} excess) in ${requests} requests`);
  }
  const worst = sites.filter((s) => s.transactions > s.ideal).sort((a, b) => (b.transactions - b.ideal) - (a.transactions - a.ideal)).slice(0, top);
  if (!worst.length) {
    lines.push('  no site above its ideal');
    return lines.join('\n');
  }
  lines.push(`  ${['kernel', 'site', 'access', 'requests', 'per request', 'ideal', 'bytes/lane'].join(' | ')}`);
  for (const s of worst) {
    lines.push(`  ${[s.kernel, s.where, `${s.space} ${s.store ? 'store' : 'load'}`, s.requests, (s.transactions / s.requests).toFixed(2),
      (s.ideal / s.requests).toFixed(2), (s.bytes / s.laneAccesses).toFixed(0)].join(' | ')}`);
  }
  return lines.join('\n');
}

function main(): void {
  const arg = (name: string) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1] : undefined; };
  if (!native.emuAccessProfile) {
    console.error('access_profile: this addon is not the emulator\'s profile build; run `npm run profile:emu`, or build it with ' +
      'CONVMAE_CUDA_EMULATE=1 CONVMAE_EMU_PROFILE=1 npx cmake-js compile -O build-emu-prof and set CONVMAE_ADDON=build-emu-prof/Release/convmae.node');
    process.exit(2);
  }
  const only = new RegExp(arg('only') ?? '^(?!gemm square|adamw)');
  const batch = Number(arg('batch') ?? 1), top = Number(arg('top') ?? 8);
  const k = kernels();
  console.log(`memory-access profile on the CUDA emulator, ConvMAE-B shapes at batch ${batch}, bf16, kernels gemm ${k.gemm}, ` +
    `attention ${k.attention}, layernorm ${k.layernorm}, dwconv ${k.dwconv}; per warp-wide request, forward and backward`);
  for (const c of opCases(batch).filter((x) => only.test(x.name))) {
    const built = buildCase(c, 'cuda', 'bfloat16');
    let sites: EmuAccessSite[];
    native.emuAccessProfile('start');
    try {
      (built.fwdBwd ?? built.fwd)();
    } finally {
      sites = native.emuAccessProfile('stop') ?? [];
      built.dispose();
      clearTape();
    }
    console.log(report(c.name, merge(locate(sites)), top));
  }
}

if (require.main === module) main();
