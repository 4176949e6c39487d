// The plain triple loop in double that the gemm tests compare with: c = op(a)·op(b), op(a) m x k
// (a stored k x m when ta), op(b) k x n (b stored n x k when tb).
export function refGemm(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number, ta: boolean, tb: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
    c[i * n + j] = s;
  }
  return c;
}
