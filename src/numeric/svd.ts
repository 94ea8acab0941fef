/**
 * Singular value decomposition of a small dense m×p matrix (m ≥ p) by the one-sided Jacobi method
 * (Hestenes 1958; Demmel & Veselić 1992): plane rotations orthogonalise the columns of A in place,
 * so A·V = U·Σ with the singular values as the final column norms. It works on A itself (not the
 * Gram matrix AᵀA, which would square the condition number), so small singular values keep high
 * relative accuracy — what a rank test needs.
 */

export interface SVDResult {
  /** Singular values, descending. */
  values: Float64Array;
  /** Right singular vectors: column j (entries V[i·p + j]) belongs to values[j]. */
  V: Float64Array;
  /** Jacobi sweeps used. */
  sweeps: number;
}

/**
 * SVD of A given column-major (column j is A[j·m .. j·m + m)); A is not modified.
 * Stops when every pair of columns is orthogonal to within `tol` (relative), or after maxSweeps.
 */
export function jacobiSVD(A: Float64Array, m: number, p: number, options: { tol?: number; maxSweeps?: number } = {}): SVDResult {
  const tol = options.tol ?? 1e-15;
  const maxSweeps = options.maxSweeps ?? 60;
  const U = A.slice(0, m * p);
  const V = new Float64Array(p * p);
  for (let j = 0; j < p; j++) V[j * p + j] = 1;
  let sweeps = 0;
  for (; sweeps < maxSweeps; sweeps++) {
    let rotated = false;
    for (let i = 0; i < p - 1; i++) {
      for (let j = i + 1; j < p; j++) {
        const oi = i * m;
        const oj = j * m;
        let alpha = 0, beta = 0, gamma = 0;
        for (let r = 0; r < m; r++) {
          const a = U[oi + r];
          const b = U[oj + r];
          alpha += a * a;
          beta += b * b;
          gamma += a * b;
        }
        if (gamma === 0 || Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        // rotation that zeroes the (i, j) entry of the 2×2 Gram matrix [[α, γ], [γ, β]]
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let r = 0; r < m; r++) {
          const a = U[oi + r];
          const b = U[oj + r];
          U[oi + r] = c * a - s * b;
          U[oj + r] = s * a + c * b;
        }
        for (let r = 0; r < p; r++) {
          const a = V[r * p + i];
          const b = V[r * p + j];
          V[r * p + i] = c * a - s * b;
          V[r * p + j] = s * a + c * b;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    let s = 0;
    for (let r = 0; r < m; r++) s += U[j * m + r] * U[j * m + r];
    norms[j] = Math.sqrt(s);
  }
  const order = Array.from({ length: p }, (_, j) => j).sort((a, b) => norms[b] - norms[a]);
  const values = new Float64Array(p);
  const Vs = new Float64Array(p * p);
  order.forEach((src, dst) => {
    values[dst] = norms[src];
    for (let r = 0; r < p; r++) Vs[r * p + dst] = V[r * p + src];
  });
  return { values, V: Vs, sweeps };
}
