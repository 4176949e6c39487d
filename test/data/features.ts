// Hand-made image features and a ridge-regression probe (test helper for learnability checks).

import type { RawImage } from '../../lib/data/types';

/** Orientation histogram, edge density and spatial spread of edges of an RGB image. */
export function handFeatures(img: RawImage): number[] {
  const { width: W, height: H, data } = img;
  const g = new Float64Array(W * H);
  for (let i = 0; i < W * H; i++) g[i] = (data[3 * i] + data[3 * i + 1] + data[3 * i + 2]) / 765;
  const bins = new Array(8).fill(0);
  const cells = new Array(16).fill(0);
  let total = 0;
  let strong = 0;
  let mags: number[] = [];
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      const gx = g[y * W + x + 1] - g[y * W + x - 1];
      const gy = g[(y + 1) * W + x] - g[(y - 1) * W + x];
      const m = Math.hypot(gx, gy);
      mags.push(m);
      let th = Math.atan2(gy, gx);
      if (th < 0) th += Math.PI;
      bins[Math.min(7, Math.floor((th / Math.PI) * 8))] += m;
      cells[Math.floor((y * 4) / H) * 4 + Math.floor((x * 4) / W)] += m;
      total += m;
    }
  }
  const maxM = mags.reduce((a, b) => Math.max(a, b), 0);
  for (const m of mags) if (m > 0.3 * maxM) strong++;
  mags = [];
  const hist = bins.map((b) => b / (total || 1));
  const cm = cells.reduce((a, b) => a + b, 0) / 16;
  const cv = Math.sqrt(cells.reduce((a, b) => a + (b - cm) ** 2, 0) / 16) / (cm || 1);
  const sorted = [...hist].sort((a, b) => b - a);
  return [...hist, sorted[0], sorted[0] + sorted[1], strong / ((W - 2) * (H - 2)), total / ((W - 2) * (H - 2)) / (maxM || 1), cv, maxM];
}

/** Ridge regression on one-hot targets; returns a predictor. */
export function fitRidge(X: number[][], y: number[], classes: number, lambda = 1e-3): (x: number[]) => number {
  const d = X[0].length + 1;
  const mean = new Array(d - 1).fill(0);
  const sd = new Array(d - 1).fill(0);
  for (const x of X) x.forEach((v, j) => { mean[j] += v / X.length; });
  for (const x of X) x.forEach((v, j) => { sd[j] += (v - mean[j]) ** 2 / X.length; });
  const norm = (x: number[]): number[] => [...x.map((v, j) => (v - mean[j]) / (Math.sqrt(sd[j]) || 1)), 1];
  const Z = X.map(norm);
  const A = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? lambda * Z.length : 0)));
  const B = Array.from({ length: d }, () => new Array(classes).fill(0));
  Z.forEach((z, n) => {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) A[i][j] += z[i] * z[j];
      B[i][y[n]] += z[i];
    }
  });
  // Gauss-Jordan solve A W = B.
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    [B[c], B[p]] = [B[p], B[c]];
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = A[r][c] / A[c][c];
      for (let k = c; k < d; k++) A[r][k] -= f * A[c][k];
      for (let k = 0; k < classes; k++) B[r][k] -= f * B[c][k];
    }
  }
  const Wt = B.map((row, i) => row.map((v) => v / A[i][i]));
  return (x: number[]) => {
    const z = norm(x);
    let best = 0;
    let bestV = -Infinity;
    for (let k = 0; k < classes; k++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += z[i] * Wt[i][k];
      if (s > bestV) { bestV = s; best = k; }
    }
    return best;
  };
}
