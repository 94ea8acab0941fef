/**
 * The BHHH matrix (Berndt–Hall–Hall–Hausman; outer product of the per-row scores), an estimate of
 * the Fisher information used by the EM finish as its metric (finish.ts) and by the standard
 * errors (inference.ts).
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { choleskyInPlace } from '../numeric/linalg.js';
import type { EMWorkspace } from './em-step.js';

/**
 * Σ_t g_t g_tᵀ (lower triangle of a p×p row-major matrix) of the per-row scores at θ, from the
 * posteriors in ws.R; undefined when a family has no `rowGradQ`. By blocks of rows: the families
 * write a block's per-row scores, the block is transposed into contiguous columns and every entry
 * is a dot product of two columns (long inner loops; a per-row p×p update is 3× slower), with no
 * n×p arrays allocated.
 */
export function scoreOuterProduct(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace): Float64Array | undefined {
  const { gate, expert } = model;
  if (!gate.rowGradQ || !expert.rowGradQ) return undefined;
  const n = data.n;
  const pg = gate.nParams;
  const pe = expert.nParams;
  const p = pg + pe;
  const info = new Float64Array(p * p);
  const BLOCK = 512;
  const { X, y } = data;
  const d = data.d;
  const k = model.k;
  const G = new Float64Array(BLOCK * pg);
  const E = new Float64Array(BLOCK * pe);
  const cols = new Float64Array(p * BLOCK);
  const thetaGate = theta.subarray(0, pg);
  const thetaExpert = theta.subarray(pg);
  for (let t0 = 0; t0 < n; t0 += BLOCK) {
    const len = Math.min(BLOCK, n - t0);
    const Xb = X.subarray(t0 * d, (t0 + len) * d);
    const Rb = ws.R.subarray(t0 * k, (t0 + len) * k);
    gate.rowGradQ(thetaGate, Xb, len, Rb, G);
    expert.rowGradQ(thetaExpert, Xb, y.subarray(t0, t0 + len), len, Rb, E);
    for (let u = 0; u < len; u++) {
      for (let i = 0; i < pg; i++) cols[i * BLOCK + u] = G[u * pg + i];
      for (let i = 0; i < pe; i++) cols[(pg + i) * BLOCK + u] = E[u * pe + i];
    }
    for (let i = 0; i < p; i++) {
      const oi = i * BLOCK;
      for (let j = 0; j <= i; j++) {
        const oj = j * BLOCK;
        let s0 = 0;
        let s1 = 0;
        let u = 0;
        for (; u + 1 < len; u += 2) {
          s0 += cols[oi + u] * cols[oj + u];
          s1 += cols[oi + u + 1] * cols[oj + u + 1];
        }
        if (u < len) s0 += cols[oi + u] * cols[oj + u];
        info[i * p + j] += s0 + s1;
      }
    }
  }
  return info;
}

/**
 * Cholesky factor L of the BHHH matrix M = (1/n) Σ_t g_t g_tᵀ (g_t the per-row scores at θ, from
 * ws.R), or undefined when a family has no `rowGradQ`. M estimates the Fisher information per
 * observation, the Hessian of −ℓ/n at the maximum; L-BFGS in z = Lᵀ(θ − θ₀) then starts from a
 * Fisher-scoring step and sees a well-scaled problem. A small Tikhonov term keeps M positive definite in
 * the flat directions of over-specified fits.
 */
export function bhhhFactor(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, held?: Uint8Array): Float64Array | undefined {
  const info = scoreOuterProduct(model, theta, data, ws);
  if (!info) return undefined;
  const n = data.n;
  const p = model.gate.nParams + model.expert.nParams;
  let tr = 0;
  for (let i = 0; i < p; i++) tr += info[i * p + i];
  for (let i = 0; i < p; i++) for (let j = 0; j <= i; j++) info[i * p + j] /= n;
  tr /= n * p;
  if (!(tr > 0)) return undefined;
  if (held) {
    // coordinates held at a bound of the gate box: decoupled, unit-scale rows (their z stays 0)
    for (let i = 0; i < p; i++) {
      if (!held[i]) continue;
      for (let j = 0; j < p; j++) {
        if (j < i) info[i * p + j] = 0;
        else if (j > i) info[j * p + i] = 0;
      }
      info[i * p + i] = tr;
    }
  }
  for (let tikhonov = 1e-10; tikhonov <= 1e-2; tikhonov *= 100) {
    const L = new Float64Array(p * p);
    for (let i = 0; i < p; i++) for (let j = 0; j <= i; j++) L[i * p + j] = info[i * p + j] + (i === j ? tikhonov * tr : 0);
    if (choleskyInPlace(L, p)) {
      for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) L[i * p + j] = 0;
      return L;
    }
  }
  return undefined;
}

