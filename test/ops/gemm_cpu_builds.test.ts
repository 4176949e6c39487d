// The CPU gemm's portable micro-kernel (16-byte vectors: what arm64 runs, and x86-64 without AVX2)
// is held to the same reference as the AVX2/FMA one this process runs where the CPU has it: a
// child process forced onto it with CONVMAE_CPU_SIMD=0 (read once per process) computes the
// products, in every transpose form, both float dtypes.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

import { expectClose } from '../helpers/close';
import { refGemm } from '../helpers/gemm_ref';
import { randn } from '../helpers/gradcheck';

const root = path.resolve(__dirname, '..', '..');
const [M, N, K] = [300, 37, 600];

const child = `
const { backends, tensor, tidy } = require(${JSON.stringify(path.join(root, 'dist/lib/index.js'))});
const { matmul } = require(${JSON.stringify(path.join(root, 'dist/lib/ops/matmul.js'))});
const { A, B, M, N, K } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = { build: backends().cpu.gemm };
for (const dtype of ['float32', 'float64'])
  for (const ta of [false, true]) for (const tb of [false, true]) tidy(() => {
    const a = tensor(Float64Array.from(A), ta ? [K, M] : [M, K], { dtype });
    const b = tensor(Float64Array.from(B), tb ? [N, K] : [K, N], { dtype });
    out[dtype + ta + tb] = Array.from(matmul(a, b, { transA: ta, transB: tb }).toTypedArray());
  });
process.stdout.write(JSON.stringify(out));
`;

describe('CPU gemm builds', () => {
  it('the portable micro-kernel (CONVMAE_CPU_SIMD=0) matches the float64 reference in every form', () => {
    const A = randn(M * K, 11), B = randn(K * N, 12);
    const r = spawnSync(process.execPath, ['-e', child], {
      input: JSON.stringify({ A: Array.from(A), B: Array.from(B), M, N, K }),
      encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, CONVMAE_CPU_SIMD: '0' },
    });
    expect(r.status, r.stderr).toBe(0);
    const { build, ...out } = JSON.parse(r.stdout) as Record<string, number[]> & { build: string };
    expect(build, 'the child runs the portable build').toBe('portable');
    const A32 = A.map(Math.fround), B32 = B.map(Math.fround); // the float32 inputs, exactly
    for (const ta of [false, true]) for (const tb of [false, true]) {
      expectClose(Float64Array.from(out[`float64${ta}${tb}`]), refGemm(A, B, M, N, K, ta, tb), { atol: 1e-11, rtol: 1e-11 }, `float64 ta=${ta} tb=${tb}`);
      expectClose(Float64Array.from(out[`float32${ta}${tb}`]), refGemm(A32, B32, M, N, K, ta, tb), { atol: 1e-4, rtol: 1e-4 }, `float32 ta=${ta} tb=${tb}`);
    }
  });
});
