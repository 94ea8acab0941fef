import { describe, it, expect } from 'vitest';
import { MixtureOfExperts } from '../../src/model/model.js';
import { sampleX } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';
import { lseObjective, LSEWorkspace } from '../../src/estimate/lse.js';
import { hasAnalyticHessian, lseHessian, LSEHessianWorkspace } from '../../src/estimate/lse-hessian.js';

// The one-pass exact Hessian of S/2 (softmax gate × regression experts) against central
// differences of the analytic gradient, k = 3, d = 2, away from any optimum (e_t ≠ 0 matters).
describe('lseHessian', () => {
  for (const [activation, outputWeight] of [['gelu', false], ['linear', false], ['sigmoid', false], ['tanh', true]] as const) {
    it(`${activation}${outputWeight ? ' with c' : ''} experts: ∇²(S/2) = central differences of ½∇S; Jᵀe = −½∇S; S agrees`, () => {
      const truth = MixtureOfExperts.fromJSON({
        gate: { type: 'softmax', beta0: [-0.5, 0.3, 0], beta1: [[3, 1], [-1, 0.5], [0, 0]] },
        experts: { type: 'regression', activation, ...(outputWeight ? { outputWeight: true, c: [1.5, -1, 0.7] } : {}), a: [[2, 1], [-3, 0.2], [1, 1]], b: [1, 0.5, -0.3], noiseVariance: 0.04 },
      });
      expect(hasAnalyticHessian(truth)).toBe(true);
      const rng = new Rng(5);
      const n = 200;
      const X = sampleX({ type: 'uniform', low: -2, high: 2 }, n, 2, rng.split('x'));
      const data = { X, y: truth.sample(X, n, rng.split('y')).y, n, d: 2 };
      const th = truth.theta.map((v, i) => v + 0.3 * Math.sin(i + 1));
      const p = th.length;
      const H = new Float64Array(p * p);
      const b = new Float64Array(p);
      const s = lseHessian(truth, th, data, new LSEHessianWorkspace(truth, n), H, b);
      const ws = new LSEWorkspace(truth, n);
      const g0 = new Float64Array(p);
      expect(s).toBeCloseTo(lseObjective(truth, th, data, ws, g0), 9);
      let scale = 0;
      for (let i = 0; i < p * p; i++) scale = Math.max(scale, Math.abs(H[i]));
      for (let j = 0; j < p; j++) {
        expect(b[j]).toBeCloseTo(-0.5 * g0[j], 9);
        const step = 1e-5;
        const tp = th.slice();
        tp[j] += step;
        const tm = th.slice();
        tm[j] -= step;
        const gp = new Float64Array(p);
        const gm = new Float64Array(p);
        lseObjective(truth, tp, data, ws, gp);
        lseObjective(truth, tm, data, ws, gm);
        for (let i = 0; i < p; i++) expect(Math.abs((gp[i] - gm[i]) / (4 * step) - H[i * p + j])).toBeLessThan(1e-7 * scale);
      }
    });
  }
  it('applies to the softmax gate with regression experts only', () => {
    const m = MixtureOfExperts.fromJSON({ gate: { type: 'modified', map: 'sin', beta0: [0, 0], beta1: [[1], [0]] }, experts: { type: 'regression', activation: 'gelu', a: [[1], [2]], b: [0, 0], noiseVariance: 0.1 } });
    expect(hasAnalyticHessian(m)).toBe(false);
  });
});
