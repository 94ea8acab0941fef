/**
 * Standard errors of a fitted model from its observed information, labelled by JSON block.
 *
 * Two estimates of the information matrix of the working parameters θ are offered:
 * - `hessian` (default): the observed information −∇²ℓ(θ̂), by central differences of the
 *   analytic score ∇ℓ (Fisher's identity), symmetrised. (Louis' 1982 formula gives the same matrix
 *   analytically from complete-data quantities; it is not implemented.)
 * - `bhhh`: Σ_t g_t g_tᵀ, the outer product of the per-observation scores (Berndt, Hall, Hall &
 *   Hausman 1974); equal to the observed information in expectation for a correct model.
 * Cov(θ̂) ≈ I⁻¹ is carried to the reported blocks (ν, not log ν; β relative to the reference
 * expert) by the delta method through the numerical Jacobian of θ → JSON. The information is
 * singular at over-specified fits (atoms sharing a true atom): then no SE is reported (null, never
 * NaN) and the status says why; use the bootstrap there.
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { EMWorkspace, eStep, logLikelihoodGradient, scoreOuterProduct } from '../estimate/em.js';
import { choleskyInPlace, choleskySolveInPlace, symmetrizeFromLower } from '../numeric/linalg.js';
import { jacobiSVD } from '../numeric/svd.js';
import { parameterJacobian, type Naming, type ParameterLabel } from './parameters.js';
import { warning, type MoeWarning } from '../warnings.js';

export type InformationMethod = 'hessian' | 'bhhh';

export const METHOD_NAMES: Record<InformationMethod, string> = {
  hessian: 'observed information (central differences of the analytic score)',
  bhhh: 'BHHH (outer product of the per-observation scores)',
};

export interface ParameterEstimate extends ParameterLabel {
  estimate: number;
  /** null when the information is singular or the variance is not positive. */
  se: number | null;
  /** estimate / se, null with se. */
  z: number | null;
}

/**
 * ok; unreliable: two experts are statistically indistinguishable (every expert-block difference
 * within 3 SE: the signature of an over-specified fit, whose information is singular in the
 * limit, so the asymptotic SEs do not hold); ill-conditioned; singular (no SEs).
 */
export type InformationStatus = 'ok' | 'unreliable' | 'ill-conditioned' | 'singular';

export interface StandardErrorReport {
  method: InformationMethod;
  methodName: string;
  status: InformationStatus;
  /** σ_max/σ_min of the information matrix (null when it is not positive definite). */
  conditionNumber: number | null;
  /** Pairs of experts (1-based) whose expert blocks differ by less than 3 SE in every component. */
  indistinguishable: [number, number][];
  /** Every reported parameter; blocks fixed by the model (the reference expert) are left out. */
  parameters: ParameterEstimate[];
  warnings: MoeWarning[];
}

/** Observed information −∇²ℓ(θ) (p×p), by central differences of the analytic gradient. */
export function observedInformation(model: MixtureOfExperts, data: Dataset, h = 1e-5): Float64Array {
  const p = model.nParams;
  const ws = new EMWorkspace(model, data.n);
  const th = model.theta.slice();
  const gp = new Float64Array(p);
  const gm = new Float64Array(p);
  const I = new Float64Array(p * p);
  for (let j = 0; j < p; j++) {
    const step = h * Math.max(1, Math.abs(th[j]));
    th[j] = model.theta[j] + step;
    const lp = logLikelihoodGradient(model, th, data, ws, gp);
    th[j] = model.theta[j] - step;
    const lm = logLikelihoodGradient(model, th, data, ws, gm);
    th[j] = model.theta[j];
    if (!Number.isFinite(lp) || !Number.isFinite(lm)) return I.fill(NaN);
    for (let i = 0; i < p; i++) I[i * p + j] = -(gp[i] - gm[i]) / (2 * step);
  }
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < i; j++) {
      const v = 0.5 * (I[i * p + j] + I[j * p + i]);
      I[i * p + j] = v;
      I[j * p + i] = v;
    }
  }
  return I;
}

/** Σ_t g_t g_tᵀ (p×p) of the per-row scores, or undefined when a family has no per-row scores. */
export function bhhhInformation(model: MixtureOfExperts, data: Dataset): Float64Array | undefined {
  const ws = new EMWorkspace(model, data.n);
  eStep(model, model.theta, data, ws);
  const B = scoreOuterProduct(model, model.theta, data, ws);
  if (B) symmetrizeFromLower(B, model.nParams);
  return B;
}

/** I⁻¹ by Cholesky, with the condition number from the SVD; undefined when I is not positive definite. */
export function invertInformation(I: Float64Array, p: number): { cov: Float64Array; condition: number } | undefined {
  for (let i = 0; i < p * p; i++) if (!Number.isFinite(I[i])) return undefined;
  const L = I.slice();
  if (!choleskyInPlace(L, p)) return undefined;
  const cov = new Float64Array(p * p);
  const col = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    col.fill(0);
    col[j] = 1;
    choleskySolveInPlace(L, p, col);
    for (let i = 0; i < p; i++) cov[i * p + j] = col[i];
  }
  const sv = jacobiSVD(I, p, p).values;
  const condition = sv[p - 1] > 0 ? sv[0] / sv[p - 1] : Infinity;
  return { cov, condition };
}

/** Condition number above which the SEs are flagged unreliable (relative precision ≈ 1e-16·κ). */
export const ILL_CONDITIONED = 1e10;

export interface StandardErrorOptions {
  method?: InformationMethod;
  /** Input names and class labels for the component labels. */
  naming?: Partial<Naming>;
}

/** Labelled standard errors of the JSON parameters of a fitted model (at an interior maximum). */
export function parameterStandardErrors(model: MixtureOfExperts, data: Dataset, options: StandardErrorOptions = {}): StandardErrorReport {
  let method = options.method ?? 'hessian';
  const warnings: MoeWarning[] = [];
  const p = model.nParams;
  let I: Float64Array | undefined;
  if (method === 'bhhh') {
    I = bhhhInformation(model, data);
    if (!I) {
      warnings.push(warning('SE_NO_ROW_SCORES', `the ${model.gate.type}/${model.expert.type} families have no per-row scores: used the observed information instead of BHHH`));
      method = 'hessian';
    }
  }
  I ??= observedInformation(model, data);
  const inv = invertInformation(I, p);
  const { flat, J } = parameterJacobian(model, options.naming);
  let status: InformationStatus = 'ok';
  if (!inv) {
    status = 'singular';
    warnings.push(warning('SE_SINGULAR', 'the information matrix is not positive definite (singular: typical of over-specified fits, whose atoms share a true atom, or of a fit that is not at a maximum); no standard errors — use the bootstrap'));
  } else if (inv.condition > ILL_CONDITIONED) {
    status = 'ill-conditioned';
    warnings.push(warning('SE_ILL_CONDITIONED', `the information matrix is ill-conditioned (condition number ${inv.condition.toExponential(1)}): the standard errors are unreliable`, { conditionNumber: inv.condition }));
  }
  const parameters: ParameterEstimate[] = [];
  let negative = 0;
  for (let e = 0; e < flat.values.length; e++) {
    const row = J.subarray(e * p, (e + 1) * p);
    let fixed = true;
    for (let j = 0; j < p; j++) if (Math.abs(row[j]) > 1e-9) fixed = false;
    if (fixed) continue; // set by the model (reference expert), not estimated
    let se: number | null = null;
    if (inv) {
      let v = 0;
      for (let a = 0; a < p; a++) {
        if (row[a] === 0) continue;
        let s = 0;
        for (let b = 0; b < p; b++) s += inv.cov[a * p + b] * row[b];
        v += row[a] * s;
      }
      if (v > 0 && Number.isFinite(v)) se = Math.sqrt(v);
      else negative++;
    }
    const estimate = flat.values[e];
    parameters.push({ ...flat.labels[e], estimate, se, z: se === null ? null : estimate / se });
  }
  const indistinguishable: [number, number][] = [];
  if (inv) {
    // var(v_i − v_j) = (J_i − J_j) C (J_i − J_j)ᵀ for each expert-block component
    const rows = new Map<string, number[]>();
    flat.labels.forEach((l, e) => {
      if (l.part !== 'experts' || l.expert === null) return;
      const key = `${l.block}\u0000${l.component}`;
      let r = rows.get(key);
      if (!r) rows.set(key, (r = []));
      r[l.expert - 1] = e;
    });
    const diff = new Float64Array(p);
    for (let i = 0; i < model.k; i++) {
      for (let j = i + 1; j < model.k; j++) {
        let maxZ = 0;
        for (const r of rows.values()) {
          const ei = r[i];
          const ej = r[j];
          if (ei === undefined || ej === undefined) continue;
          for (let a = 0; a < p; a++) diff[a] = J[ei * p + a] - J[ej * p + a];
          let v = 0;
          for (let a = 0; a < p; a++) {
            let s2 = 0;
            for (let b = 0; b < p; b++) s2 += inv.cov[a * p + b] * diff[b];
            v += diff[a] * s2;
          }
          const dz = Math.abs(flat.values[ei] - flat.values[ej]) / Math.sqrt(Math.max(v, 1e-300));
          maxZ = Math.max(maxZ, dz);
        }
        if (maxZ < 3) indistinguishable.push([i + 1, j + 1]);
      }
    }
    if (indistinguishable.length > 0) {
      if (status === 'ok') status = 'unreliable';
      const pairs = indistinguishable.map(([a, b]) => `${a} and ${b}`).join(', ');
      warnings.push(warning('SE_INDISTINGUISHABLE_EXPERTS', `experts ${pairs} are indistinguishable (every expert parameter within 3 SE): an over-specified fit, where the information is singular in the limit and these SEs do not hold; use --bootstrap`, { pairs }));
    }
  }
  if (negative > 0) warnings.push(warning('SE_NONPOSITIVE_VARIANCE', `${negative} parameter${negative > 1 ? 's have' : ' has'} a non-positive delta-method variance: SE not reported`, { count: negative }));
  return { method, methodName: METHOD_NAMES[method], status, conditionNumber: inv ? inv.condition : null, indistinguishable, parameters, warnings };
}
