import { describe, it, expect } from 'vitest';
import { MixtureOfExperts } from '../../src/model/model.js';
import { sampleX } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';
import { lseNormalEquations, lseObjective, LSEWorkspace } from '../../src/estimate/lse.js';
import { lseHessian, LSEHessianWorkspace } from '../../src/estimate/lse-hessian.js';
import { fusedCurvature, fusedSSE, hasFusedKernels, LSEKernelWorkspace } from '../../src/estimate/lse-kernels.js';
import { unrolledShape } from '../../src/estimate/lse-kernels-unrolled.js';

function maxRel(a: Float64Array, b: Float64Array): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / scale;
}

// The fused one-pass kernels (softmax gate × regression experts) against the generic passes:
// SSE, JᵀJ, Jᵀe (lseNormalEquations) and the exact Hessian (lseHessian), away from any optimum.
describe('fused LSE kernels', () => {
  for (const [activation, d, k] of [['gelu', 1, 3], ['gelu', 2, 3], ['sigmoid', 1, 2], ['tanh', 2, 4], ['linear', 1, 3], ['relu', 1, 3]] as const) {
    it(`${activation} experts, d = ${d}, k = ${k}: SSE, JᵀJ, Jᵀe and ∇²(S/2) equal the generic passes`, () => {
      const rng = new Rng(11);
      const g = (s: number) => Array.from({ length: k }, (_, i) => Array.from({ length: d }, (_, u) => s * Math.sin(3 * i + u + 1)));
      const truth = MixtureOfExperts.fromJSON({
        gate: { type: 'softmax', beta0: Array.from({ length: k }, (_, i) => (i === k - 1 ? 0 : 0.4 * i - 0.3)), beta1: g(2).map((r, i) => (i === k - 1 ? r.map(() => 0) : r)) },
        experts: { type: 'regression', activation, a: g(1.5), b: Array.from({ length: k }, (_, i) => 0.5 - 0.4 * i), noiseVariance: 0.04 },
      });
      expect(hasFusedKernels(truth)).toBe(true);
      const n = 300;
      const X = sampleX({ type: 'uniform', low: -2, high: 2 }, n, d, rng.split('x'));
      const data = { X, y: truth.sample(X, n, rng.split('y')).y, n, d };
      const th = truth.theta.map((v, i) => v + 0.3 * Math.sin(i + 1));
      const p = th.length;
      const kws = new LSEKernelWorkspace(truth);
      const ws = new LSEWorkspace(truth, n);
      const s0 = lseObjective(truth, th, data, ws);
      expect(Math.abs(fusedSSE(truth, th, data, kws) - s0) / s0).toBeLessThan(1e-13);
      const A = new Float64Array(p * p);
      const b = new Float64Array(p);
      const A0 = new Float64Array(p * p);
      const b0 = new Float64Array(p);
      expect(Math.abs(fusedCurvature(truth, th, data, kws, A, b, false) - s0) / s0).toBeLessThan(1e-13);
      lseNormalEquations(truth, th, data, ws, A0, b0);
      expect(maxRel(A, A0)).toBeLessThan(1e-12);
      expect(maxRel(b, b0)).toBeLessThan(1e-12);
      fusedCurvature(truth, th, data, kws, A, b, true);
      lseHessian(truth, th, data, new LSEHessianWorkspace(truth, n), A0, b0);
      expect(maxRel(A, A0)).toBeLessThan(1e-12);
      expect(maxRel(b, b0)).toBeLessThan(1e-12);
      // the exact Hessian differs from JᵀJ here (e ≠ 0): the second-order term is really there
      const G = new Float64Array(p * p);
      lseNormalEquations(truth, th, data, ws, G, b0);
      expect(maxRel(A, G)).toBeGreaterThan(1e-3);
    });
  }
  // the compiled passes (lse-kernels-unrolled.ts) against the plain loops: the same bits
  for (const [activation, d, k] of [['gelu', 1, 3], ['gelu', 2, 4], ['sigmoid', 1, 2], ['sigmoid', 3, 3], ['tanh', 2, 4], ['linear', 1, 3], ['relu', 2, 3]] as const) {
    it(`${activation} experts, d = ${d}, k = ${k}: the unrolled passes give the loop passes' bits`, () => {
      expect(unrolledShape(k, d)).toBe(true);
      const rng = new Rng(5);
      const g = (s: number) => Array.from({ length: k }, (_, i) => Array.from({ length: d }, (_, u) => s * Math.cos(2 * i + u + 1)));
      const truth = MixtureOfExperts.fromJSON({
        gate: { type: 'softmax', beta0: Array.from({ length: k }, (_, i) => (i === k - 1 ? 0 : 0.5 * i - 0.2)), beta1: g(2).map((r, i) => (i === k - 1 ? r.map(() => 0) : r)) },
        experts: { type: 'regression', activation, a: g(1.5), b: Array.from({ length: k }, (_, i) => 0.5 - 0.4 * i), noiseVariance: 0.04 },
      });
      const n = 257;
      // x up to ±6: GELU arguments beyond ±8 take the erfc branch of Φ
      const X = sampleX({ type: 'uniform', low: -6, high: 6 }, n, d, rng.split('x'));
      const data = { X, y: truth.sample(X, n, rng.split('y')).y, n, d };
      const th = truth.theta.map((v, i) => v + 0.3 * Math.sin(i + 1));
      const p = th.length;
      const fast = new LSEKernelWorkspace(truth);
      const loops = new LSEKernelWorkspace(truth, true);
      expect(fast.sseKernel).toBeDefined();
      expect(loops.sseKernel).toBeUndefined();
      expect(fusedSSE(truth, th, data, fast)).toBe(fusedSSE(truth, th, data, loops));
      for (const exact of [false, true]) {
        const A = new Float64Array(p * p), b = new Float64Array(p), A0 = new Float64Array(p * p), b0 = new Float64Array(p);
        expect(fusedCurvature(truth, th, data, fast, A, b, exact)).toBe(fusedCurvature(truth, th, data, loops, A0, b0, exact));
        expect(Array.from(A)).toEqual(Array.from(A0));
        expect(Array.from(b)).toEqual(Array.from(b0));
      }
    });
  }
  it('non-finite θ gives Infinity; applies only without an output weight and to the plain softmax gate', () => {
    const m = MixtureOfExperts.fromJSON({ gate: { type: 'softmax', beta0: [0, 0], beta1: [[1], [0]] }, experts: { type: 'regression', activation: 'gelu', a: [[1], [2]], b: [0, 0], noiseVariance: 0.1 } });
    const th = m.theta.slice();
    th[0] = NaN;
    const data = { X: new Float64Array([0, 1]), y: new Float64Array([0, 1]), n: 2, d: 1 };
    expect(fusedSSE(m, th, data, new LSEKernelWorkspace(m))).toBe(Infinity);
    expect(hasFusedKernels(MixtureOfExperts.fromJSON({ gate: { type: 'softmax', beta0: [0, 0], beta1: [[1], [0]] }, experts: { type: 'regression', activation: 'tanh', outputWeight: true, c: [1, 1], a: [[1], [2]], b: [0, 0], noiseVariance: 0.1 } }))).toBe(false);
    expect(hasFusedKernels(MixtureOfExperts.fromJSON({ gate: { type: 'modified', map: 'sin', beta0: [0, 0], beta1: [[1], [0]] }, experts: { type: 'regression', activation: 'gelu', a: [[1], [2]], b: [0, 0], noiseVariance: 0.1 } }))).toBe(false);
  });
});
