/**
 * Generalized EM with an inexact gate M-step (EMOptions.gateInexact): each M-step still increases
 * the gate objective, ℓ never decreases, and fits reach the maximum of the exact M-step.
 */
import { describe, expect, it } from 'vitest';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { sampleX, type Dataset } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';
import { fitEM } from '../../src/estimate/em.js';
import { EMWorkspace, emMap, eStep, mStepSettings } from '../../src/estimate/em-step.js';
import { resolveEMOptions } from '../../src/estimate/options.js';
import { LinearSoftmaxCore } from '../../src/family/linear-softmax.js';
import { OptionError } from '../../src/errors.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';

const TRUTH: ModelJSON = {
  gate: { type: 'softmax', beta0: [0.5, -0.5, 0], beta1: [[4, -3], [-3, 4], [0, 0]] },
  experts: { type: 'gaussianLinear', a: [[2, -1], [-2, 1], [0.5, 3]], b: [1, -1, 4], variance: [0.25, 0.16, 0.36] },
};

function simulate(n: number, seed: number): { truth: MixtureOfExperts; data: Dataset } {
  const truth = MixtureOfExperts.fromJSON(TRUTH);
  const rng = new Rng(seed);
  const X = sampleX({ type: 'uniform', low: -1, high: 1 }, n, 2, rng.split('x'));
  const { y } = truth.sample(X, n, rng.split('y'));
  return { truth, data: { X, y, n, d: 2 } };
}

describe('inexact gate M-step (generalized EM)', () => {
  it('far from the optimum it stops after the given Newton steps, with a gain; near it, it runs to tol', () => {
    const { truth, data } = simulate(2000, 1);
    const ws = new EMWorkspace(truth, data.n);
    eStep(truth, truth.theta, data, ws);
    const core = new LinearSoftmaxCore(3, 2);
    const far = new Float64Array(core.nParams); // slopes and intercepts 0: far from the weighted optimum
    const q0 = core.mStep(far.slice(), data.X, data.n, ws.R, { maxIter: 1, tol: 1e-300 }).objective; // one exact step, for reference
    const th = new Float64Array(core.nParams);
    const inexact = core.mStep(th, data.X, data.n, ws.R, { maxIter: 50, tol: 1e-12, inexact: { steps: 1, above: 1e-6 } });
    expect(inexact.iterations).toBe(1);
    expect(inexact.converged).toBe(false);
    expect(inexact.objective).toBe(q0);
    const exact = core.mStep(new Float64Array(core.nParams), data.X, data.n, ws.R, { maxIter: 50, tol: 1e-12 });
    expect(exact.iterations).toBeGreaterThan(2);
    expect(inexact.objective).toBeLessThan(exact.objective);
    // from near the optimum the gain of one step is below `above`: it goes on to tol, to the same point
    const near = new Float64Array(core.nParams);
    core.mStep(near, data.X, data.n, ws.R, { maxIter: 50, tol: 1e-12 });
    const opt = near.slice();
    for (let i = 0; i < near.length; i++) near[i] += 1e-3;
    const r = core.mStep(near, data.X, data.n, ws.R, { maxIter: 50, tol: 1e-12, inexact: { steps: 1, above: 1e-6 } });
    expect(r.converged).toBe(true);
    for (let i = 0; i < near.length; i++) expect(Math.abs(near[i] - opt[i])).toBeLessThan(1e-8);
  });

  it('after a capped M-step the next one evaluates its trials by Q alone: the same θ bit for bit, and its continuation to tol too', () => {
    const { truth, data } = simulate(2000, 5);
    const ws = new EMWorkspace(truth, data.n);
    eStep(truth, truth.theta, data, ws);
    const opts = { maxIter: 50, tol: 1e-12, inexact: { steps: 1, above: 1e-6 } };
    const warmed = new LinearSoftmaxCore(3, 2);
    expect(warmed.mStep(new Float64Array(warmed.nParams), data.X, data.n, ws.R, opts).iterations).toBe(1); // capped
    for (const shift of [0.5, 1e-3]) { // far (capped again) and near (continues to tol from a Q-only trial)
      const a = new Float64Array(warmed.nParams).fill(shift);
      const b = a.slice();
      const ra = warmed.mStep(a, data.X, data.n, ws.R, opts);
      const rb = new LinearSoftmaxCore(3, 2).mStep(b, data.X, data.n, ws.R, opts);
      expect(a).toEqual(b);
      expect(ra.objective).toBe(rb.objective);
      expect(ra.iterations).toBe(rb.iterations);
    }
  });

  for (const steps of [1, 2]) {
    it(`gateInexact: ${steps}: monotone trace, converged (gradient test), the exact M-step's maximum to 1e-10`, () => {
      const { truth, data } = simulate(3000, 2);
      const start = MixtureOfExperts.fromJSON({ ...TRUTH, gate: { type: 'softmax', beta0: [0, 0, 0], beta1: [[0, 0], [0, 0], [0, 0]] } });
      const exact = fitEM(truth.spec(), data, { init: { type: 'model', model: start } });
      const gem = fitEM(truth.spec(), data, { init: { type: 'model', model: start }, gateInexact: steps });
      expect(exact.converged).toBe(true);
      expect(gem.converged).toBe(true);
      expect(gem.gradientNorm).toBeLessThan(1e-6);
      for (let i = 1; i < gem.trace.length; i++) expect(gem.trace[i]).toBeGreaterThanOrEqual(gem.trace[i - 1] - 1e-12 * Math.abs(gem.trace[i]));
      expect(Math.abs(gem.logLikelihood - exact.logLikelihood)).toBeLessThanOrEqual(1e-10 * Math.abs(exact.logLikelihood));
    });
  }

  it('plain EM with it: the same fixed point, each EM step increases ℓ', () => {
    const { truth, data } = simulate(2000, 3);
    const start = MixtureOfExperts.fromJSON({ ...TRUTH, gate: { type: 'softmax', beta0: [0, 0, 0], beta1: [[0, 0], [0, 0], [0, 0]] } });
    const a = fitEM(truth.spec(), data, { init: { type: 'model', model: start }, accelerate: 'none', gateInexact: 1 });
    const b = fitEM(truth.spec(), data, { init: { type: 'model', model: start }, accelerate: 'none' });
    for (let i = 1; i < a.trace.length; i++) expect(a.trace[i]).toBeGreaterThanOrEqual(a.trace[i - 1] - 1e-12 * Math.abs(a.trace[i]));
    expect(Math.abs(a.logLikelihood - b.logLikelihood)).toBeLessThanOrEqual(1e-10 * Math.abs(b.logLikelihood));
  });

  describe("gateInexactCheck: 'likelihood' (the step is checked by the E-step that follows)", () => {
    const start = (): MixtureOfExperts => MixtureOfExperts.fromJSON({ ...TRUTH, gate: { type: 'softmax', beta0: [0, 0, 0], beta1: [[0, 0], [0, 0], [0, 0]] } });
    for (const accelerate of ['squarem', 'none'] as const) {
      it(`${accelerate}: monotone trace, gradient ≈ 0 at the end, the exact M-step's maximum to 1e-10`, () => {
        const { truth, data } = simulate(3000, 2);
        const exact = fitEM(truth.spec(), data, { init: { type: 'model', model: start() }, accelerate });
        const lik = fitEM(truth.spec(), data, { init: { type: 'model', model: start() }, accelerate, gateInexact: 1, gateInexactCheck: 'likelihood' });
        expect(lik.converged).toBe(true);
        expect(lik.gradientNorm).toBeLessThan(1e-6);
        for (let i = 1; i < lik.trace.length; i++) expect(lik.trace[i]).toBeGreaterThanOrEqual(lik.trace[i - 1]);
        expect(Math.abs(lik.logLikelihood - exact.logLikelihood)).toBeLessThanOrEqual(1e-10 * Math.abs(exact.logLikelihood));
      });
    }

    it("far from the optimum the gate moves by the objective-checked step's θ (same bits) without a pass; a redone map is the objective-checked map", () => {
      const { truth, data } = simulate(2000, 6);
      const model = MixtureOfExperts.fromSpec(truth.spec());
      const theta0 = start().theta.slice();
      const lik = mStepSettings(resolveEMOptions({ gateInexact: 1, gateInexactCheck: 'likelihood' }));
      const checked = mStepSettings(resolveEMOptions({ gateInexact: 1 }));
      const ws = new EMWorkspace(model, data.n);
      const ll0 = eStep(model, theta0, data, ws);
      const a = theta0.slice();
      const llA = emMap(model, a, ll0, data, ws, lik);
      expect(lik.gate.inexact?.defer?.pending).toBe(true); // the step was taken unchecked
      expect(ws.redone).toBe(0);
      expect(llA).toBeGreaterThan(ll0);
      eStep(model, theta0, data, ws);
      const b = theta0.slice();
      const llB = emMap(model, b, ll0, data, ws, checked);
      expect(a).toEqual(b); // α = 1 accepted by the line search: the same θ
      expect(llA).toBe(llB);
      // a map whose ℓ does not reach llFrom (here +∞, as if the unchecked step had lowered ℓ) is redone checked
      eStep(model, theta0, data, ws);
      const c = theta0.slice();
      const llC = emMap(model, c, Infinity, data, ws, lik);
      expect(ws.redone).toBe(1);
      expect(c).toEqual(b);
      expect(llC).toBe(llB);
    });
  });

  it('gateInexactFrom: exact M-steps (the same trace) until a cycle changes ℓ by ≤ that fraction; over-specified fit: the exact maximum to 1e-6', () => {
    // k = 3 on the 2-expert authors' truth (over-specified), n = 2000, k-means++ start
    const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
    const rng = new Rng(2024);
    const X = sampleX({ type: 'uniform', low: 0, high: 1 }, 2000, 1, rng.split('x'));
    const data: Dataset = { X, y: truth.sample(X, 2000, rng.split('y')).y, n: 2000, d: 1 };
    const spec = MixtureOfExperts.fromJSON({ gate: { type: 'softmax', beta0: [0, 0, 0], beta1: [[0], [0], [0]] }, experts: { type: 'gaussianLinear', a: [[0], [0], [0]], b: [0, 0, 0], variance: [1, 1, 1] } }).spec();
    const exact = fitEM(spec, data, { seed: 1 });
    const from = fitEM(spec, data, { seed: 1, gateInexact: 1, gateInexactCheck: 'likelihood', gateInexactFrom: 1e-3 });
    let i = 1;
    while (Math.abs(exact.trace[i] - exact.trace[i - 1]) > 1e-3 * Math.abs(exact.trace[i])) i++;
    expect(i).toBeGreaterThan(1);
    expect(from.trace.slice(0, i + 1)).toEqual(exact.trace.slice(0, i + 1));
    for (let t = 1; t < from.trace.length; t++) expect(from.trace[t]).toBeGreaterThanOrEqual(from.trace[t - 1]);
    expect(exact.converged && from.converged).toBe(true);
    expect(Math.abs(from.logLikelihood - exact.logLikelihood)).toBeLessThanOrEqual(1e-6);
    expect(from.gradientNorm).toBeLessThan(1e-6);
    expect(() => fitEM(spec, data, { gateInexactFrom: 0 })).toThrow(/gateInexactFrom/);
  });

  it('rejects a bad value naming the option', () => {
    const { truth, data } = simulate(200, 4);
    expect(() => fitEM(truth.spec(), data, { gateInexact: -1 })).toThrow(OptionError);
    expect(() => fitEM(truth.spec(), data, { gateInexact: 1.5 })).toThrow(/gateInexact/);
    expect(() => fitEM(truth.spec(), data, { gateInexactAbove: 0 })).toThrow(/gateInexactAbove/);
    expect(() => fitEM(truth.spec(), data, { gateInexactCheck: 'q' as 'objective' })).toThrow(/gateInexactCheck/);
  });
});
