/**
 * The exact observed information −∇²ℓ(θ) of the mixture log-likelihood by the missing-information
 * identity ∇²ℓ = E[∇²ℓ_c | y] + Cov[∇ℓ_c | y] (ℓ_c the complete-data log-likelihood of the EM of
 * math-spec §9.1 [DER]; checked against central differences of the score in
 * test/estimate/newton-finish.test.ts):
 *
 *   −∇²ℓ = −∇²Q(θ'|θ)|_{θ'=θ} − Σ_t Σ_i r_ti (s_ti − g_t)(s_ti − g_t)ᵀ,
 *
 * s_ti = ∇θ log(π_i(x_t) f_i(y_t|x_t)) the complete-data score of row t in component i, g_t = Σ_i r_ti s_ti
 * the observed score. The families give −∇²Q (`negHessianQ`) and s_ti (`rowGradQ` with one-hot
 * weights); the covariance term is accumulated by blocks of rows as dot products of columns (as
 * bhhh.ts). One pass over the data at the posteriors ws.R, no E-step.
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import type { EMWorkspace } from './em-step.js';
import { SoftmaxGate } from '../gates/softmax.js';
import { GaussianLinearExperts } from '../experts/gaussian-linear.js';
import { blockInformationPass } from './information-kernel.js';

/** Whether both families give the pieces of the exact observed information. */
export function hasObservedInformation(model: MixtureOfExperts): boolean {
  const { gate, expert } = model;
  return typeof gate.rowGradQ === 'function' && typeof expert.rowGradQ === 'function' && typeof gate.negHessianQ === 'function' && typeof expert.negHessianQ === 'function';
}

/**
 * Whether `observedInformation` takes the structured pass of information-kernel.ts: the model is
 * exactly the softmax gate with Gaussian linear experts (not a gate built on them).
 */
export function usesStructuredInformation(model: MixtureOfExperts, d: number): boolean {
  const { gate, expert } = model;
  if (!(gate instanceof SoftmaxGate) || gate.type !== 'softmax' || !(expert instanceof GaussianLinearExperts)) return false;
  return gate.d === d && gate.nParams === (model.k - 1) * (d + 1) && expert.nParams === model.k * (d + 2);
}

/**
 * −∇²ℓ(θ) (p×p, full, row-major) from the posteriors in ws.R at θ; undefined when a family lacks a piece.
 * Softmax gate with Gaussian linear experts: one structured pass by blocks (information-kernel.ts); other
 * families: the generic assembly from `negHessianQ` and `rowGradQ` (`observedInformationGeneric`).
 */
export function observedInformation(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace): Float64Array | undefined {
  if (!usesStructuredInformation(model, data.d)) return observedInformationGeneric(model, theta, data, ws);
  const info = new Float64Array(theta.length * theta.length);
  blockInformationPass(model.k, data.d, theta, data.X, data.y, ws.R, data.n, info);
  return info;
}

/** The generic assembly of −∇²ℓ(θ): the families' −∇²Q minus the per-row covariance of the k component scores. */
export function observedInformationGeneric(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace): Float64Array | undefined {
  const { gate, expert } = model;
  if (!gate.rowGradQ || !expert.rowGradQ || !gate.negHessianQ || !expert.negHessianQ) return undefined;
  const n = data.n;
  const k = model.k;
  const d = data.d;
  const pg = gate.nParams;
  const pe = expert.nParams;
  const p = pg + pe;
  const { X, y } = data;
  const thetaGate = theta.subarray(0, pg);
  const thetaExpert = theta.subarray(pg);
  const info = new Float64Array(p * p);
  const Hg = new Float64Array(pg * pg);
  const He = new Float64Array(pe * pe);
  gate.negHessianQ(thetaGate, X, n, ws.R, Hg);
  expert.negHessianQ(thetaExpert, X, y, n, ws.R, He);
  for (let a = 0; a < pg; a++) for (let b = 0; b < pg; b++) info[a * p + b] = Hg[a * pg + b];
  for (let a = 0; a < pe; a++) for (let b = 0; b < pe; b++) info[(pg + a) * p + pg + b] = He[a * pe + b];
  // covariance of the complete-data scores, block by block
  const BLOCK = 256;
  const W = new Float64Array(BLOCK * k);
  const G = new Float64Array(k * BLOCK * pg);
  const E = new Float64Array(k * BLOCK * pe);
  const cols = new Float64Array(p * BLOCK * k); // column a holds √r_ti (s_ti − g_t)_a over (i, t)
  const gt = new Float64Array(p);
  const cn = BLOCK * k;
  for (let t0 = 0; t0 < n; t0 += BLOCK) {
    const len = Math.min(BLOCK, n - t0);
    const Xb = X.subarray(t0 * d, (t0 + len) * d);
    const yb = y.subarray(t0, t0 + len);
    for (let i = 0; i < k; i++) {
      W.fill(0);
      for (let u = 0; u < len; u++) W[u * k + i] = 1;
      gate.rowGradQ(thetaGate, Xb, len, W.subarray(0, len * k), G.subarray(i * BLOCK * pg, (i * BLOCK + len) * pg));
      expert.rowGradQ(thetaExpert, Xb, yb, len, W.subarray(0, len * k), E.subarray(i * BLOCK * pe, (i * BLOCK + len) * pe));
    }
    for (let u = 0; u < len; u++) {
      const ro = (t0 + u) * k;
      gt.fill(0);
      for (let i = 0; i < k; i++) {
        const r = ws.R[ro + i];
        const go = (i * BLOCK + u) * pg;
        const eo = (i * BLOCK + u) * pe;
        for (let a = 0; a < pg; a++) gt[a] += r * G[go + a];
        for (let a = 0; a < pe; a++) gt[pg + a] += r * E[eo + a];
      }
      for (let i = 0; i < k; i++) {
        const sr = Math.sqrt(ws.R[ro + i]);
        const go = (i * BLOCK + u) * pg;
        const eo = (i * BLOCK + u) * pe;
        const c = i * BLOCK + u;
        for (let a = 0; a < pg; a++) cols[a * cn + c] = sr * (G[go + a] - gt[a]);
        for (let a = 0; a < pe; a++) cols[(pg + a) * cn + c] = sr * (E[eo + a] - gt[pg + a]);
      }
    }
    if (len < BLOCK) {
      // unused columns of a short last block must not contribute
      for (let a = 0; a < p; a++) for (let i = 0; i < k; i++) cols.fill(0, a * cn + i * BLOCK + len, a * cn + (i + 1) * BLOCK);
    }
    for (let a = 0; a < p; a++) {
      const oa = a * cn;
      for (let b = 0; b <= a; b++) {
        const ob = b * cn;
        let s = 0;
        for (let c = 0; c < cn; c++) s += cols[oa + c] * cols[ob + c];
        info[a * p + b] -= s;
      }
    }
  }
  for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) info[b * p + a] = info[a * p + b];
  return info;
}
