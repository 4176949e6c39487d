import { describe, expect, it } from 'vitest';

import { add, div, mul, scale, sub } from '../../lib/ops/elementwise';
import { matmul } from '../../lib/ops/matmul';
import { mean, sum } from '../../lib/ops/reduce';
import { tensor } from '../../lib/tensor/tensor';
import { tidy } from '../../lib/tensor/scope';
import type { DType } from '../../lib/tensor/dtype';
import { expectClose } from '../helpers/close';
import { devices } from '../helpers/devices';
import { refGemm } from '../helpers/gemm_ref';
import { randn } from '../helpers/gradcheck';

const floatTypes = (device: string): DType[] => (device === 'cpu' ? ['float32', 'float64'] : ['float32']);

describe.each(devices)('basic ops on %s', (device) => {
  // 2100 x 20 x 600: on the CPU, tasks of many packed row blocks, a K far past the micro-kernel's
  // unrolling and a partial 16-column panel (native/cpu/gemm.cc).
  it.each([[1, 1, 1], [3, 5, 7], [17, 33, 9], [64, 48, 130], [5, 100, 1], [2100, 20, 600]])('gemm %i x %i x %i in all transpose forms with bias', (m, n, k) => {
    for (const dtype of floatTypes(device)) {
      for (const ta of [false, true]) for (const tb of [false, true]) {
        tidy(() => {
          const A = randn(m * k, m + n + k), B = randn(k * n, 3 * m + k), bias = randn(n, 5);
          const a = tensor(A, ta ? [k, m] : [m, k], { dtype, device });
          const b = tensor(B, tb ? [n, k] : [k, n], { dtype, device });
          const bt = tensor(bias, [n], { dtype, device });
          const c = matmul(a, b, { transA: ta, transB: tb, bias: bt });
          const ref = refGemm(A, B, m, n, k, ta, tb).map((v, i) => v + bias[i % n]);
          const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : { atol: 1e-4, rtol: 1e-4 };
          expectClose(c.toTypedArray() as Float32Array, ref, tol, `gemm ${dtype} ta=${ta} tb=${tb}`);
        });
      }
    }
  });

  it('batched gemm with a shared right operand and beta accumulation', () => {
    tidy(() => {
      const A = randn(3 * 4 * 5, 1), B = randn(5 * 6, 2);
      const a = tensor(A, [3, 4, 5], { dtype: 'float64', device: 'cpu' });
      const b = tensor(B, [5, 6], { dtype: 'float64', device: 'cpu' });
      const c = matmul(a, b);
      matmul(a, b, { out: c, beta: 1, alpha: 2 });
      const ref = new Float64Array(72);
      for (let z = 0; z < 3; z++) ref.set(refGemm(A.subarray(z * 20, z * 20 + 20), B, 4, 6, 5, false, false).map((v) => 3 * v), z * 24);
      expectClose(c.toTypedArray() as Float64Array, ref, { atol: 1e-12, rtol: 1e-12 }, 'batched gemm');
    });
  });

  it('elementwise ops with trailing-dim broadcast, scale, sum and mean', () => {
    for (const dtype of floatTypes(device)) {
      tidy(() => {
        const A = randn(24, 11), B = randn(4, 12);
        const a = tensor(A, [2, 3, 4], { dtype, device });
        const b = tensor(B.map((v) => v + 3), [4], { dtype, device });
        const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : { atol: 1e-5, rtol: 1e-5 };
        const bb = (i: number) => B[i % 4] + 3;
        expectClose(add(a, b).toTypedArray() as Float32Array, A.map((v, i) => v + bb(i)), tol, 'add');
        expectClose(sub(a, b).toTypedArray() as Float32Array, A.map((v, i) => v - bb(i)), tol, 'sub');
        expectClose(mul(a, b).toTypedArray() as Float32Array, A.map((v, i) => v * bb(i)), tol, 'mul');
        expectClose(div(a, b).toTypedArray() as Float32Array, A.map((v, i) => v / bb(i)), tol, 'div');
        expectClose(scale(a, 2, -1).toTypedArray() as Float32Array, A.map((v) => 2 * v - 1), tol, 'scale');
        const total = A.reduce((x, y) => x + y, 0);
        expect(sum(a).item()).toBeCloseTo(total, 4);
        expect(mean(a).item()).toBeCloseTo(total / 24, 5);
        const cols = new Float64Array(12);
        for (let i = 0; i < 24; i++) cols[i % 12] += A[i];
        expectClose(sum(a, 0).toTypedArray() as Float32Array, cols, tol, 'sum axis 0');
        const rows = new Float64Array(6);
        for (let i = 0; i < 24; i++) rows[Math.floor(i / 4)] += A[i] / 4;
        expectClose(mean(a, -1).toTypedArray() as Float32Array, rows, tol, 'mean last axis');
      });
    }
  });
});
