/**
 * Prediction from a fitted mixture of experts, per input row (docs/math-spec.md §2.1, §4.1: p(y|x) = Σᵢ πᵢ(x)
 * f(y | x, θᵢ)):
 *
 * - the gate probabilities πᵢ(x);
 * - Gaussian-type experts (a per-expert `variance` in the experts JSON): the predictive mean
 *   E[y|x] = Σᵢ πᵢ μᵢ(x) and variance Var[y|x] = Σᵢ πᵢ (νᵢ + (μᵢ(x) − E[y|x])²) (law of total variance);
 * - class experts (multinomial logistic): P(y = c | x) = Σᵢ πᵢ(x) P(c | x, i) and the most probable class;
 * - least-squares regression models (docs/math-spec.md §5.1, y = f_G(x) + N(0, ν)): the mean f_G(x), and the
 *   variance ν when the model carries `noiseVariance`;
 * - when y is given: log p(y|x), the posterior responsibilities P(i | x, y) ∝ πᵢ(x) f(y | x, θᵢ) and
 *   the MAP expert (regression models: only log p(y|x), from N(f_G(x), ν), when ν is known — there is
 *   no latent expert).
 */
import type { MixtureOfExperts } from './model.js';
import { warning, type MoeWarning } from '../warnings.js';

export type PredictionKind = 'density' | 'classes' | 'regression';

export interface Prediction {
  n: number;
  k: number;
  kind: PredictionKind;
  /** πᵢ(x_t), n×k row-major. */
  gate: Float64Array;
  /** E[y | x_t] (density and regression kinds). */
  mean?: Float64Array;
  /** Var[y | x_t] (density kind with per-expert variances; regression kind with a known ν). */
  variance?: Float64Array;
  /** Class kind: P(y = c | x_t), n×C row-major, and the labels of the C classes (codes as strings without labels). */
  classProbabilities?: Float64Array;
  classLabels?: string[];
  /** Class kind: argmax_c P(y = c | x_t) (lowest code on ties). */
  predictedClass?: Int32Array;
  /** With y: log p(y_t | x_t). */
  logDensity?: Float64Array;
  /** With y (density and class kinds): P(expert i | x_t, y_t), n×k row-major. */
  responsibilities?: Float64Array;
  /** With y (density and class kinds): argmax_i P(i | x_t, y_t) (0-based; lowest index on ties). */
  map?: Int32Array;
  /** What could not be computed and why (e.g. a regression model without noiseVariance). */
  warnings: MoeWarning[];
}

interface ClassFamily {
  classes: number;
  labels?: string[];
  classProbabilities(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): Float64Array;
}

function classFamily(e: unknown): ClassFamily | undefined {
  const c = e as Partial<ClassFamily>;
  return typeof c.classProbabilities === 'function' && typeof c.classes === 'number' ? (c as ClassFamily) : undefined;
}

/** Per-expert variances νᵢ from the experts JSON (`variance` of length k), or undefined. */
function expertVariances(model: MixtureOfExperts): number[] | undefined {
  const v = model.expert.toJSON(model.expertTheta).variance;
  return Array.isArray(v) && v.length === model.k && v.every((x) => typeof x === 'number') ? (v as number[]) : undefined;
}

function argmaxRows(P: Float64Array, n: number, w: number): Int32Array {
  const out = new Int32Array(n);
  for (let t = 0; t < n; t++) {
    let best = 0;
    for (let j = 1; j < w; j++) if (P[t * w + j] > P[t * w + best]) best = j;
    out[t] = best;
  }
  return out;
}

/**
 * Predict for the n rows of X (n×d row-major); `y` (length n, class codes for class experts) adds the
 * log-density, responsibilities and MAP expert.
 */
export function predict(model: MixtureOfExperts, X: Float64Array, n: number, y?: Float64Array): Prediction {
  const k = model.k;
  const warnings: MoeWarning[] = [];
  const gate = model.gateProbabilities(X, n);
  const out: Prediction = { n, k, kind: 'density', gate, warnings };
  const noise = model.expert.regressionNoiseVariance;
  if (noise) {
    out.kind = 'regression';
    out.mean = model.predictMean(X, n);
    let nu: number | undefined;
    try {
      nu = noise.call(model.expert);
    } catch {
      warnings.push(warning('PREDICT_NO_VARIANCE', 'the regression model has no experts.noiseVariance: variance and log-density not computed'));
    }
    if (nu !== undefined) {
      out.variance = new Float64Array(n).fill(nu);
      if (y) {
        const ld = new Float64Array(n);
        const c = -0.5 * Math.log(2 * Math.PI * nu);
        for (let t = 0; t < n; t++) ld[t] = c - (y[t] - out.mean[t]) ** 2 / (2 * nu);
        out.logDensity = ld;
      }
    }
    return out;
  }
  const cls = classFamily(model.expert);
  if (cls) {
    out.kind = 'classes';
    const C = cls.classes;
    const Pc = cls.classProbabilities(model.expertTheta, X, n, new Float64Array(n * k * C));
    const mix = new Float64Array(n * C);
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < k; i++) {
        const w = gate[t * k + i];
        if (w === 0) continue;
        for (let c = 0; c < C; c++) mix[t * C + c] += w * Pc[(t * k + i) * C + c];
      }
    }
    out.classProbabilities = mix;
    out.classLabels = cls.labels ? [...cls.labels] : Array.from({ length: C }, (_, c) => String(c));
    out.predictedClass = argmaxRows(mix, n, C);
  } else {
    const M = new Float64Array(n * k);
    model.expert.mean(model.expertTheta, X, n, M);
    const mean = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let i = 0; i < k; i++) if (gate[t * k + i] > 0) s += gate[t * k + i] * M[t * k + i];
      mean[t] = s;
    }
    out.mean = mean;
    const nu = expertVariances(model);
    if (nu) {
      const v = new Float64Array(n);
      for (let t = 0; t < n; t++) {
        let s = 0;
        for (let i = 0; i < k; i++) {
          const w = gate[t * k + i];
          if (w > 0) s += w * (nu[i] + (M[t * k + i] - mean[t]) ** 2);
        }
        v[t] = s;
      }
      out.variance = v;
    } else warnings.push(warning('PREDICT_NO_VARIANCE', `the ${model.expert.type} experts have no per-expert variance: predictive variance not computed`));
  }
  if (y) {
    const a = new Float64Array(n * k);
    model.logJoint(X, y, n, a, new Float64Array(n * k));
    const ld = new Float64Array(n);
    const R = new Float64Array(n * k);
    for (let t = 0; t < n; t++) {
      const o = t * k;
      let m = -Infinity;
      for (let i = 0; i < k; i++) if (a[o + i] > m) m = a[o + i];
      if (m === -Infinity) {
        // y impossible under every expert (e.g. a class no expert gives mass): no posterior
        ld[t] = -Infinity;
        R.fill(NaN, o, o + k);
        continue;
      }
      let s = 0;
      for (let i = 0; i < k; i++) s += (R[o + i] = Math.exp(a[o + i] - m));
      for (let i = 0; i < k; i++) R[o + i] /= s;
      ld[t] = m + Math.log(s);
    }
    const impossible = ld.filter((v) => v === -Infinity).length;
    if (impossible > 0) warnings.push(warning('PREDICT_ZERO_PROBABILITY', `${impossible} rows have probability 0 under the model (log-density −Infinity, responsibilities NaN)`, { rows: impossible }));
    out.logDensity = ld;
    out.responsibilities = R;
    out.map = argmaxRows(R, n, k);
  }
  return out;
}
