/**
 * The one-pass E-step of a softmax gate with Gaussian linear experts (estimate/e-step-kernel.ts):
 * the same bits as the separate passes, the M-steps' statistics equal to their own passes, and EM
 * with it following the same path.
 */
import { describe, expect, it } from 'vitest';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { sampleX, type Dataset } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';
import { EMWorkspace, eStep, mStep, mStepSettings } from '../../src/estimate/em-step.js';
import { resolveEMOptions } from '../../src/estimate/options.js';
import { fusedEStepKernel, fusedMomentsSize } from '../../src/estimate/e-step-kernel.js';
import { newtonSystemKernel } from '../../src/family/softmax-kernels.js';
import { GaussianLinearExperts } from '../../src/experts/gaussian-linear.js';
import { fitEM } from '../../src/estimate/em.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';

function truth(k: number, d: number, seed: number): ModelJSON {
  const rng = new Rng(seed);
  const u = (s: number): number => s * (2 * rng.uniform() - 1);
  return {
    gate: { type: 'softmax', beta0: [...Array.from({ length: k - 1 }, () => u(1)), 0], beta1: [...Array.from({ length: k - 1 }, () => Array.from({ length: d }, () => u(4))), Array(d).fill(0)] },
    experts: { type: 'gaussianLinear', a: Array.from({ length: k }, () => Array.from({ length: d }, () => u(3))), b: Array.from({ length: k }, () => u(2)), variance: Array.from({ length: k }, () => 0.1 + rng.uniform()) },
  };
}

function simulate(json: ModelJSON, n: number, seed: number): { model: MixtureOfExperts; data: Dataset } {
  const model = MixtureOfExperts.fromJSON(json);
  const rng = new Rng(seed);
  const X = sampleX({ type: 'uniform', low: -1, high: 1 }, n, model.d, rng.split('x'));
  const { y } = model.sample(X, n, rng.split('y'));
  return { model, data: { X, y, n, d: model.d } };
}

/** θ moved off the truth so that the M-steps have work to do. */
function perturbed(model: MixtureOfExperts, seed: number): Float64Array {
  const rng = new Rng(seed);
  const th = model.theta.slice();
  for (let i = 0; i < th.length; i++) th[i] += 0.3 * (2 * rng.uniform() - 1);
  return th;
}

const SHAPES: [number, number][] = [[2, 1], [2, 2], [3, 2], [4, 1], [3, 3]];

describe('fused E-step (softmax gate, Gaussian linear experts)', () => {
  for (const [k, d] of SHAPES) {
    it(`k=${k}, d=${d}: ℓ, posteriors, π and the gate objective bit for bit as the separate passes`, () => {
      const { model, data } = simulate(truth(k, d, 10 * k + d), 503, k + d);
      const th = perturbed(model, 1);
      const fused = new EMWorkspace(model, data.n);
      const separate = new EMWorkspace(model, data.n, { fused: false });
      expect(fused.fused).not.toBeNull();
      expect(separate.fused).toBeNull();
      for (const collect of [true, false]) {
        fused.collectStats = collect;
        const a = eStep(model, th, data, fused);
        const b = eStep(model, th, data, separate);
        expect(a).toBe(b);
        expect(fused.R).toEqual(separate.R);
        expect(fused.G).toEqual(separate.G);
        expect(fused.gateInfo[0]).toBe(separate.gateInfo[0]);
        expect(fused.statsValid).toBe(collect && fused.fusedStats !== null);
      }
    });
  }

  for (const [k, d] of SHAPES.filter(([k, d]) => fusedEStepKernel(k, d, true) !== null)) {
    it(`k=${k}, d=${d}: the statistics equal the M-steps' own sums (gate system bit for bit, moments to 1e-12)`, () => {
      const { model, data } = simulate(truth(k, d, 7 * k + d), 401, 3 * k + d);
      const th = perturbed(model, 2);
      const ws = new EMWorkspace(model, data.n);
      expect(ws.fusedStats).not.toBeNull();
      eStep(model, th, data, ws);
      const pg = model.gate.nParams;
      const g = new Float64Array(pg);
      const H = new Float64Array(pg * pg);
      newtonSystemKernel(k, d)!(ws.G, ws.R, data.X, data.n, g, H);
      expect(ws.newtonG).toEqual(g);
      expect(ws.newtonH).toEqual(H);
      // moments: Σ r v vᵀ, Σ r e v, Σ r e² with e the residual at θ, directly
      const q = d + 1;
      const size = fusedMomentsSize(d);
      for (let i = 0; i < k; i++) {
        const o = pg + i * (d + 2);
        const want = new Float64Array(size);
        for (let t = 0; t < data.n; t++) {
          const v = [1, ...Array.from(data.X.subarray(t * d, t * d + d))];
          let mu = 0;
          for (let a = 0; a < q; a++) mu += th[o + a] * v[a];
          const e = data.y[t] - mu;
          const r = ws.R[t * k + i];
          for (let a = 0; a < q; a++) {
            for (let b = 0; b < q; b++) want[a * q + b] += r * v[a] * v[b];
            want[q * q + a] += r * e * v[a];
          }
          want[q * q + q] += r * e * e;
        }
        for (let j = 0; j < size; j++) expect(Math.abs(ws.moments[i * size + j] - want[j])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want[j])));
      }
    });

    it(`k=${k}, d=${d}: the expert M-step from the moments equals the one with its own passes to 1e-12`, () => {
      const { model, data } = simulate(truth(k, d, 5 * k + d), 611, 5 * k + d);
      const th = perturbed(model, 3);
      const ws = new EMWorkspace(model, data.n);
      eStep(model, th, data, ws);
      const expert = model.expert as GaussianLinearExperts;
      const a = th.slice(model.gate.nParams);
      const b = th.slice(model.gate.nParams);
      expert.mStepFromMoments(a, data.X, data.y, data.n, ws.R, ws.moments);
      expert.mStep(b, data.X, data.y, data.n, ws.R, { maxIter: 50, tol: 1e-10 });
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(b[i])));
      // and it moved: the M-step did something
      let moved = 0;
      for (let i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i] - th[model.gate.nParams + i]));
      expect(moved).toBeGreaterThan(1e-3);
    });
  }

  it('an expert whose fit improves by more than 1e8 in one step gets its residuals summed again (no cancellation)', () => {
    // y exactly linear in x for expert 0's points: the new residual sum is ~0 while the old one is large
    const json = truth(2, 1, 3);
    json.experts.varianceFloor = 1e-300; // no floor hides the new variance
    const { model } = simulate(json, 10, 1);
    const n = 400;
    const X = new Float64Array(n);
    const y = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      X[t] = -1 + (2 * t) / (n - 1);
      y[t] = 3 * X[t] + 1 + (t % 2 ? 1e-6 : -1e-6);
    }
    const data = { X, y, n, d: 1 };
    const th = model.theta.slice();
    const expert = model.expert as GaussianLinearExperts;
    expert.prepare?.(X, y, n);
    const ws = new EMWorkspace(model, n);
    eStep(model, th, data, ws);
    const a = th.slice(model.gate.nParams);
    const b = th.slice(model.gate.nParams);
    expert.mStepFromMoments(a, X, y, n, ws.R, ws.moments);
    expert.mStep(b, X, y, n, ws.R, { maxIter: 50, tol: 1e-10 });
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b[i])));
  });

  it('a far start (coefficients 1e8 times the fit): the expert M-step runs its own passes, not the centred moments', () => {
    const { model, data } = simulate(truth(2, 1, 4), 700, 8);
    const th = model.theta.slice();
    const pg = model.gate.nParams;
    for (let i = pg; i < th.length; i++) if ((i - pg) % 3 !== 2) th[i] *= 1e8; // b and a, not log ν
    for (let i = pg; i < th.length; i += 3) th[i + 2] = Math.log(1e16);
    const ws = new EMWorkspace(model, data.n);
    eStep(model, th, data, ws);
    const expert = model.expert as GaussianLinearExperts;
    const a = th.slice(pg);
    const b = th.slice(pg);
    expert.mStepFromMoments(a, data.X, data.y, data.n, ws.R, ws.moments);
    expert.mStep(b, data.X, data.y, data.n, ws.R, { maxIter: 50, tol: 1e-10 });
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(b[i])));
  });

  for (const [k, d] of [[2, 1], [3, 2]] as const) {
    it(`k=${k}, d=${d}: plain EM with the fused pass follows the separate passes' path (ℓ to 1e-12) and ℓ never decreases`, () => {
      const { data } = simulate(truth(k, d, 11 * k + d), 2000, 9 * k + d);
      const settings = mStepSettings(resolveEMOptions({}));
      const traces: number[][] = [];
      for (const fused of [true, false]) {
        const m = MixtureOfExperts.fromJSON(truth(k, d, 11 * k + d));
        m.expert.prepare?.(data.X, data.y, data.n);
        const ws = new EMWorkspace(m, data.n, { fused });
        const th = perturbed(m, 4);
        for (let j = 0; j < m.gate.nParams; j++) th[j] *= 0.2;
        const trace = [eStep(m, th, data, ws)];
        for (let it = 0; it < 25; it++) {
          mStep(m, th, data, ws, settings);
          trace.push(eStep(m, th, data, ws));
        }
        traces.push(trace);
      }
      const [a, b] = traces;
      for (let i = 0; i < a.length; i++) {
        expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-12 * Math.abs(b[i]));
        if (i > 0) expect(a[i]).toBeGreaterThanOrEqual(a[i - 1] - 1e-9 * Math.abs(a[i]));
      }
      expect(a[a.length - 1] - a[0]).toBeGreaterThan(1);
    });
  }

  it('fitEM on the authors truth: converged, monotone, the maximum of the separate-pass code (pinned ℓ)', () => {
    const { model, data } = simulate(AUTHORS_TRUTH, 3000, 21);
    const fit = fitEM(model.spec(), data, { seed: 1 });
    expect(fit.converged).toBe(true);
    expect(fit.gradientNorm).toBeLessThan(1e-6);
    for (let i = 1; i < fit.trace.length; i++) expect(fit.trace[i]).toBeGreaterThanOrEqual(fit.trace[i - 1] - 1e-9 * Math.abs(fit.trace[i]));
    // ℓ of the same fit at 12141f1 (separate passes): −1459.0255342488836, 9 iterations
    expect(Math.abs(fit.logLikelihood - -1459.0255342488836)).toBeLessThanOrEqual(1e-12 * 1459.03);
    expect(fit.iterations).toBe(9);
  });
});
