import { describe, it, expect } from 'vitest';
import { fitLSE, lseObjective, LSEWorkspace } from '../../src/estimate/lse.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { sampleX, type Dataset } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';
import { OptionError } from '../../src/errors.js';
import { LSETuningSchema } from '../../src/estimate/options.js';

// Compact Θ for least squares (issue 15 item 3, issue 16 item 5; math-spec §1.2 A.3): with
// `gateBound` B both solvers are projected; at their result the KKT conditions of the box hold —
// a gate coordinate strictly inside has ∂SSE/∂θ ≈ 0, one on the bound has ∂SSE/∂θ pointing out of
// the box (SSE would fall only by leaving it) — and every gate coordinate stays in [−B, B].
const GELU2 = { type: 'regression', activation: 'gelu', a: [[2], [-3]], b: [1, 0.5], noiseVariance: 0.04 };
const CASES: { name: string; truth: ModelJSON; x: { low: number; high: number }; B: number; n?: number; lbfgsTol?: number }[] = [
  { name: 'softmax', x: { low: -3, high: 3 }, B: 1.5, truth: { gate: { type: 'softmax', beta0: [-0.5, 0], beta1: [[3], [0]] }, experts: GELU2 } },
  { name: 'denseToSparse (τ estimated)', x: { low: -1, high: 1 }, B: 4, truth: { gate: { type: 'denseToSparse', tau: 0.2, beta0: [-0.2, 0], beta1: [[2], [0]] }, experts: GELU2 } },
  { name: 'denseToSparse (τ fixed)', x: { low: -1, high: 1 }, B: 1, truth: { gate: { type: 'denseToSparse', tau: 0.2, fixedTau: true, beta0: [-0.2, 0], beta1: [[2], [0]] }, experts: GELU2 } },
  { name: 'activation (tanh)', x: { low: -1, high: 1 }, B: 1, truth: { gate: { type: 'activation', sigma: 'tanh', bias: 'outside', tau: 0.2, beta0: [-1, 0], beta1: [[2], [0]] }, experts: GELU2 } },
  { name: 'modified', x: { low: -1, high: 1 }, B: 1.5, truth: { gate: { type: 'modified', map: 'sin', beta0: [-0.5, 0], beta1: [[3], [0]] }, experts: GELU2 } },
  {
    name: 'hierarchical 2×2', x: { low: 0, high: 1 }, B: 6, n: 400, lbfgsTol: 1e-3, // L-BFGS crawls on this ill-conditioned gate (Levenberg–Marquardt meets 1e-7)
   
    truth: {
      gate: { type: 'hierarchical', K1: 2, K2: 2, omega0: [-5, 0], omega1: [[10], [0]], beta0: [[-7.5, 0], [-2.5, 0]], beta1: [[[10], [0]], [[10], [0]]] },
      experts: { type: 'regression', activation: 'gelu', a: [[-4], [4], [-4], [4]], b: [8, -4, 6, 0], noiseVariance: 0.04 },
    },
  },
];

function simulate(json: ModelJSON, n: number, seed: number, x: { low: number; high: number }): { truth: MixtureOfExperts; data: Dataset } {
  const truth = MixtureOfExperts.fromJSON(json);
  const rng = new Rng(seed);
  const X = sampleX({ type: 'uniform', ...x }, n, 1, rng.split('x'));
  return { truth, data: { X, y: truth.sample(X, n, rng.split('y')).y, n, d: 1 } };
}

/** Check the KKT conditions of min SSE on |θ_G,i| ≤ B at the fitted model; returns the number of gate coordinates on the bound. */
function expectKKT(model: MixtureOfExperts, data: Dataset, B: number, tol: number): number {
  const g = new Float64Array(model.nParams);
  lseObjective(model, model.theta, data, new LSEWorkspace(model, data.n), g);
  const pg = model.gate.nParams;
  let atBound = 0;
  for (let i = 0; i < model.nParams; i++) {
    const v = model.theta[i];
    const gi = g[i] / data.n; // ∂MSE/∂θ_i
    if (i < pg) expect(Math.abs(v)).toBeLessThanOrEqual(B * (1 + 1e-12));
    if (i < pg && Math.abs(v) >= B * (1 - 1e-12)) {
      atBound++;
      expect(-gi * Math.sign(v)).toBeGreaterThanOrEqual(-tol); // descent −∇ points out of the box
    } else {
      expect(Math.abs(gi)).toBeLessThan(tol);
    }
  }
  return atBound;
}

describe('fitLSE gateBound (compact Θ) under every gate', () => {
  for (const c of CASES) {
    it(`${c.name}: the bound binds; Levenberg–Marquardt and L-BFGS stay in the box and meet the KKT conditions`, () => {
      const { truth, data } = simulate(c.truth, c.n ?? 2000, 11, c.x);
      const pg = truth.gate.nParams;
      expect(Math.max(...Array.from(truth.theta.subarray(0, pg), Math.abs))).toBeGreaterThan(c.B); // the truth lies outside the box
      const spec = { ...truth.spec(), k: truth.k };
      const lm = fitLSE(spec, data, { init: { type: 'nearTruth', truth }, seed: 3, gateBound: c.B });
      expect(lm.converged).toBe(true);
      expect(expectKKT(lm.model, data, c.B, 1e-7)).toBeGreaterThan(0);
      expect(lm.gradientNorm).toBeLessThan(1e-7); // the reported norm is the KKT one
      const lb = fitLSE(spec, data, { init: { type: 'nearTruth', truth }, seed: 3, gateBound: c.B, solver: 'lbfgs', maxIter: 1500 });
      expect(expectKKT(lb.model, data, c.B, c.lbfgsTol ?? 1e-5)).toBeGreaterThan(0);
      // both solvers find the same constrained minimum here (to the accuracy of L-BFGS's stop)
      expect(lm.sse).toBeLessThanOrEqual(lb.sse * (1 + 1e-12));
      if (c.lbfgsTol === undefined) expect((lb.sse - lm.sse) / lm.sse).toBeLessThan(1e-4);
      // the box costs fit: the constrained SSE is not below the unconstrained one
      const free = fitLSE(spec, data, { init: { type: 'nearTruth', truth }, seed: 3 });
      expect(lm.sse).toBeGreaterThanOrEqual(free.sse * (1 - 1e-12));
    });
  }

  it('a bound that does not bind leaves both solvers on exactly the unbounded path', () => {
    const { truth, data } = simulate(CASES[0].truth, 800, 4, CASES[0].x);
    const spec = { ...truth.spec(), k: 3 }; // over-specified: a long path
    for (const solver of ['lm', 'lbfgs'] as const) {
      // on the data as given: with gateBound x is not standardised (the box is in the data's units), without it x is
      const a = fitLSE(spec, data, { init: { type: 'nearTruth', truth }, seed: 2, solver, maxIter: 150, standardize: false });
      const b = fitLSE(spec, data, { init: { type: 'nearTruth', truth }, seed: 2, solver, maxIter: 150, gateBound: 1e6, standardize: false });
      expect(Array.from(b.model.theta)).toEqual(Array.from(a.model.theta));
      expect(b.sse).toBe(a.sse);
      expect(b.iterations).toBe(a.iterations);
    }
  });

  it('a start outside the box is clipped onto it; the fit never leaves it (over-specified, k = 3)', () => {
    const { truth, data } = simulate(CASES[0].truth, 1500, 5, CASES[0].x);
    const r = fitLSE({ ...truth.spec(), k: 3 }, data, { init: { type: 'nearTruth', truth }, seed: 2, gateBound: 2, maxIter: 500 });
    expect(r.sse).toBeLessThanOrEqual(r.trace[0] + 1e-9);
    for (const v of r.model.theta.subarray(0, r.model.gate.nParams)) expect(Math.abs(v)).toBeLessThanOrEqual(2);
  });

  it('gateBound is validated once by the options schema (fitLSE and study settings)', () => {
    const { truth, data } = simulate(CASES[0].truth, 200, 6, CASES[0].x);
    for (const bad of [0, -1, Infinity, Number.NaN]) {
      expect(() => fitLSE(truth.spec(), data, { gateBound: bad })).toThrow(OptionError);
      expect(() => fitLSE(truth.spec(), data, { gateBound: bad })).toThrow(/^gateBound: must be a finite number > 0/);
    }
    expect(LSETuningSchema.safeParse({ gateBound: 10 }).success).toBe(true);
    expect(LSETuningSchema.safeParse({ gateBound: -3 }).success).toBe(false);
  });

  it('timeLimit stops both solvers with LSE_TIME_LIMIT and converged false, keeping the best point so far', () => {
    const { truth, data } = simulate(CASES[0].truth, 1500, 8, CASES[0].x);
    for (const solver of ['lm', 'lbfgs'] as const) {
      const r = fitLSE({ ...truth.spec(), k: 3 }, data, { init: { type: 'nearTruth', truth }, seed: 2, solver, timeLimit: 1e-6 });
      expect(r.converged).toBe(false);
      expect(r.warnings.map((w) => w.code)).toEqual(['LSE_TIME_LIMIT']);
      expect(r.warnings[0].details).toMatchObject({ timeLimit: 1e-6 });
      expect(r.sse).toBeLessThanOrEqual(r.trace[0] + 1e-9);
    }
    expect(() => fitLSE(truth.spec(), data, { timeLimit: 0 })).toThrow(/^timeLimit: must be a finite number > 0/);
  });

  it('expertBound: the expert coefficients stay in their box and meet the KKT conditions (both solvers); with gateBound both blocks', () => {
    const { truth, data } = simulate(CASES[0].truth, 2000, 12, CASES[0].x);
    const pg = truth.gate.nParams;
    const BE = 2.5; // the true a₂ = −3 lies outside
    for (const solver of ['lm', 'lbfgs'] as const) {
      const r = fitLSE(truth.spec(), data, { init: { type: 'nearTruth', truth }, seed: 3, solver, expertBound: BE, gateBound: 2, maxIter: 3000 });
      const g = new Float64Array(r.model.nParams);
      lseObjective(r.model, r.model.theta, data, new LSEWorkspace(r.model, data.n), g);
      let onExpertBound = 0;
      for (let i = 0; i < r.model.nParams; i++) {
        const B = i < pg ? 2 : BE;
        const v = r.model.theta[i];
        const gi = g[i] / data.n;
        expect(Math.abs(v)).toBeLessThanOrEqual(B * (1 + 1e-12));
        if (Math.abs(v) >= B * (1 - 1e-12)) {
          if (i >= pg) onExpertBound++;
          expect(-gi * Math.sign(v)).toBeGreaterThanOrEqual(-1e-6);
        } else {
          expect(Math.abs(gi)).toBeLessThan(solver === 'lm' ? 1e-7 : 1e-5);
        }
      }
      expect(onExpertBound).toBeGreaterThan(0);
    }
    expect(() => fitLSE(truth.spec(), data, { expertBound: -1 })).toThrow(/^expertBound: must be a finite number > 0/);
  });

  it('expertBound is a box in the data\'s units: x and y are not standardised under it (linear and GELU experts, scaled data)', () => {
    for (const activation of ['linear', 'gelu'] as const) {
      const truth = MixtureOfExperts.fromJSON({ gate: { type: 'softmax', beta0: [0, 0], beta1: [[4], [0]] }, experts: { type: 'regression', activation, a: [[2], [-2]], b: [1, 0], noiseVariance: 0.01 } });
      const rng = new Rng(3);
      const n = 2000;
      const X = sampleX({ type: 'uniform', low: -1, high: 1 }, n, 1, rng.split('x'));
      const { y } = truth.sample(X, n, rng.split('y'));
      // y × 100 for linear experts (the family scales y); x × 0.1 for both (the slopes scale by 10)
      const cy = activation === 'linear' ? 100 : 1;
      const data: Dataset = { X: X.map((v) => v * 0.1), y: y.map((v) => v * cy), n, d: 1 };
      const B = 5;
      const r = fitLSE(truth.spec(), data, { init: { type: 'kmeans++' }, seed: 2, expertBound: B, maxIter: 3000 });
      const pg = r.model.gate.nParams;
      const coef = Array.from(r.model.theta.subarray(pg));
      expect(Math.max(...coef.map(Math.abs))).toBeLessThanOrEqual(B * (1 + 1e-12));
      expect(coef.some((v) => Math.abs(v) >= B * (1 - 1e-9))).toBe(true); // the box binds (true slopes are 20 on this x)
    }
  });
});
