import { describe, it, expect } from 'vitest';
import { MultinomialLogisticExperts } from '../../src/experts/multinomial-logistic.js';
import { multinomialKernels } from '../../src/experts/multinomial-kernels.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { EMWorkspace, eStep, logLikelihoodGradient, runEM } from '../../src/estimate/em.js';
import { hasObservedInformation, observedInformation } from '../../src/estimate/observed-information.js';
import { sampleX } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';

function randomArray(rng: Rng, len: number, sd = 1): Float64Array {
  return Float64Array.from({ length: len }, () => sd * rng.normal());
}

/** Shapes (k, C, d) of the kernel tests: the presets' (2, 2, 1), the recovery test's (2, 3, 2), a wider one. */
const SHAPES: [number, number, number][] = [[2, 2, 1], [3, 2, 1], [2, 3, 2], [3, 4, 2], [2, 2, 3]];

interface Case { k: number; C: number; d: number; n: number; theta: Float64Array; X: Float64Array; y: Float64Array; W: Float64Array; R: Float64Array }

function makeCase(k: number, C: number, d: number, seed: number, n = 257): Case {
  const rng = new Rng(seed);
  const e = new MultinomialLogisticExperts(k, d, { classes: C });
  const theta = randomArray(rng, e.nParams, 1.5);
  const X = randomArray(rng, n * d, 1.5);
  const y = Float64Array.from({ length: n }, () => rng.int(C));
  const W = randomArray(rng, n * k); // signed weights, rows not summing to 1
  const R = new Float64Array(n * k);
  for (let t = 0; t < n; t++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += (R[t * k + i] = rng.uniform());
    for (let i = 0; i < k; i++) R[t * k + i] /= s;
  }
  R[3 * k] = 0; // an entry of weight 0
  return { k, C, d, n, theta, X, y, W, R };
}

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(1, Math.abs(b));

describe('multinomial kernels = the softmax core path (plain: true)', () => {
  it.each(SHAPES)('k=%i, C=%i, d=%i: logDensity, gradQ, rowGradQ, negHessianQ give the same bits; negHessianQ agrees to 1e-13', (k, C, d) => {
    expect(multinomialKernels(C, d)).not.toBeNull();
    const { n, theta, X, y, W } = makeCase(k, C, d, 10 * k + C + d);
    const fast = new MultinomialLogisticExperts(k, d, { classes: C });
    const plain = new MultinomialLogisticExperts(k, d, { classes: C, plain: true });
    const p = fast.nParams;
    const a = new Float64Array(n * k);
    const b = new Float64Array(n * k);
    fast.logDensity(theta, X, y, n, a);
    plain.logDensity(theta, X, y, n, b);
    expect(a).toEqual(b);
    const ga = new Float64Array(p);
    const gb = new Float64Array(p);
    fast.gradQ(theta, X, y, n, W, ga);
    plain.gradQ(theta, X, y, n, W, gb);
    expect(ga).toEqual(gb);
    const ra = new Float64Array(n * p).fill(NaN);
    const rb = new Float64Array(n * p).fill(NaN);
    fast.rowGradQ(theta, X, y, n, W, ra);
    plain.rowGradQ(theta, X, y, n, W, rb);
    expect(ra).toEqual(rb);
    const Ha = new Float64Array(p * p);
    const Hb = new Float64Array(p * p);
    fast.negHessianQ(theta, X, y, n, W, Ha);
    plain.negHessianQ(theta, X, y, n, W, Hb);
    for (let j = 0; j < p * p; j++) expect(rel(Ha[j], Hb[j])).toBeLessThan(1e-13);
  });

  it.each(SHAPES)('k=%i, C=%i, d=%i: the M-step gives the same bits', (k, C, d) => {
    const { n, theta, X, y, R } = makeCase(k, C, d, 100 + 10 * k + C + d, 600);
    const fast = new MultinomialLogisticExperts(k, d, { classes: C });
    const plain = new MultinomialLogisticExperts(k, d, { classes: C, plain: true });
    const ta = theta.map((v) => 0.2 * v);
    const tb = ta.slice();
    fast.mStep(ta, X, y, n, R, { maxIter: 50, tol: 1e-13 });
    plain.mStep(tb, X, y, n, R, { maxIter: 50, tol: 1e-13 });
    const Q = (e: MultinomialLogisticExperts, th: Float64Array): number => {
      const L = new Float64Array(n * k);
      e.logDensity(th, X, y, n, L);
      let s = 0;
      for (let j = 0; j < n * k; j++) s += R[j] * L[j];
      return s;
    };
    expect(ta).toEqual(tb);
    expect(Q(plain, ta)).toBeGreaterThan(Q(plain, theta.map((v) => 0.2 * v)));
  });

  it('the M-step honours a box (projected Newton), as the core does', () => {
    const { n, X, y, R } = makeCase(2, 3, 2, 7, 400);
    for (let t = 0; t < n; t++) X[t * 2] *= 6; // steep classes: the unconstrained optimum leaves the box
    const fast = new MultinomialLogisticExperts(2, 2, { classes: 3 });
    const plain = new MultinomialLogisticExperts(2, 2, { classes: 3, plain: true });
    const ta = new Float64Array(fast.nParams);
    const tb = new Float64Array(fast.nParams);
    fast.mStep(ta, X, y, n, R, { maxIter: 50, tol: 1e-13, bound: 0.05 });
    plain.mStep(tb, X, y, n, R, { maxIter: 50, tol: 1e-13, bound: 0.05 });
    for (let j = 0; j < ta.length; j++) {
      expect(Math.abs(ta[j])).toBeLessThanOrEqual(0.05);
      expect(ta[j]).toBe(tb[j]);
    }
    expect(Array.from(ta).some((v) => Math.abs(v) === 0.05)).toBe(true);
  });
});

describe('multinomial experts: negHessianQ', () => {
  it.each(SHAPES)('k=%i, C=%i, d=%i: equals central differences of gradQ (signed W), block diagonal', (k, C, d) => {
    const { n, theta, X, y, W } = makeCase(k, C, d, 1000 + k + C + d, 60);
    const e = new MultinomialLogisticExperts(k, d, { classes: C });
    const p = e.nParams;
    const H = new Float64Array(p * p);
    e.negHessianQ(theta, X, y, n, W, H);
    const gp = new Float64Array(p);
    const gm = new Float64Array(p);
    const h = 1e-5;
    for (let b = 0; b < p; b++) {
      const tp = theta.slice(); tp[b] += h;
      const tm = theta.slice(); tm[b] -= h;
      e.gradQ(tp, X, y, n, W, gp);
      e.gradQ(tm, X, y, n, W, gm);
      for (let a = 0; a < p; a++) {
        const fd = -(gp[a] - gm[a]) / (2 * h);
        expect(Math.abs(H[a * p + b] - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
        expect(H[a * p + b]).toBe(H[b * p + a]);
      }
    }
  });
});

describe('EM with the kernels = EM on the core path', () => {
  const C2 = { gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[2], [0]] }, experts: { type: 'multinomialLogistic', classes: 2, a: [[1, 0], [-1, 0]], b: [[[2], [0]], [[-1.5], [0]]] } };
  const C3 = { gate: { type: 'softmax', beta0: [0.3, 0], beta1: [[2, -1.5], [0, 0]] }, experts: { type: 'multinomialLogistic', classes: 3, a: [[1, -0.5, 0], [-1, 0.5, 0]], b: [[[2, 1], [-1, 2], [0, 0]], [[-2, 0.5], [1.5, -2], [0, 0]]] } };
  it.each([['C=2 d=1 (the multinomial-softmax preset truth)', C2, 2], ['C=3 d=2', C3, 1]] as const)('%s, k=2 from the truth: the same bits (θ, ℓ, trace, iterations), monotone', (_label, json, low) => {
    const k = 2;
    const truth = MixtureOfExperts.fromJSON(json);
    const n = 3000;
    const rng = new Rng(2024);
    const X = sampleX({ type: 'uniform', low: -low, high: low }, n, truth.d, rng.split('x'));
    const { y } = truth.sample(X, n, rng.split('y'));
    const data = { X, y, n, d: truth.d };
    // the same EM run from the truth with the kernels and with the core's loops
    const opts = { tol: 1e-6, gateBound: 10 };
    const plainExperts = new MultinomialLogisticExperts(k, truth.d, { classes: json.experts.classes, plain: true });
    const fast = runEM(truth, truth.theta, data, opts);
    const slow = runEM(new MixtureOfExperts(truth.gate, plainExperts, truth.theta.slice()), truth.theta, data, opts);
    expect(fast.iterations).toBe(slow.iterations);
    expect(fast.ll).toBe(slow.ll);
    expect(fast.trace).toEqual(slow.trace);
    expect(fast.theta).toEqual(slow.theta);
    expect(fast.ll).toBeGreaterThan(truth.logLikelihood(X, y, n));
    for (const r of [fast, slow]) for (let t = 1; t < r.trace.length; t++) expect(r.trace[t]).toBeGreaterThanOrEqual(r.trace[t - 1] - 1e-9 * Math.abs(r.trace[t - 1]));
    expect(fast.gradConverged).toBe(true);
    expect(slow.gradConverged).toBe(true);
  });
});

describe('softmax gate x multinomial experts: the exact observed information', () => {
  it('−∇²ℓ from the families (Louis) equals central differences of the score (k=2, C=3, d=1)', () => {
    const json = { gate: { type: 'softmax', beta0: [0.4, 0], beta1: [[1.5], [0]] }, experts: { type: 'multinomialLogistic', classes: 3, a: [[1, -0.5, 0], [-1, 0.5, 0]], b: [[[2], [-1], [0]], [[-1.5], [1], [0]]] } };
    const m = MixtureOfExperts.fromJSON(json);
    const n = 300;
    const rng = new Rng(77);
    const X = sampleX({ type: 'uniform', low: -2, high: 2 }, n, 1, rng.split('x'));
    const { y } = m.sample(X, n, rng.split('y'));
    const data = { X, y, n, d: 1 };
    expect(hasObservedInformation(m)).toBe(true);
    const ws = new EMWorkspace(m, n);
    const p = m.nParams;
    const theta = m.theta.map((v, j) => v + 0.1 * Math.sin(j + 1)); // off the maximum: the score is not 0
    eStep(m, theta, data, ws);
    const H = observedInformation(m, theta, data, ws)!;
    const gp = new Float64Array(p);
    const gm = new Float64Array(p);
    const h = 1e-5;
    for (let b = 0; b < p; b++) {
      const tp = theta.slice(); tp[b] += h;
      const tm = theta.slice(); tm[b] -= h;
      logLikelihoodGradient(m, tp, data, ws, gp);
      logLikelihoodGradient(m, tm, data, ws, gm);
      for (let a = 0; a < p; a++) {
        const fd = -(gp[a] - gm[a]) / (2 * h);
        expect(Math.abs(H[a * p + b] - fd)).toBeLessThan(1e-5 * Math.max(1, Math.abs(fd)));
      }
    }
  });
});
