import { describe, it, expect } from 'vitest';
import { fitEM, runEM, EMWorkspace, eStep, logLikelihoodGradient } from '../../src/estimate/em.js';
import { lbfgsFinish } from '../../src/estimate/finish.js';
import { loadStudy } from '../../src/study/config.js';
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
    const sim = simulate(TRUTH, 1000, 9, -2, 2);
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

  it('the L-BFGS finish keeps the expert box: trial points clipped, held coordinates, never a lower ℓ', () => {
    const B = 8;
    // plain EM stopped early, then the finish alone from there (the box already active)
    const em = runEM(truth, truth.theta, data, { accelerate: 'none', polish: false, maxIter: 30, expertBound: B });
    const pg = truth.gate.nParams;
    const e0 = em.theta.subarray(pg);
    expect(e0.some((v) => Math.abs(v) === B)).toBe(true);
    const ws = new EMWorkspace(truth, data.n);
    ws.expertBound = B;
    const ll0 = eStep(truth, em.theta, data, ws);
    expect(ll0).toBe(em.ll);
    const fin = lbfgsFinish(truth, em.theta, ll0, data, ws, { gtol: 1e-9, maxIter: 100, trust: 1, round: 10 });
    expect(fin.iterations).toBeGreaterThan(0);
    expect(fin.ll).toBeGreaterThan(ll0);
    expect(maxAbs(fin.theta.subarray(pg))).toBeLessThanOrEqual(B);
    // without the box the same finish leaves it (the likelihood rises along the separating direction)
    const wsFree = new EMWorkspace(truth, data.n);
    const llFree = eStep(truth, em.theta, data, wsFree);
    const free = lbfgsFinish(truth, em.theta, llFree, data, wsFree, { gtol: 1e-9, maxIter: 100, trust: 1, round: 10 });
    expect(maxAbs(free.theta.subarray(pg))).toBeGreaterThan(B);
  });

  it('a study setting takes expertBound in options: (the same schema)', () => {
    const yaml = `name: t
seed: 7
truth: ${JSON.stringify(TRUTH)}
x: { type: uniform, low: -1, high: 1 }
n: [200, 400]
replicates: 1
settings:
  - name: s
    k: 2
    gate: softmax
    experts: { type: multinomialLogistic, classes: 3 }
    options: { expertBound: 10 }
    losses: [D1]
`;
    expect(loadStudy(yaml, { source: 'cfg.yaml' }).settings[0].options).toEqual({ expertBound: 10 });
    expect(() => loadStudy(yaml.replace('expertBound: 10', 'expertBound: 0'), { source: 'cfg.yaml' })).toThrow(/settings\[0\]\.options\.expertBound.*> 0/);
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
