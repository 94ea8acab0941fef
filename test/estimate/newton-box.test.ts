import { describe, it, expect } from 'vitest';
import { fitEM, EMWorkspace, eStep } from '../../src/estimate/em.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { simulate, TRUTH_D2K3 } from '../helpers.js';
import { clearOfBox, newtonFinish, NEWTON_BOX_MARGIN, stationarity } from '../../src/estimate/finish.js';
import { gradientFromPosteriors } from '../../src/estimate/em-step.js';

const maxAbs = (a: Float64Array, from: number, to: number): number => {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};

describe('the Newton finish under a gate/expert box', () => {
  const { truth, X, y, n, d } = simulate(TRUTH_D2K3, 10000, 72, -1, 1);
  const data = { X, y, n, d };
  const spec = { ...truth.spec(), k: 3 };

  it('a boxed fit far from the bound takes the Newton finish: the L-BFGS maximum to 1e-9, fewer iterations, the unboxed Newton path, inside the box', () => {
    const nw = fitEM(spec, data, { finish: 'newton', gateBound: 50 });
    const lb = fitEM(spec, data, { finish: 'lbfgs', gateBound: 50 });
    const free = fitEM(spec, data, { finish: 'newton' });
    expect(nw.converged).toBe(true);
    expect(nw.warnings).toEqual([]);
    expect(Math.abs(nw.logLikelihood - lb.logLikelihood)).toBeLessThan(1e-9 * Math.abs(lb.logLikelihood));
    expect(nw.iterations).toBeLessThan(lb.iterations); // before: a box skipped Newton (the lbfgs path, same count)
    expect(nw.iterations).toBeLessThanOrEqual(10);
    // the box is inactive: the same path as without it (the projected M-step rounds differently, ≈ 1e-15)
    expect(Math.abs(nw.logLikelihood - free.logLikelihood)).toBeLessThan(1e-12 * Math.abs(free.logLikelihood));
    expect(nw.iterations).toBe(free.iterations);
    expect(nw.gradientNorm).toBeLessThan(1e-7);
    expect(maxAbs(nw.model.theta, 0, nw.model.gate.nParams)).toBeLessThan(50 * (1 - NEWTON_BOX_MARGIN));
  });

  it('a fit with a gate coordinate at the bound keeps the L-BFGS finish (same bits, no pass spent) and stays inside the box', () => {
    const free = fitEM(spec, data, { finish: 'lbfgs' });
    const pg = free.model.gate.nParams;
    const B = 0.5 * maxAbs(free.model.theta, 0, pg); // the unconstrained maximum lies outside: the box binds
    const nw = fitEM(spec, data, { finish: 'newton', gateBound: B });
    const lb = fitEM(spec, data, { finish: 'lbfgs', gateBound: B });
    expect(nw.logLikelihood).toBe(lb.logLikelihood);
    expect(nw.iterations).toBe(lb.iterations);
    expect(maxAbs(nw.model.theta, 0, pg)).toBeLessThanOrEqual(B);
    expect(maxAbs(nw.model.theta, 0, pg)).toBeGreaterThan(B * (1 - 1e-12)); // a coordinate is on the bound
    expect(nw.logLikelihood).toBeLessThan(free.logLikelihood);
    expect(clearOfBox(nw.model.theta, pg, B, Infinity)).toBe(false);
  });

  it('a Newton step that would leave the box ends the finish before a trial pass (θ unchanged, ws.R current)', () => {
    const free = fitEM(spec, data, { finish: 'lbfgs' });
    const model = MixtureOfExperts.fromSpec(spec);
    const pg = model.gate.nParams;
    const theta = free.model.theta.slice();
    const top = maxAbs(theta, 0, pg);
    for (let i = 0; i < pg; i++) theta[i] *= 0.9; // pulled inside; the Newton step goes back to ≈ the maximum, outside a box at 0.95·top
    const B = 0.95 * top;
    expect(clearOfBox(theta, pg, B, Infinity)).toBe(true); // 0.9/0.95 < 1 − margin
    const ws = new EMWorkspace(model, n);
    ws.gateBound = B;
    const ll0 = eStep(model, theta, data, ws);
    const grad = new Float64Array(theta.length);
    gradientFromPosteriors(model, theta, data, ws, grad);
    const before = theta.slice();
    const r = newtonFinish(model, theta, ll0, grad, data, ws, { gtol: 1e-7, maxEvaluations: 20 });
    expect(r.leftBox).toBe(true);
    expect(r.trace).toEqual([]);
    expect(r.evaluations).toBe(1); // the information pass only
    expect(Array.from(theta)).toEqual(Array.from(before));
    expect(r.ll).toBe(ll0);
    const again = new EMWorkspace(model, n);
    expect(eStep(model, theta, data, again)).toBe(ll0);
    for (let i = 0; i < ws.R.length; i++) if (ws.R[i] !== again.R[i]) throw new Error(`ws.R[${i}] not the E-step at θ`);
  });

  it('the KKT test counts the expert bound: an expert coordinate on it with the ascent pointing out is stationary, pointing in is not', () => {
    const pg = 2;
    const eB = 3;
    const theta = Float64Array.from([0.1, -0.2, eB, -eB, 1]);
    const out = Float64Array.from([0, 0, 5, -7, 0]); // ascent out of the box at both expert bounds
    expect(stationarity(out, theta, pg, 10, eB)).toBe(0);
    expect(stationarity(out, theta, pg, 10)).toBe(7); // without the expert bound: not stationary
    const inward = Float64Array.from([0, 0, -5, 0, 0]);
    expect(stationarity(inward, theta, pg, 10, eB)).toBe(5);
    // the gate bound does not apply to the expert block, nor the expert bound to the gate block
    expect(stationarity(out, theta, pg, eB, Infinity)).toBe(7);
    const gateAt = Float64Array.from([eB, 0, 0, 0, 0]);
    expect(stationarity(Float64Array.from([2, 0, 0, 0, 0]), gateAt, pg, Infinity, eB)).toBe(2);
    // clearOfBox: within the margin of the expert bound is not clear
    expect(clearOfBox(Float64Array.from([0, 0, eB * (1 - NEWTON_BOX_MARGIN / 2)]), pg, Infinity, eB)).toBe(false);
    expect(clearOfBox(Float64Array.from([0, 0, eB * (1 - 2 * NEWTON_BOX_MARGIN)]), pg, Infinity, eB)).toBe(true);
  });

  it('newtonFinish uses the expert bound in its KKT test: an expert coordinate on it with an outward gradient is converged, no pass', () => {
    const model = MixtureOfExperts.fromSpec(spec);
    const pg = model.gate.nParams;
    const p = pg + model.expert.nParams;
    const theta = new Float64Array(p);
    theta.set(truth.theta);
    const ws = new EMWorkspace(model, n);
    const eB = Math.abs(theta[pg]) + 1;
    theta[pg] = eB; // an expert coefficient on the expert bound
    ws.expertBound = eB;
    const ll0 = eStep(model, theta, data, ws);
    const grad = new Float64Array(p);
    grad[pg] = 1e3; // the only non-zero component: pointing out of the box
    const r = newtonFinish(model, theta, ll0, grad, data, ws, { gtol: 1e-7, maxEvaluations: 20 });
    expect(r.converged).toBe(true);
    expect(r.evaluations).toBe(0);
  });
});
