import { describe, it, expect } from 'vitest';
import { TopKGate } from '../../src/gates/top-k.js';
import { parseGateSpec, gateFactory } from '../../src/gates/registry.js';
import { Rng } from '../../src/numeric/rng.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { ModelFormatError, OptionError } from '../../src/errors.js';
import { fitEM } from '../../src/estimate/em.js';
import { sampleExperts } from '../../src/gates/common.js';
import {
  checkEMMonotone, checkGradQ, checkMStep, checkNewtonHessian, checkNormalised, checkRecovery,
  checkSampling, relErr, simulateData, softTargets, uniformX,
} from './family-helpers.js';

/** k = 3, K = 2, d = 1 on x ∈ [−1, 1]: experts {0, 2} active for x > 0, {1, 2} for x < 0. */
const TRUTH: ModelJSON = {
  gate: { type: 'topK', K: 2, beta0: [0.5, -0.5, 0], beta1: [[3], [-3], [0]] },
  experts: { type: 'gaussianLinear', a: [[-4], [4], [1]], b: [2, 1, -1], variance: [0.09, 0.16, 0.09] },
};
const DESIGN = { type: 'uniform', low: -1, high: 1 } as const;

function oracleModel(K: number): MixtureOfExperts {
  return MixtureOfExperts.fromJSON({
    gate: { type: 'topK', K, beta0: [0.5, 0.1, -1], beta1: [[3], [1], [2]] },
    experts: { type: 'gaussianLinear', a: [[0], [0], [0]], b: [0, 1, 2], variance: [1, 1, 1] },
  });
}

describe('top-K gate', () => {
  it('oracle: logits (3,1,2), biases (0.5,0.1,−1), K=2 → (0.924142, 0, 0.075858)', () => {
    const m = oracleModel(2);
    const p = m.gateProbabilities(Float64Array.of(1), 1);
    expect(Math.abs(p[0] - 0.924142)).toBeLessThan(1e-6);
    expect(p[1]).toBe(0);
    expect(Math.abs(p[2] - 0.075858)).toBeLessThan(1e-6);
    // exact value: e^{3.5}/(e^{3.5} + e^{1})
    expect(Math.abs(p[0] - 1 / (1 + Math.exp(-2.5)))).toBeLessThan(1e-15);
    // K = 3 is the plain softmax; K = 1 puts all weight on the largest logit
    const p3 = oracleModel(3).gateProbabilities(Float64Array.of(1), 1);
    const z = [3.5, 1.1, 1.0];
    const s = z.reduce((a, b) => a + Math.exp(b), 0);
    for (let i = 0; i < 3; i++) expect(Math.abs(p3[i] - Math.exp(z[i]) / s)).toBeLessThan(1e-15);
    expect(Array.from(oracleModel(1).gateProbabilities(Float64Array.of(1), 1))).toEqual([1, 0, 0]);
  });

  it('log-weights and the weighted objective match a naive computation, for unrolled (k ≤ 8) and looped (k = 9) shapes, with ties', () => {
    const rng = new Rng(17);
    for (const [k, d, K] of [[3, 1, 2], [4, 2, 1], [5, 2, 3], [9, 1, 4], [9, 2, 9]] as const) {
      const gate = new TopKGate(k, d, K);
      const n = 120;
      // integer-valued x and slopes make ties in β₁ᵀx common
      const X = new Float64Array(n * d).map(() => Math.round(4 * rng.uniform() - 2));
      const theta = new Float64Array(gate.nParams).map((_, i) => (i % (d + 1) === 0 ? rng.normal() : Math.round(2 * rng.normal())));
      const out = new Float64Array(n * k);
      gate.logWeights(theta, X, n, out);
      const W = new Float64Array(n * k).map(() => rng.uniform());
      let Qnaive = 0;
      for (let t = 0; t < n; t++) {
        const v = Array.from({ length: k }, (_, i) => (i < k - 1 ? Array.from({ length: d }, (_, u) => theta[i * (d + 1) + 1 + u] * X[t * d + u]).reduce((a, b) => a + b, 0) : 0));
        const rank = v.map((vi, i) => v.filter((vj, j) => vj > vi || (vj === vi && j < i)).length);
        const z = v.map((vi, i) => (rank[i] < K ? vi + (i < k - 1 ? theta[i * (d + 1)] : 0) : -Infinity));
        const mx = Math.max(...z);
        const lse = mx + Math.log(z.reduce((a, zi) => a + Math.exp(zi - mx), 0));
        for (let i = 0; i < k; i++) {
          const l = z[i] - lse;
          if (l === -Infinity) expect(out[t * k + i]).toBe(-Infinity);
          else {
            expect(out[t * k + i]).toBeCloseTo(l, 13);
            Qnaive += W[t * k + i] * l;
          }
        }
      }
      // the Newton objective with weights on non-selected experts skipped (lenient pass)
      const Q = (gate as unknown as { probs: (th: Float64Array, X: Float64Array, n: number, W: Float64Array, strict: boolean) => number }).probs(theta, X, n, W, false);
      expect(Q).toBeCloseTo(Qnaive, 9);
      const strictQ = (gate as unknown as { probs: (th: Float64Array, X: Float64Array, n: number, W: Float64Array, strict: boolean) => number }).probs(theta, X, n, W, true);
      expect(strictQ).toBe(K === k ? Q : -Infinity);
    }
  });

  it('ties in β₁ᵀx go to the lower index, and the bias does not enter the selection', () => {
    // v = (1, 1, 0) at x = 1, K = 1: expert 0 wins the tie although expert 1 has the larger bias
    const gate = new TopKGate(3, 1, 1);
    const theta = gate.paramsFromJSON({ type: 'topK', K: 1, beta0: [0, 5, 9], beta1: [[1], [1], [0]] });
    const out = new Float64Array(3);
    gate.logWeights(theta, Float64Array.of(1), 1, out);
    expect(Array.from(out)).toEqual([0, -Infinity, -Infinity]);
  });

  it.each([[4, 2, 2], [5, 3, 1], [3, 1, 3], [4, 4, 2]])('weights sum to 1 with exactly K non-zero (k=%i, K=%i, d=%i)', (k, K, d) => {
    const rng = new Rng(10 + k + K);
    const gate = new TopKGate(k, d, K);
    const theta = new Float64Array(gate.nParams).map(() => 2 * rng.normal());
    const n = 300;
    const nz = checkNormalised(gate, theta, uniformX(n, d, rng), n);
    for (let t = 0; t < n; t++) expect(nz[t]).toBe(K);
  });

  it.each([[4, 2, 2], [3, 2, 1], [5, 3, 3]])('gradQ matches finite differences with random signed W (k=%i, K=%i, d=%i)', (k, K, d) => {
    const rng = new Rng(20 + k);
    const gate = new TopKGate(k, d, K);
    const theta = new Float64Array(gate.nParams).map(() => rng.normal());
    const n = 60;
    checkGradQ(gate, theta, uniformX(n, d, rng), n, rng);
  });

  it('M-step (d = 1, selection by the sign of x): exact Hessian, Q never decreases, reaches the maximum', () => {
    const rng = new Rng(30);
    const k = 3;
    const gate = new TopKGate(k, 1, 2);
    const n = 2000;
    const X = uniformX(n, 1, rng);
    const truth = gate.paramsFromJSON({ type: 'topK', K: 2, beta0: [0.3, -0.2, 0], beta1: [[2], [-1.5], [0]] });
    const R = softTargets(gate, truth, X, n, rng);
    // start near the truth with the same ordering of β₁ (R is zero exactly on the experts inactive
    // there, as after an E-step)
    const start = truth.map((v) => v + 0.05 * rng.normal());
    const theta = checkMStep(gate, start, X, n, R, rng);
    const g = gate as unknown as { X: Float64Array; R: Float64Array; n: number; strict: boolean };
    g.X = X; g.R = R; g.n = n; g.strict = true;
    checkNewtonHessian(gate, theta);
    checkNewtonHessian(gate, start);
  });

  it('M-step with a flat direction (k=4, K=2, d=1: expert 2 is only ever compared with expert 0) converges', () => {
    const rng = new Rng(33);
    const gate = new TopKGate(4, 1, 2);
    const n = 2000;
    const X = uniformX(n, 1, rng);
    const truth = gate.paramsFromJSON({ type: 'topK', K: 2, beta0: [0.3, -0.2, 0.5, 0], beta1: [[2], [-1.5], [0.7], [0]] });
    const R = softTargets(gate, truth, X, n, rng);
    const theta = truth.slice();
    const q0 = gate.objective(theta, X, n, R);
    const info = gate.mStep(theta, X, n, R, { maxIter: 50, tol: 1e-14 });
    expect(info.converged).toBe(true);
    expect(info.iterations).toBeLessThan(20);
    expect(info.objective).toBeGreaterThanOrEqual(q0);
    const g = new Float64Array(gate.nParams);
    gate.gradQ(theta, X, n, R, g);
    for (const v of g) expect(Math.abs(v) / n).toBeLessThan(1e-7);
  });

  it('M-step (d = 2): the selection on the data never changes and Q never decreases', () => {
    const rng = new Rng(32);
    const k = 4;
    const d = 2;
    const gate = new TopKGate(k, d, 2);
    const n = 2000;
    const X = uniformX(n, d, rng);
    const truth = new Float64Array(gate.nParams).map(() => 1.5 * rng.normal());
    const R = softTargets(gate, truth, X, n, rng);
    const theta = truth.slice();
    const q0 = gate.objective(theta, X, n, R);
    const info = gate.mStep(theta, X, n, R, { maxIter: 50, tol: 1e-12 });
    expect(info.objective).toBeGreaterThanOrEqual(q0);
    expect(info.objective).toBeCloseTo(gate.objective(theta, X, n, R), 6);
    const a = new Float64Array(n * k);
    const b = new Float64Array(n * k);
    gate.logWeights(truth, X, n, a);
    gate.logWeights(theta, X, n, b);
    for (let i = 0; i < n * k; i++) expect(a[i] === -Infinity).toBe(b[i] === -Infinity);
  });

  it('M-step from soft labels with weight on non-selected experts (an initialisation): dense softmax fit, then the selected-set objective', () => {
    const rng = new Rng(31);
    const gate = new TopKGate(3, 1, 2);
    const n = 500;
    const X = uniformX(n, 1, rng);
    const R = new Float64Array(n * 3);
    for (let t = 0; t < n; t++) {
      const x = X[t];
      const p = [x > 0 ? 0.8 : 0.1, x < 0 ? 0.8 : 0.1, 0.1];
      for (let i = 0; i < 3; i++) R[t * 3 + i] = p[i];
    }
    const theta = new Float64Array(gate.nParams);
    expect(gate.objective(theta, X, n, R)).toBe(-Infinity);
    const info = gate.mStep(theta, X, n, R, { maxIter: 50, tol: 1e-12 });
    expect(info.iterations).toBeGreaterThan(0);
    for (const v of theta) expect(Number.isFinite(v)).toBe(true);
    // the labels favour expert 0 for x > 0 and expert 1 for x < 0: the fitted gate selects them there
    const lw = new Float64Array(6);
    gate.logWeights(theta, Float64Array.of(0.7, -0.7), 2, lw);
    expect(lw[0]).toBeGreaterThan(-Infinity);
    expect(lw[4]).toBeGreaterThan(-Infinity);
  });

  it('EM cannot change the β₁ ordering (d = 1): data-driven starts need restarts; random restarts reach the maximum found from the truth', () => {
    const { truth, data } = simulateData(TRUTH, 3000, 71, DESIGN);
    const near = fitEM(truth.spec(), data, { init: { type: 'nearTruth', truth }, seed: 1 });
    const rnd = fitEM(truth.spec(), data, { init: { type: 'random' }, restarts: 5, seed: 2 });
    expect(rnd.logLikelihood).toBeGreaterThanOrEqual(near.logLikelihood - 1e-7 * Math.abs(near.logLikelihood));
    // every restart ends at a stationary point of its own selection cell: a few distinct values
    const distinct = new Set(rnd.restartLogLikelihoods.map((v) => v.toFixed(3)));
    expect(distinct.size).toBeGreaterThan(1);
  });

  it('canonical form: translating every (β₁ᵢ, β₀ᵢ) leaves θ, the weights and the density unchanged', () => {
    const { truth, data } = simulateData(TRUTH, 500, 5, DESIGN);
    const json = truth.toJSON();
    const shifted = JSON.parse(JSON.stringify(json)) as ModelJSON;
    const g = shifted.gate as unknown as { beta0: number[]; beta1: number[][] };
    g.beta0 = g.beta0.map((v) => v + 1.7);
    g.beta1 = g.beta1.map((r) => [r[0] - 2.3]);
    const m2 = MixtureOfExperts.fromJSON(shifted);
    expect(relErr(m2.theta, truth.theta)).toBeLessThan(1e-14);
    const ll = truth.logLikelihood(data.X, data.y, data.n);
    expect(Math.abs(m2.logLikelihood(data.X, data.y, data.n) - ll)).toBeLessThan(1e-12 * Math.abs(ll));
    // the shifted parameters define the same weights when evaluated directly (no canonicalisation)
    const raw = new TopKGate(3, 1, 2);
    const p1 = new Float64Array(3);
    const p2 = new Float64Array(3);
    for (const x of [-0.9, -0.2, 0.3, 0.8]) {
      // direct evaluation of the definition with the shifted parameters
      const v = g.beta1.map((r) => r[0] * x);
      const order = [0, 1, 2].sort((i, j) => v[j] - v[i] || i - j).slice(0, 2);
      let s = 0;
      for (const i of order) s += Math.exp(v[i] + g.beta0[i]);
      for (let i = 0; i < 3; i++) p1[i] = order.includes(i) ? Math.exp(v[i] + g.beta0[i]) / s : 0;
      raw.logWeights(truth.gateTheta, Float64Array.of(x), 1, p2);
      for (let i = 0; i < 3; i++) expect(Math.abs(p1[i] - Math.exp(p2[i]))).toBeLessThan(1e-14);
    }
    const before = truth.theta.slice();
    truth.gate.canonicalize(truth.gateTheta);
    expect(Array.from(truth.theta)).toEqual(Array.from(before));
  });

  it('JSON round trip, CLI spec and validation', () => {
    expect(parseGateSpec('topk:2')).toEqual({ type: 'topK', K: 2 });
    expect(() => parseGateSpec('topk')).toThrow(OptionError);
    expect(() => parseGateSpec('topk:0')).toThrow(OptionError);
    expect(() => gateFactory('topK').create({ type: 'topK', K: 4 }, 3, 1)).toThrow(ModelFormatError);
    const m = MixtureOfExperts.fromJSON(TRUTH);
    const again = MixtureOfExperts.fromJSON(JSON.parse(JSON.stringify(m.toJSON())));
    expect(Array.from(again.theta)).toEqual(Array.from(m.theta));
    expect(m.toJSON().gate).toEqual({ type: 'topK', K: 2, beta0: [0.5, -0.5, 0], beta1: [[3], [-3], [0]] });
  });

  it('seeded sampling matches the weights (χ² on 1e5 draws) and never draws an inactive expert', () => {
    const m = MixtureOfExperts.fromJSON(TRUTH);
    checkSampling(m, [0.3], 41);
    checkSampling(m, [-0.6], 42);
    checkSampling(oracleModel(2), [1], 43);
  });

  it('sampleExperts draws from the gate weights (χ² on 1e5 draws, never a non-selected expert)', () => {
    const m = MixtureOfExperts.fromJSON(TRUTH);
    const n = 100_000;
    const X = new Float64Array(n).fill(-0.4);
    const z = sampleExperts(m.gate, m.gateTheta, X, n, new Rng(44));
    const counts = [0, 0, 0];
    for (const i of z) counts[i]++;
    const p = m.gateProbabilities(Float64Array.of(-0.4), 1);
    expect(p[0]).toBe(0);
    expect(counts[0]).toBe(0);
    const chi2 = ((counts[1] - n * p[1]) ** 2) / (n * p[1]) + ((counts[2] - n * p[2]) ** 2) / (n * p[2]);
    expect(chi2).toBeLessThan(15.137); // χ²₁ quantile 1 − 1e-4
  });

  it('plain EM never decreases the log-likelihood', () => {
    checkEMMonotone(TRUTH, 3000, 51, DESIGN, 0.3);
  });

  it('recovers the truth at n = 5e4 within 4.5 asymptotic standard errors (nearTruth start)', () => {
    checkRecovery(TRUTH, 50_000, 61, DESIGN);
  });
});
