/**
 * Standard errors of a fitted model from the per-observation scores (BHHH / outer-product-of-
 * gradients estimate of the Fisher information): Cov(θ̂) ≈ (Σ_t g_t g_tᵀ)⁻¹, g_t = ∇θ log p(y_t|x_t).
 * Valid for a correctly specified model at an interior maximum (exact-specified fits); in
 * over-specified fits the information is singular and the errors are meaningless (reported as
 * NaN when the matrix cannot be inverted). Errors are for the working parameters (log-variance,
 * …); `standardErrors` maps them to the JSON blocks by the delta method where the map is known.
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { EMWorkspace, eStep } from './em-step.js';
import { scoreOuterProduct } from './bhhh.js';
import { OptionError } from '../errors.js';
import { choleskyInPlace, choleskySolveInPlace, symmetrizeFromLower } from '../numeric/linalg.js';

/** Covariance matrix (p×p, row-major) of the working parameters, or undefined if singular. */
export function covarianceBHHH(model: MixtureOfExperts, data: Dataset): Float64Array | undefined {
  const { gate, expert } = model;
  if (!gate.rowGradQ || !expert.rowGradQ) throw new OptionError(`standard errors need per-row scores, which the ${gate.type}/${expert.type} families do not provide`);
  const n = data.n;
  const ws = new EMWorkspace(model, n);
  eStep(model, model.theta, data, ws);
  const p = model.nParams;
  const info = scoreOuterProduct(model, model.theta, data, ws);
  if (!info) return undefined;
  symmetrizeFromLower(info, p);
  if (!choleskyInPlace(info, p)) return undefined;
  const cov = new Float64Array(p * p);
  const col = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    col.fill(0);
    col[j] = 1;
    choleskySolveInPlace(info, p, col);
    for (let i = 0; i < p; i++) cov[i * p + j] = col[i];
  }
  return cov;
}

/** Standard errors of the working parameters (NaN where the information is singular). */
export function standardErrors(model: MixtureOfExperts, data: Dataset): Float64Array {
  const p = model.nParams;
  const cov = covarianceBHHH(model, data);
  const se = new Float64Array(p).fill(NaN);
  if (cov) for (let i = 0; i < p; i++) se[i] = Math.sqrt(cov[i * p + i]);
  return se;
}
