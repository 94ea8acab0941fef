import { describe, it, expect } from 'vitest';
import { SoftmaxGate, LinearSoftmaxCore } from '../../src/gates/softmax.js';
import { Rng } from '../../src/numeric/rng.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { fdGradient, relMaxDiff, randomWeights } from '../helpers.js';

function randomInputs(n: number, d: number, rng: Rng): Float64Array {
  const X = new Float64Array(n * d);
  for (let i = 0; i < n * d; i++) X[i] = 2 * rng.uniform() - 1;
  return X;
}

const shapes: [number, number][] = [[2, 1], [3, 1], [3, 2], [4, 3]];

describe('softmax gate', () => {
  it.each(shapes)('weights are normalised (k=%i, d=%i)', (k, d) => {
    const rng = new Rng(1);
    const gate = new SoftmaxGate(k, d);
    const theta = new Float64Array(gate.nParams).map(() => 3 * rng.normal());
    const n = 50;
    const out = new Float64Array(n * k);
    gate.logWeights(theta, randomInputs(n, d, rng), n, out);
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let i = 0; i < k; i++) s += Math.exp(out[t * k + i]);
      expect(s).toBeCloseTo(1, 13);
    }
  });

  it.each(shapes)('gradQ matches finite differences with signed weights (k=%i, d=%i)', (k, d) => {
    const rng = new Rng(2);
    const gate = new SoftmaxGate(k, d);
    const n = 40;
    const X = randomInputs(n, d, rng);
    const W = randomWeights(n, k, rng, true);
    const theta = new Float64Array(gate.nParams).map(() => rng.normal());
    const Q = (th: Float64Array): number => {
      const lw = new Float64Array(n * k);
      gate.logWeights(th, X, n, lw);
      let s = 0;
      for (let i = 0; i < n * k; i++) s += W[i] * lw[i];
      return s;
    };
    const g = new Float64Array(gate.nParams);
    gate.gradQ(theta, X, n, W, g);
    expect(relMaxDiff(g, fdGradient(Q, theta))).toBeLessThan(1e-7);
    // per-row terms sum to gradQ
    const rows = new Float64Array(n * gate.nParams);
    gate.rowGradQ(theta, X, n, W, rows);
    const sum = new Float64Array(gate.nParams);
    for (let t = 0; t < n; t++) for (let j = 0; j < gate.nParams; j++) sum[j] += rows[t * gate.nParams + j];
    expect(relMaxDiff(sum, g)).toBeLessThan(1e-12);
  });

  it.each(shapes)('Newton M-step reaches the maximum and never decreases Q (k=%i, d=%i)', (k, d) => {
    const rng = new Rng(3);
    const core = new LinearSoftmaxCore(k, d);
    const n = 400;
    const X = randomInputs(n, d, rng);
    // soft targets from a random "true" gate plus noise, so the optimum is finite
    const truth = new Float64Array(core.nParams).map(() => 2 * rng.normal());
    const R = new Float64Array(n * k);
    core.logWeights(truth, X, n, R);
    for (let t = 0; t < n; t++) {
      let s = 0;
      for (let i = 0; i < k; i++) { R[t * k + i] = Math.exp(R[t * k + i]) * (0.5 + rng.uniform()); s += R[t * k + i]; }
      for (let i = 0; i < k; i++) R[t * k + i] /= s;
    }
    const Q = (th: Float64Array): number => {
      const lw = new Float64Array(n * k);
      core.logWeights(th, X, n, lw);
      let s = 0;
      for (let i = 0; i < n * k; i++) s += R[i] * lw[i];
      return s;
    };
    const theta = new Float64Array(core.nParams);
    const q0 = Q(theta);
    let prev = q0;
    // one Newton iteration at a time: Q never decreases
    for (let it = 0; it < 30; it++) {
      const info = core.mStep(theta, X, n, R, { maxIter: 1, tol: 1e-14 });
      const q = Q(theta);
      expect(q).toBeGreaterThanOrEqual(prev - 1e-9 * Math.abs(prev));
      prev = q;
      if (info.converged) break;
    }
    expect(prev).toBeGreaterThan(q0);
    // stopped by the Newton decrement: further iterations gain less than 1e-10·|Q| …
    const polished = theta.slice();
    core.mStep(polished, X, n, R, { maxIter: 5, tol: 0 });
    expect(Q(polished) - prev).toBeLessThan(1e-10 * Math.abs(prev));
    // … and the maximiser has a vanishing gradient (to rounding: |Q| ≈ 400)
    const g = new Float64Array(core.nParams);
    core.gradQ(polished, X, n, R, g);
    for (const v of g) expect(Math.abs(v)).toBeLessThan(1e-7);
  });

  it('the canonical form pins the last expert; translating all (β₁, β₀) leaves the density unchanged', () => {
    const base = {
      gate: { type: 'softmax', beta0: [-8, 0], beta1: [[25], [0]] },
      experts: { type: 'gaussianLinear', a: [[-20], [20]], b: [15, -5], variance: [0.09, 0.16] },
    };
    const shifted = { ...base, gate: { type: 'softmax', beta0: [-8 + 1.7, 1.7], beta1: [[25 - 3.2], [-3.2]] } };
    const m1 = MixtureOfExperts.fromJSON(base);
    const m2 = MixtureOfExperts.fromJSON(shifted);
    const X = new Float64Array([0, 0.1, 0.32, 0.5, 0.9, 1]);
    const y = new Float64Array([-5, 14, 5, 4, 0, 15]);
    expect(m2.logLikelihood(X, y, 6)).toBeCloseTo(m1.logLikelihood(X, y, 6), 10);
    expect(m2.toJSON().gate).toEqual(m1.toJSON().gate);
    // the authors' truth gate: π₁(0.32) = 1/2 and π₁(0) = 3.3535e−4 (math-spec §8.1 oracles)
    const P = m1.gateProbabilities(new Float64Array([0.32, 0, 0.5, 1]), 4);
    expect(P[0]).toBeCloseTo(0.5, 12);
    expect(P[2]).toBeCloseTo(3.3535e-4, 8);
    expect(P[4]).toBeCloseTo(0.98901, 5);
    expect(P[6]).toBeCloseTo(0.99999996, 8);
  });
});
