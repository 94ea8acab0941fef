/**
 * The fused E-step with another gate's logits (gates/gate.ts `LogitsFragment`): activation gates
 * with Gaussian linear experts give the same E-step as the separate passes
 * (the same bits; asserted to 1e-12), the expert moments equal their direct sums, and EM through
 * the fused path reaches the same maximum with a monotone trace.
 */
import { describe, expect, it } from 'vitest';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { sampleX, type Dataset } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';
import { EMWorkspace, eStep, mStep, mStepSettings } from '../../src/estimate/em-step.js';
import { resolveEMOptions } from '../../src/estimate/options.js';
import { fusedMomentsSize } from '../../src/estimate/e-step-kernel.js';

const EXPERTS2 = { type: 'gaussianLinear', a: [[-2], [2]], b: [1, -0.5], variance: [0.09, 0.16] };
const EXPERTS3D2 = { type: 'gaussianLinear', a: [[-2, 1], [2, 0.5], [0.5, -1]], b: [1, -0.5, 0.2], variance: [0.09, 0.16, 0.2] };

const CASES: [string, ModelJSON][] = [
  ['activation tanh, τ estimated, k=2', { gate: { type: 'activation', sigma: 'tanh', bias: 'outside', tau: 0.3, beta0: [-1, 0], beta1: [[3], [0]] }, experts: EXPERTS2 }],
  ['activation sigmoid, bias inside, k=2', { gate: { type: 'activation', sigma: 'sigmoid', bias: 'inside', tau: 0.2, beta0: [-0.5, 0], beta1: [[3], [0]] }, experts: EXPERTS2 }],
  ['activation gelu, fixed τ, k=3, d=2', { gate: { type: 'activation', sigma: 'gelu', bias: 'outside', fixedTau: true, tau: 0.5, beta0: [0.3, -0.2, 0], beta1: [[1, -2], [-1, 1], [0, 0]] }, experts: EXPERTS3D2 }],
  ['activation identity, τ gauged, k=3, d=2', { gate: { type: 'activation', sigma: 'identity', bias: 'inside', tau: 0.5, beta0: [0.3, -0.2, 0], beta1: [[1, -2], [-1, 1], [0, 0]] }, experts: EXPERTS3D2 }],
];

function simulate(json: ModelJSON, n: number, seed: number): { model: MixtureOfExperts; data: Dataset } {
  const model = MixtureOfExperts.fromJSON(json);
  const rng = new Rng(seed);
  const X = sampleX({ type: 'uniform', low: -1, high: 1 }, n, model.d, rng.split('x'));
  const { y } = model.sample(X, n, rng.split('y'));
  return { model, data: { X, y, n, d: model.d } };
}

function perturbed(model: MixtureOfExperts, seed: number): Float64Array {
  const rng = new Rng(seed);
  const th = model.theta.slice();
  for (let i = 0; i < th.length; i++) th[i] += 0.3 * (2 * rng.uniform() - 1);
  return th;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('fused E-step with a gate logits fragment (activation)', () => {
  for (const [name, json] of CASES) {
    it(`${name}: ℓ, posteriors, π and the gate objective as the separate passes (1e-12), moments as their sums`, () => {
      const { model, data } = simulate(json, 509, 3);
      const th = perturbed(model, 1);
      const fused = new EMWorkspace(model, data.n);
      const separate = new EMWorkspace(model, data.n, { fused: false });
      expect(fused.fused).not.toBeNull();
      expect(fused.gateNewton).toBe(false);
      for (const collect of [true, false]) {
        fused.collectStats = collect;
        const a = eStep(model, th, data, fused);
        const b = eStep(model, th, data, separate);
        expect(Number.isFinite(a)).toBe(true);
        expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-12 * Math.abs(b));
        close(fused.R, separate.R, 1e-12);
        close(fused.G, separate.G, 1e-12);
        expect(Math.abs(fused.gateInfo[0] - separate.gateInfo[0])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(separate.gateInfo[0])));
        const st = fused.gateState(th.subarray(0, model.gate.nParams));
        expect(st?.newton).toBeUndefined();
      }
      // the experts' moments at θ, directly
      fused.collectStats = true;
      eStep(model, th, data, fused);
      expect(fused.statsValid).toBe(fused.fusedStats !== null);
      if (fused.fusedStats === null) return;
      const { k, d } = model;
      const q = d + 1;
      const size = fusedMomentsSize(d);
      const pg = model.gate.nParams;
      for (let i = 0; i < k; i++) {
        const o = pg + i * (d + 2);
        const want = new Float64Array(size);
        for (let t = 0; t < data.n; t++) {
          const v = [1, ...Array.from(data.X.subarray(t * d, t * d + d))];
          let mu = 0;
          for (let a = 0; a < q; a++) mu += th[o + a] * v[a];
          const e = data.y[t] - mu;
          const r = fused.R[t * k + i];
          for (let a = 0; a < q; a++) {
            for (let b = 0; b < q; b++) want[a * q + b] += r * v[a] * v[b];
            want[q * q + a] += r * e * v[a];
          }
          want[q * q + q] += r * e * e;
        }
        close(fused.moments.subarray(i * size, (i + 1) * size), want, 1e-12);
      }
    });

    it(`${name}: EM through the fused path: monotone, and the same maximum as the separate passes (1e-9)`, () => {
      const { model, data } = simulate(json, 800, 5);
      const s = mStepSettings(resolveEMOptions({}));
      const run = (ws: EMWorkspace): number[] => {
        const th = perturbed(model, 4);
        const trace: number[] = [];
        for (let it = 0; it < 60; it++) {
          trace.push(eStep(model, th, data, ws));
          mStep(model, th, data, ws, s);
        }
        trace.push(eStep(model, th, data, ws));
        return trace;
      };
      const a = run(new EMWorkspace(model, data.n));
      const b = run(new EMWorkspace(model, data.n, { fused: false }));
      for (let i = 1; i < a.length; i++) expect(a[i]).toBeGreaterThanOrEqual(a[i - 1] - 1e-9 * Math.abs(a[i - 1]));
      expect(Math.abs(a[a.length - 1] - b[b.length - 1])).toBeLessThanOrEqual(1e-9 * Math.abs(b[b.length - 1]));
    });
  }
});
