/**
 * Information criteria of a fitted mixture of experts, all on the "smaller is better" scale of
 * −2·log-likelihood plus a penalty (the convention of R's AIC/BIC, flexmix and mclust's ICL sign
 * flipped):
 *
 *   AIC = −2ℓ + 2p                      (Akaike 1974)
 *   BIC = −2ℓ + p·log n                 (Schwarz 1978)
 *   ICL = BIC + 2·EN,  EN = −Σ_t Σ_i r_ti log r_ti ≥ 0
 *
 * ICL is the BIC approximation of the integrated classification likelihood of Biernacki, Celeux &
 * Govaert (IEEE TPAMI 22, 2000), in the entropy form of McLachlan & Peel (2000, §6.10.3):
 * the classification log-likelihood ℓ_C = ℓ − EN with the posterior responsibilities
 * r_ti = P(expert i | x_t, y_t) of the fitted model (soft, not the MAP hard assignment).
 * p is the number of free working parameters (the gate without its reference expert, each
 * expert's coefficients and variance), i.e. `model.nParams`; n the number of rows.
 */
import type { MixtureOfExperts } from '../model/model.js';
import type { Dataset } from '../model/data.js';

export interface Criteria {
  n: number;
  /** Number of free parameters p. */
  parameters: number;
  logLikelihood: number;
  aic: number;
  bic: number;
  icl: number;
  /** EN = −Σ r log r of the posterior responsibilities (ICL − BIC = 2·EN). */
  entropy: number;
}

export type CriterionName = 'aic' | 'bic' | 'icl';
export const CRITERIA: readonly CriterionName[] = ['aic', 'bic', 'icl'];

/** EN = −Σ_t Σ_i r_ti log r_ti of the model's posterior responsibilities on the data. */
export function classificationEntropy(model: MixtureOfExperts, data: Dataset): number {
  if (model.k === 1) return 0;
  const R = model.posterior(data.X, data.y, data.n);
  let en = 0;
  for (let i = 0; i < R.length; i++) {
    const r = R[i];
    if (r > 0) en -= r * Math.log(r);
  }
  return en;
}

/** AIC, BIC and ICL from a log-likelihood, p, n and EN (the pure formulas, for tests and reuse). */
export function criteriaFrom(logLikelihood: number, parameters: number, n: number, entropy: number): Criteria {
  const dev = -2 * logLikelihood;
  const bic = dev + parameters * Math.log(n);
  return { n, parameters, logLikelihood, aic: dev + 2 * parameters, bic, icl: bic + 2 * entropy, entropy };
}

/** The criteria of a fitted model on its data; `logLikelihood` is recomputed unless given. */
export function modelCriteria(model: MixtureOfExperts, data: Dataset, logLikelihood?: number): Criteria {
  const ll = logLikelihood ?? model.logLikelihood(data.X, data.y, data.n);
  return criteriaFrom(ll, model.nParams, data.n, classificationEntropy(model, data));
}
