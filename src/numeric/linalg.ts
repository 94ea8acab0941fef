/**
 * Small dense linear algebra on row-major `Float64Array`s.
 *
 * Hand-written because these run inside every EM iteration on p×p systems with p ≤ ~20:
 * general matrix libraries store rows as JS arrays and cost 20–30× more here
 * (see docs/dependencies.md, "weighted least squares, p = 4: 3 ms vs 78 ms").
 */

/**
 * In-place Cholesky factorisation A = L Lᵀ of a symmetric p×p matrix (lower triangle used).
 * Returns false (A left partially overwritten) if A is not numerically positive definite.
 */
export function choleskyInPlace(A: Float64Array, p: number): boolean {
  for (let j = 0; j < p; j++) {
    let s = A[j * p + j];
    for (let k = 0; k < j; k++) s -= A[j * p + k] * A[j * p + k];
    if (!(s > 0) || !Number.isFinite(s)) return false;
    const ljj = Math.sqrt(s);
    A[j * p + j] = ljj;
    for (let i = j + 1; i < p; i++) {
      let t = A[i * p + j];
      for (let k = 0; k < j; k++) t -= A[i * p + k] * A[j * p + k];
      A[i * p + j] = t / ljj;
    }
  }
  return true;
}

/** Solve L Lᵀ x = b in place (b becomes x) given the factor from `choleskyInPlace`. */
export function choleskySolveInPlace(L: Float64Array, p: number, b: Float64Array): void {
  for (let i = 0; i < p; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * p + k] * b[k];
    b[i] = s / L[i * p + i];
  }
  for (let i = p - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < p; k++) s -= L[k * p + i] * b[k];
    b[i] = s / L[i * p + i];
  }
}

/**
 * Solve the symmetric positive (semi-)definite system A x = b robustly: Cholesky first; if that
 * fails, add a ridge λ·mean(diag)·I with λ = 1e-12, 1e-10, …, 1e-2 until it succeeds.
 * A and b are not modified; x is written to `out`. `work` must have length ≥ p*p.
 * Returns the ridge factor used (0 when none was needed), or -1 when even the largest ridge failed.
 */
export function solveSPD(A: Float64Array, b: Float64Array, p: number, out: Float64Array, work: Float64Array): number {
  let scale = 0;
  for (let i = 0; i < p; i++) scale += Math.abs(A[i * p + i]);
  scale = scale > 0 ? scale / p : 1;
  let ridge = 0;
  for (let attempt = 0; attempt < 7; attempt++) {
    for (let i = 0; i < p * p; i++) work[i] = A[i];
    if (ridge > 0) for (let i = 0; i < p; i++) work[i * p + i] += ridge * scale;
    if (choleskyInPlace(work, p)) {
      for (let i = 0; i < p; i++) out[i] = b[i];
      choleskySolveInPlace(work, p, out);
      return ridge;
    }
    ridge = ridge === 0 ? 1e-12 : ridge * 100;
  }
  return -1;
}

/**
 * Weighted least squares with an intercept: minimise Σ_t w_t (y_t − b − aᵀx_t)².
 * X is row-major n×d; weights are read from W at W[t*stride + col]. Writes [b, a_1..a_d] to `coef`.
 * `gram` must have length ≥ (d+1)², `rhs` ≥ d+1, `work` ≥ (d+1)².
 * Returns the ridge used (see `solveSPD`), or -1 if the system could not be solved.
 */
export function weightedLeastSquares(
  X: Float64Array, y: Float64Array, n: number, d: number,
  W: Float64Array, stride: number, col: number,
  coef: Float64Array, gram: Float64Array, rhs: Float64Array, work: Float64Array,
): number {
  const p = d + 1;
  gram.fill(0, 0, p * p);
  rhs.fill(0, 0, p);
  if (d === 1) {
    // unrolled d = 1 (the papers' setting): 5 accumulators, no inner loops
    let s0 = 0, s1 = 0, s2 = 0, r0 = 0, r1 = 0;
    for (let t = 0; t < n; t++) {
      const w = W[t * stride + col];
      const x = X[t];
      const wx = w * x;
      s0 += w; s1 += wx; s2 += wx * x;
      r0 += w * y[t]; r1 += wx * y[t];
    }
    gram[0] = s0; gram[1] = s1; gram[2] = s1; gram[3] = s2;
    rhs[0] = r0; rhs[1] = r1;
  } else {
    for (let t = 0; t < n; t++) {
      const w = W[t * stride + col];
      if (w === 0) continue;
      const off = t * d;
      const wy = w * y[t];
      gram[0] += w;
      rhs[0] += wy;
      for (let u = 0; u < d; u++) {
        const wxu = w * X[off + u];
        gram[(u + 1) * p] += wxu;
        rhs[u + 1] += wxu * y[t];
        for (let v = 0; v <= u; v++) gram[(u + 1) * p + v + 1] += wxu * X[off + v];
      }
    }
    symmetrizeFromLower(gram, p);
  }
  return solveSPD(gram, rhs, p, coef, work);
}

/** Copy the lower triangle of the p×p row-major A onto its upper triangle. */
export function symmetrizeFromLower(A: Float64Array, p: number): void {
  for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) A[i * p + j] = A[j * p + i];
}
