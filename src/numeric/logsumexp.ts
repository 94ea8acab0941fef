/** Log-sum-exp and softmax over rows of row-major n×k arrays. −Infinity entries mean weight 0. */

/** log Σ_i exp(a[off+i]) for i < k, stable; −Infinity if every entry is −Infinity. */
export function logSumExp(a: ArrayLike<number>, off: number, k: number): number {
  let m = -Infinity;
  for (let i = 0; i < k; i++) if (a[off + i] > m) m = a[off + i];
  if (m === -Infinity) return -Infinity;
  if (m === Infinity) return Infinity;
  let s = 0;
  for (let i = 0; i < k; i++) s += Math.exp(a[off + i] - m);
  return m + Math.log(s);
}

/**
 * Replace each row of A (n×k) by its softmax in place and return Σ_rows logSumExp(row).
 * Rows that are all −Infinity are left as zeros and contribute −Infinity.
 */
export function softmaxRowsInPlace(A: Float64Array, n: number, k: number): number {
  let total = 0;
  for (let t = 0; t < n; t++) {
    const off = t * k;
    let m = -Infinity;
    for (let i = 0; i < k; i++) if (A[off + i] > m) m = A[off + i];
    if (m === -Infinity) {
      for (let i = 0; i < k; i++) A[off + i] = 0;
      total = -Infinity;
      continue;
    }
    let s = 0;
    for (let i = 0; i < k; i++) {
      const e = Math.exp(A[off + i] - m);
      A[off + i] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let i = 0; i < k; i++) A[off + i] *= inv;
    total += m + Math.log(s);
  }
  return total;
}
