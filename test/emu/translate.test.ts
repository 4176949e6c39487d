// emu/translate.js, which rewrites the CUDA sources for the emulated build (emu/): every launch
// form the package's kernels use, extern and static __shared__ arrays, and the line count kept
// for messages.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');

function translate(src: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convmae-emu-'));
  try {
    fs.writeFileSync(path.join(dir, 'k.cu'), src);
    execFileSync(process.execPath, [path.join(root, 'emu', 'translate.js'), path.join(dir, 'k.cu'), path.join(dir, 'k.cc')], { stdio: 'pipe' });
    return fs.readFileSync(path.join(dir, 'k.cc'), 'utf8');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const call = (k: string) => `[&](auto&&... a) { ${k}(a...); }`;

describe('emu/translate.js', () => {
  it('rewrites a launch of a template-id with its address as the key and names its file, line and kernel', () => {
    const out = translate('  kernel_a<T, decltype(v)::value><<<grid, 256, smem, cuda::stream()>>>(p.x->as<T>(), n);\n');
    expect(out).toContain(`::emu::launch(::emu::Config(grid, 256, smem, cuda::stream()), ::emu::key(kernel_a<T, decltype(v)::value>), "k.cu:1 kernel_a", ${call('kernel_a<T, decltype(v)::value>')}, p.x->as<T>(), n);`);
  });

  it('keys a kernel pointer variable and a plain kernel, and leaves a deduced template name without a key', () => {
    const src = 'template <typename T>\n__global__ void __launch_bounds__(256) deduced(T* y, int n) {}\n__global__ void plain(float* x) {}\n' +
      'auto kernel = pick ? k1<T> : k2<T>;\nkernel<<<g, b>>>(x);\nif (n % 8 == 0) deduced<<<g, b, 0, s>>>(y, n);\nplain<<<1, 32>>>(x);\n';
    const out = translate(src);
    expect(out).toContain(`::emu::launch(::emu::Config(g, b), ::emu::key(kernel), "k.cu:5 kernel", ${call('kernel')}, x);`);
    expect(out).toContain(`if (n % 8 == 0) ::emu::launch(::emu::Config(g, b, 0, s), nullptr, "k.cu:6 deduced", ${call('deduced')}, y, n);`);
    expect(out).toContain(`::emu::launch(::emu::Config(1, 32), ::emu::key(plain), "k.cu:7 plain", ${call('plain')}, x);`);
  });

  it('keeps return statements, argument-less launches and the line count', () => {
    const src = 'void f() {\n  return k<<<cuda::grid_for(n, 256),\n    256>>>(\n    a, b);\n}\nvoid g() { probe<<<1, 1>>>(); }\n';
    const out = translate(src);
    expect(out).toContain(`return ::emu::launch(::emu::Config(cuda::grid_for(n, 256),\n    256), ::emu::key(k), "k.cu:2 k", ${call('k')}, a, b)`);
    expect(out).toContain(`::emu::launch(::emu::Config(1, 1), ::emu::key(probe), "k.cu:6 probe", ${call('probe')});`);
    expect(out.split('\n')[0]).toMatch(/^#line 1 ".*k\.cu"$/);
    expect(out.split('\n').length).toBe(src.split('\n').length + 1);
  });

  it('turns extern __shared__ arrays into pointers to the dynamic shared memory', () => {
    const out = translate('  extern __shared__ __align__(128) unsigned char smem_raw[];\n  extern __shared__ float sm[];\n');
    expect(out).toContain('unsigned char* smem_raw = reinterpret_cast<unsigned char*>(::emu::dynamic_smem());');
    expect(out).toContain('float* sm = reinterpret_cast<float*>(::emu::dynamic_smem());');
  });

  it('gives static __shared__ arrays storage of their own behind ::emu::opaque, keeping the line count', () => {
    const src = '  __shared__ __align__(16) float acc[2][F ? kMax : 1];\n  __shared__ double sa[kThreads], sb[kThreads];\n  __shared__ int64_t win[CPB * W];\n';
    const out = translate(src);
    expect(out).toContain('static __align__(16) float acc_storage[2][F ? kMax : 1]; auto& acc = *::emu::opaque(&acc_storage);');
    expect(out).toContain('static double sa_storage[kThreads]; auto& sa = *::emu::opaque(&sa_storage); static double sb_storage[kThreads]; auto& sb = *::emu::opaque(&sb_storage);');
    expect(out).toContain('static int64_t win_storage[CPB * W]; auto& win = *::emu::opaque(&win_storage);');
    expect(out.split('\n').length).toBe(src.split('\n').length + 1);
  });

  it('fails on a launch it cannot parse', () => {
    expect(() => translate('k<<<g, b>>> ;\n')).toThrow(/expected the launch's arguments/);
  });
});
