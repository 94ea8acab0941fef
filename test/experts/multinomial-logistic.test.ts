import { describe, it, expect } from 'vitest';
import { MultinomialLogisticExperts } from '../../src/experts/multinomial-logistic.js';
import { predictClassProbabilities } from '../../src/model/class-probabilities.js';
import { parseExpertSpec, expertFactory } from '../../src/experts/registry.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { fitEM } from '../../src/estimate/em.js';
import { Rng } from '../../src/numeric/rng.js';
import { sampleX } from '../../src/model/data.js';
import { DataError, ModelFormatError, OptionError } from '../../src/errors.js';

function randomArray(rng: Rng, len: number, sd = 1): Float64Array {
  return Float64Array.from({ length: len }, () => sd * rng.normal());
}

/** Truth of the recovery test: k = 2 experts, C = 3 classes, d = 2, softmax gate. */
const TRUTH_JSON = {
  gate: { type: 'softmax', beta0: [0.3, 0], beta1: [[2, -1.5], [0, 0]] },
  experts: {
    type: 'multinomialLogistic',
    classes: 3,
    a: [[1, -0.5, 0], [-1, 0.5, 0]],
    b: [[[2, 1], [-1, 2], [0, 0]], [[-2, 0.5], [1.5, -2], [0, 0]]],
  },
};

describe('multinomialLogistic experts', () => {
  it('logDensity is log softmax with the last class as reference (hand-computed value)', () => {
    // k = 1, d = 1, C = 3: logits (a0 + b0 x, a1 + b1 x, 0)
    const e = new MultinomialLogisticExperts(1, 1, { classes: 3 });
    const theta = Float64Array.from([0.5, 2, -1, 1]); // class 0: a=0.5,b=2; class 1: a=-1,b=1
    const X = Float64Array.from([0.3]);
    const out = new Float64Array(1);
    const z = [0.5 + 0.6, -1 + 0.3, 0];
    const lse = Math.log(z.reduce((s, v) => s + Math.exp(v), 0));
    for (let c = 0; c < 3; c++) {
      e.logDensity(theta, X, Float64Array.from([c]), 1, out);
      expect(out[0]).toBeCloseTo(z[c] - lse, 14);
    }
  });

  it('gradQ matches central finite differences for arbitrary signed W (k=3, C=4, d=2)', () => {
    const rng = new Rng(11);
    const k = 3, d = 2, C = 4, n = 40;
    const e = new MultinomialLogisticExperts(k, d, { classes: C });
    const theta = randomArray(rng, e.nParams, 0.7);
    const X = randomArray(rng, n * d);
    const y = Float64Array.from({ length: n }, () => rng.int(C));
    const W = randomArray(rng, n * k); // signed, rows do not sum to one
    const grad = new Float64Array(e.nParams);
    e.gradQ(theta, X, y, n, W, grad);
    const Q = (th: Float64Array): number => {
      const L = new Float64Array(n * k);
      e.logDensity(th, X, y, n, L);
      let s = 0;
      for (let i = 0; i < n * k; i++) s += W[i] * L[i];
      return s;
    };
    const h = 1e-6;
    for (let j = 0; j < e.nParams; j++) {
      const tp = theta.slice(); tp[j] += h;
      const tm = theta.slice(); tm[j] -= h;
      const fd = (Q(tp) - Q(tm)) / (2 * h);
      expect(Math.abs(grad[j] - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
    }
  });

  it('rowGradQ rows sum to gradQ (per-observation scores for the BHHH finish)', () => {
    const rng = new Rng(12);
    const k = 2, d = 2, C = 3, n = 30;
    const e = new MultinomialLogisticExperts(k, d, { classes: C });
    const theta = randomArray(rng, e.nParams, 0.7);
    const X = randomArray(rng, n * d);
    const y = Float64Array.from({ length: n }, () => rng.int(C));
    const W = randomArray(rng, n * k);
    W[3] = 0; // a zero weight row entry
    const rows = new Float64Array(n * e.nParams).fill(NaN);
    e.rowGradQ(theta, X, y, n, W, rows);
    const grad = new Float64Array(e.nParams);
    e.gradQ(theta, X, y, n, W, grad);
    for (let j = 0; j < e.nParams; j++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += rows[t * e.nParams + j];
      expect(s).toBeCloseTo(grad[j], 12);
    }
  });

  it('mStep maximises the weighted log-likelihood: objective never decreases and the gradient vanishes', () => {
    const rng = new Rng(5);
    const k = 2, d = 2, C = 3, n = 600;
    const e = new MultinomialLogisticExperts(k, d, { classes: C });
    const truth = randomArray(rng, e.nParams, 1);
    const X = randomArray(rng, n * d);
    const y = new Float64Array(n);
    for (let t = 0; t < n; t++) y[t] = e.sample(truth, t % k, X, t, rng);
    const R = new Float64Array(n * k);
    for (let t = 0; t < n; t++) {
      const r = rng.uniform();
      R[t * k] = r;
      R[t * k + 1] = 1 - r;
    }
    const Q = (th: Float64Array): number => {
      const L = new Float64Array(n * k);
      e.logDensity(th, X, y, n, L);
      let s = 0;
      for (let i = 0; i < n * k; i++) s += R[i] * L[i];
      return s;
    };
    const theta = new Float64Array(e.nParams);
    const q0 = Q(theta);
    // one Newton step at a time: monotone
    let prev = q0;
    for (let it = 0; it < 5; it++) {
      e.mStep(theta, X, y, n, R, { maxIter: 1, tol: 0 });
      const q = Q(theta);
      expect(q).toBeGreaterThanOrEqual(prev - 1e-9);
      prev = q;
    }
    e.mStep(theta, X, y, n, R, { maxIter: 50, tol: 1e-14 });
    const grad = new Float64Array(e.nParams);
    e.gradQ(theta, X, y, n, R, grad);
    for (const g of grad) expect(Math.abs(g)).toBeLessThan(1e-7 * n);
    expect(Q(theta)).toBeGreaterThan(q0);
  });

  it('JSON round trip; reference class written as zeros; a non-zero reference is shifted away', () => {
    const m = MixtureOfExperts.fromJSON(TRUTH_JSON);
    const json = m.toJSON();
    expect(json.experts).toEqual(TRUTH_JSON.experts);
    // shift every class of expert 0 by (1, [2, -1]): same probabilities, same θ
    const shifted = structuredClone(TRUTH_JSON);
    shifted.experts.a[0] = shifted.experts.a[0].map((v) => v + 1);
    shifted.experts.b[0] = shifted.experts.b[0].map((row) => [row[0] + 2, row[1] - 1]);
    const m2 = MixtureOfExperts.fromJSON(shifted);
    for (let i = 0; i < m.nParams; i++) expect(m2.theta[i]).toBeCloseTo(m.theta[i], 12);
    expect(m2.toJSON().experts).toEqual(TRUTH_JSON.experts);
  });

  it('rejects malformed JSON with the field path', () => {
    const bad = structuredClone(TRUTH_JSON) as unknown as { experts: { b: unknown[]; classes: unknown } };
    bad.experts.b[1] = [[1, 2], [3, 4]]; // only 2 classes
    expect(() => MixtureOfExperts.fromJSON(bad)).toThrow(/experts\.b\[1\]: expected 3 rows/);
    const bad2 = structuredClone(TRUTH_JSON) as unknown as { experts: { classes: unknown } };
    bad2.experts.classes = 4;
    expect(() => MixtureOfExperts.fromJSON(bad2)).toThrow(ModelFormatError);
    expect(() => MixtureOfExperts.fromJSON(bad2)).toThrow(/experts\.a: rows have 3 entries but experts\.classes = 4/);
  });

  it('validateResponse names the row of a bad class code', () => {
    const e = new MultinomialLogisticExperts(2, 1, { classes: 3 });
    expect(() => e.validateResponse(Float64Array.from([0, 2, 1, 3]), 4)).toThrow(DataError);
    expect(() => e.validateResponse(Float64Array.from([0, 2, 1, 3]), 4)).toThrow(/row 4: response y = 3/);
    expect(() => e.validateResponse(Float64Array.from([0, 1.5]), 2)).toThrow(/row 2/);
    expect(() => e.validateResponse(Float64Array.from([0, 1, 2]), 3)).not.toThrow();
  });

  it('CLI specs: multinomial, multinomial:C; bad C is an OptionError', () => {
    expect(parseExpertSpec('multinomial')).toEqual({ type: 'multinomialLogistic' });
    expect(parseExpertSpec('multinomial:4')).toEqual({ type: 'multinomialLogistic', classes: 4 });
    expect(() => parseExpertSpec('multinomial:1')).toThrow(OptionError);
    expect(expertFactory('multinomialLogistic').cliNames).toContain('multinomial');
    expect(() => expertFactory('multinomialLogistic').create({ type: 'multinomialLogistic' }, 2, 1)).toThrow(/experts\.classes: missing/);
  });

  it('sampling follows the class probabilities; model class probabilities sum to one', () => {
    const m = MixtureOfExperts.fromJSON(TRUTH_JSON);
    const rng = new Rng(3);
    const n = 20000;
    const X = new Float64Array(n * 2).fill(0.25); // one input repeated
    const { y } = m.sample(X, n, rng);
    const P = predictClassProbabilities(m, X, 1);
    expect(P[0] + P[1] + P[2]).toBeCloseTo(1, 14);
    const counts = [0, 0, 0];
    for (let t = 0; t < n; t++) counts[y[t]]++;
    for (let c = 0; c < 3; c++) {
      const se = Math.sqrt(P[c] * (1 - P[c]) / n);
      expect(Math.abs(counts[c] / n - P[c])).toBeLessThan(4 * se);
    }
  });

  it('recovers a known truth at n = 5e4 (k=2, C=3, d=2, softmax gate, nearTruth start)', () => {
    const truth = MixtureOfExperts.fromJSON(TRUTH_JSON);
    const n = 50000;
    const rng = new Rng(2024);
    const X = sampleX({ type: 'uniform', low: -1, high: 1 }, n, 2, rng.split('x'));
    const { y } = truth.sample(X, n, rng.split('y'));
    // polish: false — EM stops on the relative change (1e-8). With the finish on, em.ts keeps SQUAREM
    // running to ‖∇ℓ/n‖∞ ≤ 1e-7, which EM reaches only after hundreds of iterations on this
    // exact-specified classification MoE (high fraction of missing information).
    const res = fitEM(truth.spec(), { X, y, n, d: 2 }, { init: { type: 'nearTruth', truth }, seed: 7, polish: false });
    expect(res.converged).toBe(true);
    expect(res.gradientNorm).toBeLessThan(1e-3);
    // the MLE has a higher likelihood than the truth (it maximises it)
    expect(res.logLikelihood).toBeGreaterThanOrEqual(truth.logLikelihood(X, y, n) - 1e-6);
    // parameters within a few standard errors (≈ c/√n): absolute error ≤ 0.2 on every coefficient
    let maxErr = 0;
    for (let i = 0; i < truth.nParams; i++) maxErr = Math.max(maxErr, Math.abs(res.model.theta[i] - truth.theta[i]));
    expect(maxErr).toBeLessThan(0.2);
  });
});
