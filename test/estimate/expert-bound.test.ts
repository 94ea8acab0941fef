import { describe, it, expect } from 'vitest';
import { fitEM, EMWorkspace, logLikelihoodGradient } from '../../src/estimate/em.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { Rng } from '../../src/numeric/rng.js';
import { OptionError } from '../../src/errors.js';
import { simulate } from '../helpers.js';

// EMOptions.expertBound (compact Θ for the experts, math-spec §1.2 A.3): multinomial-logistic experts
// on data whose classes are split perfectly by x, where the unbounded MLE does not exist (separation)
const TRUTH: ModelJSON = {
  gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[-1], [0]] },
  experts: { type: 'multinomialLogistic', classes: 3, a: [[1, 0, 0], [0, 1, 0]], b: [[[2], [-1], [0]], [[-2], [1], [0]]] },
};

function separable(n: number, seed: number): { X: Float64Array; y: Float64Array; n: number; d: number } {
  const rng = new Rng(seed);
  const X = new Float64Array(n);
  const y = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    X[t] = 2 * rng.uniform() - 1;
    y[t] = X[t] < -0.3 ? 0 : X[t] < 0.4 ? 1 : 2; // the class is a step function of x
  }
  return { X, y, n, d: 1 };
}

const maxAbs = (v: Float64Array): number => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

describe('expertBound: compact Θ for multinomial-logistic experts in EM', () => {
  const data = separable(600, 5);
  const truth = MixtureOfExperts.fromJSON(TRUTH);
  const spec = truth.spec();
  const start = { type: 'model' as const, model: truth };

  it('separable classes: unbounded coefficients run away; bounded ones stay in the box at a KKT point, ℓ monotone', () => {
    const free = fitEM(spec, data, { init: start, maxIter: 300 });
    const pg = free.model.gate.nParams;
    expect(maxAbs(free.model.theta.subarray(pg))).toBeGreaterThan(1e3);
    const B = 8;
    const boxed = fitEM(spec, data, { init: start, maxIter: 300, expertBound: B });
    const th = boxed.model.theta;
    const e = th.subarray(pg);
    expect(maxAbs(e)).toBeLessThanOrEqual(B);
    let atBound = 0;
    // KKT: interior gradient ≈ 0, a coordinate on the bound has its gradient pointing out of the box
    const ws = new EMWorkspace(boxed.model, data.n);
    const g = new Float64Array(th.length);
    const ll = logLikelihoodGradient(boxed.model, th, data, ws, g);
    expect(ll).toBeCloseTo(boxed.logLikelihood, 6);
    for (let i = 0; i < th.length; i++) {
      if (i >= pg && Math.abs(th[i]) === B) {
        atBound++;
        expect(g[i] * Math.sign(th[i]), `θ[${i}] = ${th[i]}`).toBeGreaterThan(0);
      } else {
        expect(Math.abs(g[i]) / data.n, `θ[${i}] = ${th[i]}`).toBeLessThan(1e-5);
      }
    }
    expect(atBound).toBeGreaterThan(0);
    expect(boxed.converged, boxed.warnings.join('; ')).toBe(true);
    for (let t = 1; t < boxed.trace.length; t++) expect(boxed.trace[t]).toBeGreaterThanOrEqual(boxed.trace[t - 1] - 1e-9 * Math.abs(boxed.trace[t - 1]));
    expect(boxed.logLikelihood).toBeLessThan(free.logLikelihood);
  });

  it('a non-binding bound (1e6) gives the same bytes as no bound (x is not standardised with a box)', () => {
    const sim = simulate(TRUTH, 3000, 9, -2, 2);
    const d = { X: sim.X, y: sim.y, n: sim.n, d: sim.d };
    const plain = fitEM(spec, d, { init: start, standardize: false });
    const wide = fitEM(spec, d, { init: start, expertBound: 1e6 });
    expect(maxAbs(plain.model.theta)).toBeLessThan(1e3);
    expect(Buffer.from(wide.model.theta.buffer).equals(Buffer.from(plain.model.theta.buffer))).toBe(true);
    expect(wide.logLikelihood).toBe(plain.logLikelihood);
    expect(wide.trace).toEqual(plain.trace);
    expect(wide.iterations).toBe(plain.iterations);
    // with a gate box x is already not standardised: adding a wide expert box changes nothing
    const g = fitEM(spec, d, { init: start, gateBound: 50 });
    const ge = fitEM(spec, d, { init: start, gateBound: 50, expertBound: 1e6 });
    expect(Buffer.from(ge.model.theta.buffer).equals(Buffer.from(g.model.theta.buffer))).toBe(true);
  });

  it('refuses bad values and families that cannot honour it, in one line naming expertBound', () => {
    expect(() => fitEM(spec, data, { expertBound: -1 })).toThrow(/^expertBound: must be a finite number > 0/);
    expect(() => fitEM(spec, data, { expertBound: Infinity })).toThrow(/^expertBound: /);
    const g = simulate(AUTHORS_TRUTH, 200, 3);
    const gauss = MixtureOfExperts.fromJSON(AUTHORS_TRUTH).spec();
    let err: unknown;
    try {
      fitEM(gauss, { X: g.X, y: g.y, n: g.n, d: g.d }, { expertBound: 10 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OptionError);
    expect((err as Error).message).toMatch(/^expertBound: the gaussianLinear experts do not support a parameter box/);
    expect((err as Error).message).not.toMatch(/\n/);
  });
});
