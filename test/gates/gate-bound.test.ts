import { describe, it, expect } from 'vitest';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { sampleX } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';
import { EMWorkspace, eStep } from '../../src/estimate/em-step.js';
import { fitEM } from '../../src/estimate/em.js';

// Compact Θ for every gate (issue 15, item 3): the gate M-step with a box |θ_i| ≤ B is projected
// Newton; at its result the KKT conditions of the box hold: a coordinate strictly inside has zero
// gradient, a coordinate on the bound has a gradient pointing out of the box.
const EXPERTS2 = { type: 'gaussianLinear', a: [[-4], [4]], b: [2, -2], variance: [0.09, 0.16] };
const CASES: { name: string; truth: ModelJSON; x: { low: number; high: number }; B: number }[] = [
  { name: 'topK', x: { low: -1, high: 1 }, B: 1.5, truth: { gate: { type: 'topK', K: 2, beta0: [0.5, -0.5, 0], beta1: [[3], [-3], [0]] }, experts: { type: 'gaussianLinear', a: [[2], [-2], [1]], b: [1, 1, -2], variance: [0.1, 0.1, 0.15] } } },
  { name: 'denseToSparse (τ estimated)', x: { low: -1, high: 1 }, B: 4, truth: { gate: { type: 'denseToSparse', tau: 0.2, beta0: [-0.2, 0], beta1: [[2], [0]] }, experts: EXPERTS2 } },
  { name: 'denseToSparse (τ fixed)', x: { low: -1, high: 1 }, B: 1, truth: { gate: { type: 'denseToSparse', tau: 0.2, fixedTau: true, beta0: [-0.2, 0], beta1: [[2], [0]] }, experts: EXPERTS2 } },
  { name: 'activation (tanh)', x: { low: -1, high: 1 }, B: 1, truth: { gate: { type: 'activation', sigma: 'tanh', bias: 'outside', tau: 0.2, beta0: [-1, 0], beta1: [[2], [0]] }, experts: EXPERTS2 } },
  { name: 'hierarchical 2×2', x: { low: 0, high: 1 }, B: 6, truth: { gate: { type: 'hierarchical', K1: 2, K2: 2, omega0: [-5, 0], omega1: [[10], [0]], beta0: [[-7.5, 0], [-2.5, 0]], beta1: [[[10], [0]], [[10], [0]]] }, experts: { type: 'gaussianLinear', a: [[-4], [4], [-4], [4]], b: [8, -4, 6, 0], variance: [0.09, 0.16, 0.09, 0.16] } } },
];

function simulate(json: ModelJSON, n: number, seed: number, x: { low: number; high: number }): { truth: MixtureOfExperts; X: Float64Array; y: Float64Array; n: number } {
  const truth = MixtureOfExperts.fromJSON(json);
  const rng = new Rng(seed);
  const X = sampleX({ type: 'uniform', ...x }, n, 1, rng.split('x'));
  return { truth, X, y: truth.sample(X, n, rng.split('y')).y, n };
}

describe('gateBound (compact Θ) for every gate', () => {
  for (const c of CASES) {
    it(`${c.name}: the M-step stays in the box and meets the KKT conditions; fitEM keeps the box`, () => {
      const { truth, X, y, n } = simulate(c.truth, 3000, 7, c.x);
      const gate = truth.gate;
      expect(gate.supportsBound).toBe(true);
      const ws = new EMWorkspace(truth, n);
      eStep(truth, truth.theta, { X, y, n, d: 1 }, ws);
      const free = truth.theta.slice(0, gate.nParams);
      gate.mStep(free, X, n, ws.R, { maxIter: 100, tol: 1e-13 });
      expect(Math.max(...Array.from(free, Math.abs))).toBeGreaterThan(c.B); // the bound binds
      // started inside the box, as fitEM starts (clipped)
      const boxed = truth.theta.slice(0, gate.nParams).map((v) => Math.min(c.B, Math.max(-c.B, v)));
      const info = gate.mStep(boxed, X, n, ws.R, { maxIter: 200, tol: 1e-13, bound: c.B });
      expect(Number.isFinite(info.objective)).toBe(true);
      const g = new Float64Array(gate.nParams);
      gate.gradQ(boxed, X, n, ws.R, g);
      let atBound = 0;
      for (let i = 0; i < gate.nParams; i++) {
        expect(Math.abs(boxed[i])).toBeLessThanOrEqual(c.B * (1 + 1e-12));
        if (Math.abs(boxed[i]) >= c.B * (1 - 1e-12)) {
          atBound++;
          expect(g[i] * Math.sign(boxed[i])).toBeGreaterThanOrEqual(-1e-6 * n);
        } else {
          expect(Math.abs(g[i])).toBeLessThan(1e-4 * n);
        }
      }
      expect(atBound).toBeGreaterThan(0);
      const fit = fitEM({ ...truth.spec(), k: truth.k }, { X, y, n, d: 1 }, { init: { type: 'nearTruth', truth }, seed: 3, gateBound: c.B });
      for (const v of fit.model.theta.subarray(0, fit.model.gate.nParams)) expect(Math.abs(v)).toBeLessThanOrEqual(c.B * (1 + 1e-12));
    });
  }
});
