import { describe, it, expect } from 'vitest';
import { HierarchicalGate } from '../../src/gates/hierarchical.js';
import { hierarchicalLogitsKernel, hierarchicalSplitKernel, levelKeptKernel, levelNewtonKernel } from '../../src/gates/hierarchical-kernels.js';
import { LinearSoftmaxCore } from '../../src/family/linear-softmax.js';
import { gateFactory, parseGateSpec } from '../../src/gates/registry.js';
import { Rng } from '../../src/numeric/rng.js';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { fitEM, runEM } from '../../src/estimate/em.js';
import { ModelFormatError, OptionError } from '../../src/errors.js';
import {
  checkEMMonotone, checkGradQ, checkMStep, checkNormalised, checkRecovery, checkSampling, relErr,
  simulateData, softTargets, uniformX,
} from './family-helpers.js';

/**
 * 2 groups × 2 experts on [0, 1]: group 0 for x > 0.5 (expert 0 for x > 0.75, expert 1 below),
 * group 1 for x < 0.5 (expert 2 for x > 0.25, expert 3 below).
 */
const TRUTH: ModelJSON = {
  gate: { type: 'hierarchical', K1: 2, K2: 2, omega0: [-5, 0], omega1: [[10], [0]], beta0: [[-7.5, 0], [-2.5, 0]], beta1: [[[10], [0]], [[10], [0]]] },
  experts: { type: 'gaussianLinear', a: [[-4], [4], [-4], [4]], b: [8, -4, 6, 0], variance: [0.09, 0.16, 0.09, 0.16] },
};
const DESIGN = { type: 'uniform', low: 0, high: 1 } as const;

function softmax(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

describe('hierarchical gate', () => {
  it('π_{i₁i₂} = softmax(ω)_{i₁} · softmax(β_{i₁·})_{i₂} with expert index i₁·K2 + i₂', () => {
    const m = MixtureOfExperts.fromJSON(TRUTH);
    for (const x of [0.1, 0.4, 0.6, 0.9]) {
      const p = m.gateProbabilities(Float64Array.of(x), 1);
      const po = softmax([10 * x - 5, 0]);
      const p0 = softmax([10 * x - 7.5, 0]);
      const p1 = softmax([10 * x - 2.5, 0]);
      const expected = [po[0] * p0[0], po[0] * p0[1], po[1] * p1[0], po[1] * p1[1]];
      expect(relErr(p, expected)).toBeLessThan(1e-15);
    }
  });

  it.each([[2, 2, 1], [2, 3, 2], [3, 2, 3], [1, 3, 2], [3, 1, 1]])('weights sum to 1 and gradQ matches finite differences (%ix%i, d=%i)', (K1, K2, d) => {
    const rng = new Rng(500 + K1 * 10 + K2);
    const gate = new HierarchicalGate(K1, K2, d);
    expect(gate.k).toBe(K1 * K2);
    expect(gate.nParams).toBe((K1 - 1) * (d + 1) + K1 * (K2 - 1) * (d + 1));
    const theta = new Float64Array(gate.nParams).map(() => rng.normal());
    const n = 60;
    const X = uniformX(n, d, rng);
    checkNormalised(gate, theta, X, n);
    checkGradQ(gate, theta, X, n, rng);
  });

  it.each([[2, 2, 1], [2, 3, 2], [3, 2, 3], [1, 3, 2], [3, 1, 1], [2, 5, 6]])('the one-pass logits give log π; M-step and gradQ from the kept level weights equal the plain ones (%ix%i, d=%i)', (K1, K2, d) => {
    const rng = new Rng(700 + K1 * 10 + K2);
    const fast = new HierarchicalGate(K1, K2, d);
    const plain = new HierarchicalGate(K1, K2, d, { plain: true });
    const k = K1 * K2;
    const n = 200;
    const X = uniformX(n, d, rng);
    const theta = new Float64Array(fast.nParams).map(() => rng.normal());
    const lw = new Float64Array(n * k);
    plain.logWeights(theta, X, n, lw);
    const z = new Float64Array(n * k);
    fast.logits(theta, X, n, z);
    for (let t = 0; t < n; t++) {
      let mx = -Infinity;
      for (let i = 0; i < k; i++) mx = Math.max(mx, z[t * k + i]);
      let sum = 0;
      for (let i = 0; i < k; i++) sum += Math.exp(z[t * k + i] - mx);
      for (let i = 0; i < k; i++) expect(Math.abs(z[t * k + i] - mx - Math.log(sum) - lw[t * k + i])).toBeLessThan(1e-13 * Math.max(1, Math.abs(lw[t * k + i])));
    }
    // gradQ from the kept weights (signed W) = the plain gradQ
    const W = new Float64Array(n * k).map(() => 2 * rng.uniform() - 1);
    const g1 = new Float64Array(fast.nParams);
    const g2 = new Float64Array(fast.nParams);
    fast.gradQ(theta, X, n, W, g1);
    plain.gradQ(theta, X, n, W, g2);
    expect(relErr(g1, g2)).toBeLessThan(1e-12);
    // the M-step from the kept weights reaches the plain M-step's θ and Q
    const R = softTargets(plain, theta.map((v) => v + 0.4 * rng.normal()), X, n, rng);
    const t1 = theta.slice();
    const t2 = theta.slice();
    const opts = { maxIter: 50, tol: 1e-14 };
    const r1 = fast.mStep(t1, X, n, R, opts);
    const r2 = plain.mStep(t2, X, n, R, opts);
    expect(Math.abs(r1.objective - r2.objective)).toBeLessThan(1e-10 * Math.abs(r2.objective));
    expect(relErr(t1, t2)).toBeLessThan(1e-6);
    // the kept weights describe the old θ only: after the M-step, gradQ recomputes them
    fast.gradQ(t1, X, n, W, g1);
    plain.gradQ(t1, X, n, W, g2);
    expect(relErr(g1, g2)).toBeLessThan(1e-12);
  });

  it.each([[2, 2], [2, 3], [3, 2], [1, 3], [3, 1]])('the split kernel gives the group sums, the group slices and Σ W log π per level of the plain loops, bit for bit (%ix%i)', (K1, K2) => {
    const rng = new Rng(900 + K1 * 10 + K2);
    const split = hierarchicalSplitKernel(K1, K2);
    const k = K1 * K2;
    const n = 301;
    const R = new Float64Array(n * k).map(() => (rng.uniform() < 0.2 ? 0 : rng.uniform()));
    // a zero weight against a −∞ log-weight contributes 0, as in the plain loop: group 0 of every 5th row has no weight
    for (let t = 0; t < n; t += 5) for (let i2 = 0; i2 < K2; i2++) R[t * k + i2] = 0;
    const Lo = new Float64Array(n * K1).map((_, i) => (i % (5 * K1) === 0 ? -Infinity : -5 * rng.uniform()));
    const Lg = Array.from({ length: K1 }, () => new Float64Array(n * K2).map(() => -5 * rng.uniform()));
    for (let t = 0; t < n; t++) if (R[t * k] === 0) Lg[0][t * K2] = -Infinity;
    const Wo = new Float64Array(n * K1);
    const Wg = Array.from({ length: K1 }, () => new Float64Array(n * K2));
    const obj = new Float64Array(K1 + 1);
    split(R, n, Lo, Lg, Wo, Wg, obj);
    let q = 0;
    const q1 = new Array<number>(K1).fill(0);
    for (let t = 0; t < n; t++) {
      for (let i1 = 0; i1 < K1; i1++) {
        let s = 0;
        for (let i2 = 0; i2 < K2; i2++) {
          const r = R[t * k + i1 * K2 + i2];
          s += r;
          expect(Wg[i1][t * K2 + i2]).toBe(r);
        }
        expect(Wo[t * K1 + i1]).toBe(s);
        if (s !== 0) q += s * Lo[t * K1 + i1];
      }
    }
    for (let i1 = 0; i1 < K1; i1++) for (let i = 0; i < n * K2; i++) if (Wg[i1][i] !== 0) q1[i1] += Wg[i1][i] * Lg[i1][i];
    expect(obj[0]).toBe(q);
    for (let i1 = 0; i1 < K1; i1++) expect(obj[1 + i1]).toBe(q1[i1]);
    expect(Number.isFinite(q)).toBe(true);
  });

  it.each([[2, 2, 1], [2, 3, 2], [3, 2, 3], [3, 4, 1]])('a level pass gives the softmax core\'s Q, gradient and −Hessian of Σ w log π on that level\'s weights (%ix%i, d=%i)', (K1, K2, d) => {
    const rng = new Rng(1100 + K1 * 10 + K2);
    const k = K1 * K2;
    const n = 257;
    const X = uniformX(n, d, rng);
    const R = new Float64Array(n * k).map(() => (rng.uniform() < 0.1 ? 0 : rng.uniform()));
    // every other row a posterior row (sums to 1 up to rounding: the outer level's log-of-a-product path)
    for (let t = 0; t < n; t += 2) {
      let s = 0;
      for (let i = 0; i < k; i++) s += R[t * k + i];
      for (let i = 0; i < k; i++) R[t * k + i] /= s;
    }
    for (const outer of [true, false]) {
      const m = outer ? K1 : K2;
      const kernel = levelNewtonKernel(K1, K2, d, outer);
      expect(kernel).not.toBeNull();
      const core = new LinearSoftmaxCore(m, d);
      const p = core.nParams;
      for (let group = 0; group < (outer ? 1 : K1); group++) {
        const theta = new Float64Array(p).map(() => 3 * rng.normal());
        const W = new Float64Array(n * m);
        for (let t = 0; t < n; t++) for (let j = 0; j < m; j++) {
          if (outer) for (let i2 = 0; i2 < K2; i2++) W[t * m + j] += R[t * k + j * K2 + i2];
          else W[t * m + j] = R[t * k + group * K2 + j];
        }
        const g = new Float64Array(p);
        const H = new Float64Array(p * p);
        const Q = kernel!(theta, X, R, n, outer ? 0 : group * K2, g, H);
        const lw = new Float64Array(n * m);
        core.logWeights(theta, X, n, lw);
        let Qref = 0;
        for (let i = 0; i < n * m; i++) if (W[i] !== 0) Qref += W[i] * lw[i];
        const gref = new Float64Array(p);
        core.gradQ(theta, X, n, W, gref);
        const Href = new Float64Array(p * p);
        core.negHessianQ(theta, X, n, W, Href);
        expect(Math.abs(Q - Qref)).toBeLessThan(1e-12 * Math.abs(Qref));
        expect(relErr(g, gref)).toBeLessThan(1e-11);
        expect(relErr(H, Href)).toBeLessThan(1e-12);
      }
    }
  });

  it('EM with the one-pass logits reaches the plain gate\'s maximum (ℓ to 1e-9), monotone', () => {
    const { truth, data } = simulateData(TRUTH, 4000, 77, DESIGN);
    const lls: number[] = [];
    for (const plain of [false, true]) {
      const model = new MixtureOfExperts(new HierarchicalGate(2, 2, 1, { plain }), MixtureOfExperts.fromSpec(truth.spec()).expert);
      model.expert.prepare?.(data.X, data.y, data.n);
      const theta0 = truth.theta.map((v, i) => v + 0.3 * Math.sin(i + 1));
      const run = runEM(model, theta0, data, { accelerate: 'none', polish: false, maxIter: 300, tol: 1e-13 });
      for (let i = 1; i < run.trace.length; i++) expect(run.trace[i]).toBeGreaterThanOrEqual(run.trace[i - 1] - 1e-10 * Math.abs(run.trace[i - 1]));
      lls.push(run.trace[run.trace.length - 1]);
    }
    expect(Math.abs(lls[0] - lls[1])).toBeLessThan(1e-9 * Math.abs(lls[1]));
  });

  it('M-step (outer softmax + one inner softmax per group) reaches the maximum and never decreases Q', () => {
    const rng = new Rng(9);
    const gate = new HierarchicalGate(2, 3, 2);
    const n = 2000;
    const X = uniformX(n, 2, rng);
    const truth = new Float64Array(gate.nParams).map(() => 1.5 * rng.normal());
    const R = softTargets(gate, truth, X, n, rng);
    checkMStep(gate, new Float64Array(gate.nParams), X, n, R, rng);
  });

  it('canonical form: translating each level (outer, and each group separately) leaves θ and the density unchanged', () => {
    const { truth, data } = simulateData(TRUTH, 400, 4, DESIGN);
    const ll = truth.logLikelihood(data.X, data.y, data.n);
    const g = TRUTH.gate as unknown as { omega0: number[]; omega1: number[][]; beta0: number[][]; beta1: number[][][] };
    const shift = [0.7, -1.9];
    const slope = [-2, 3.5];
    const json: ModelJSON = {
      gate: {
        ...TRUTH.gate,
        omega0: g.omega0.map((v) => v + 1.1),
        omega1: g.omega1.map((r) => [r[0] - 0.4]),
        beta0: g.beta0.map((row, i1) => row.map((v) => v + shift[i1])),
        beta1: g.beta1.map((grp, i1) => grp.map((r) => [r[0] + slope[i1]])),
      },
      experts: TRUTH.experts,
    };
    const m = MixtureOfExperts.fromJSON(json);
    expect(relErr(m.theta, truth.theta)).toBeLessThan(1e-15);
    expect(Math.abs(m.logLikelihood(data.X, data.y, data.n) - ll)).toBeLessThan(1e-12 * Math.abs(ll));
    expect(truth.toJSON().gate).toEqual(TRUTH.gate);
    const before = truth.theta.slice();
    truth.canonicalize();
    expect(Array.from(truth.theta)).toEqual(Array.from(before));
  });

  it.each([[2, 2, 1], [2, 3, 2], [3, 2, 3], [3, 4, 1]])('a level\'s first pass from the logits\' kept weights: the level pass\'s g and −H bit for bit, Q to 1e-13 (%ix%i, d=%i)', (K1, K2, d) => {
    const rng = new Rng(1300 + K1 * 10 + K2);
    const k = K1 * K2;
    const q = d + 1;
    const n = 301;
    const X = uniformX(n, d, rng, -2, 2);
    const R = new Float64Array(n * k).map(() => (rng.uniform() < 0.1 ? 0 : rng.uniform()));
    const po = (K1 - 1) * q;
    const pi = (K2 - 1) * q;
    const theta = new Float64Array(po + K1 * pi).map(() => 2 * rng.normal());
    const Po = new Float64Array(n * K1);
    const Lo = new Float64Array(n * K1);
    const Pg = Array.from({ length: K1 }, () => new Float64Array(n * K2));
    const Lg = Array.from({ length: K1 }, () => new Float64Array(n * K2));
    hierarchicalLogitsKernel(K1, K2, d, true)!(theta, X, n, new Float64Array(n * k), Po, Lo, Pg, Lg);
    const levels: [boolean, number, Float64Array, Float64Array, Float64Array][] = [[true, 0, Po, Lo, theta.subarray(0, po)]];
    for (let i1 = 0; i1 < K1; i1++) levels.push([false, i1 * K2, Pg[i1], Lg[i1], theta.subarray(po + i1 * pi, po + (i1 + 1) * pi)]);
    for (const [outer, off, P, L, th] of levels) {
      const p = th.length;
      const [g1, g2, H1, H2] = [new Float64Array(p), new Float64Array(p), new Float64Array(p * p), new Float64Array(p * p)];
      const Q1 = levelKeptKernel(K1, K2, d, outer)!(P, L, X, R, n, off, g1, H1);
      const Q2 = levelNewtonKernel(K1, K2, d, outer)!(th, X, R, n, off, g2, H2);
      expect([...g1]).toEqual([...g2]);
      expect([...H1]).toEqual([...H2]);
      expect(Math.abs(Q1 - Q2)).toBeLessThan(1e-13 * Math.abs(Q2));
    }
  });

  it('JSON validation, dims and CLI specs', () => {
    expect(parseGateSpec('hierarchical:2x3')).toEqual({ type: 'hierarchical', K1: 2, K2: 3 });
    expect(() => parseGateSpec('hierarchical:2')).toThrow(OptionError);
    expect(() => parseGateSpec('hierarchical')).toThrow(OptionError);
    const f = gateFactory('hierarchical');
    expect(f.dims(TRUTH.gate, 'gate')).toEqual({ k: 4, d: 1 });
    expect(() => f.create({ type: 'hierarchical', K1: 2, K2: 3 }, 4, 1)).toThrow(/--k 6/);
    expect(() => MixtureOfExperts.fromJSON({ ...TRUTH, gate: { ...TRUTH.gate, K2: 3 } })).toThrow(ModelFormatError);
    const g = TRUTH.gate as unknown as { beta1: number[][][] };
    expect(() => MixtureOfExperts.fromJSON({ ...TRUTH, gate: { ...TRUTH.gate, beta1: [g.beta1[0], [[1]]] } })).toThrow(/gate\.beta1\[1\]/);
    expect(MixtureOfExperts.fromJSON(TRUTH).gate.blocks.every((b) => !b.perExpert)).toBe(true);
  });

  it('nearTruth needs the same K1×K2 as the truth (its blocks are not indexed by expert)', () => {
    const { truth, data } = simulateData(TRUTH, 300, 5, DESIGN);
    expect(() => fitEM({ gate: { type: 'hierarchical', K1: 3, K2: 2 }, experts: { type: 'gaussianLinear' }, k: 6, d: 1 }, data, { init: { type: 'nearTruth', truth } })).toThrow(OptionError);
  });

  it('seeded sampling matches the weights (χ² on 1e5 draws)', () => {
    checkSampling(MixtureOfExperts.fromJSON(TRUTH), [0.55], 71);
    checkSampling(MixtureOfExperts.fromJSON(TRUTH), [0.3], 72);
  });

  it('plain EM never decreases the log-likelihood', () => {
    checkEMMonotone(TRUTH, 3000, 81, DESIGN, 0.3);
  });

  it('recovers the truth at n = 5e4 within 4.5 asymptotic standard errors (nearTruth start)', () => {
    checkRecovery(TRUTH, 50_000, 91, DESIGN);
  });
});
