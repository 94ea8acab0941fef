import { describe, it, expect } from 'vitest';
import { GaussianLinearExperts } from '../../src/experts/gaussian-linear.js';
import { Rng } from '../../src/numeric/rng.js';
import { fdGradient, relMaxDiff, randomWeights } from '../helpers.js';

describe('Gaussian linear experts', () => {
  it.each([[2, 1], [3, 2]])('log-density is the normal log-density (k=%i, d=%i)', (k, d) => {
    const ex = new GaussianLinearExperts(k, d);
    const rng = new Rng(1);
    const theta = new Float64Array(ex.nParams).map(() => rng.normal());
    const n = 5;
    const X = new Float64Array(n * d).map(() => rng.normal());
    const y = new Float64Array(n).map(() => rng.normal());
    const out = new Float64Array(n * k);
    ex.logDensity(theta, X, y, n, out);
    const json = ex.toJSON(theta);
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < k; i++) {
        let mu = (json.b as number[])[i];
        for (let u = 0; u < d; u++) mu += (json.a as number[][])[i][u] * X[t * d + u];
        const v = (json.variance as number[])[i];
        expect(out[t * k + i]).toBeCloseTo(-0.5 * Math.log(2 * Math.PI * v) - (y[t] - mu) ** 2 / (2 * v), 12);
      }
    }
  });

  it.each([[2, 1], [3, 2]])('gradQ and rowGradQ match finite differences with signed weights (k=%i, d=%i)', (k, d) => {
    const ex = new GaussianLinearExperts(k, d);
    const rng = new Rng(2);
    const n = 30;
    const X = new Float64Array(n * d).map(() => rng.normal());
    const y = new Float64Array(n).map(() => 2 * rng.normal());
    const W = randomWeights(n, k, rng, true);
    const theta = new Float64Array(ex.nParams).map(() => 0.5 * rng.normal());
    const Q = (th: Float64Array): number => {
      const o = new Float64Array(n * k);
      ex.logDensity(th, X, y, n, o);
      let s = 0;
      for (let i = 0; i < n * k; i++) s += W[i] * o[i];
      return s;
    };
    const g = new Float64Array(ex.nParams);
    ex.gradQ(theta, X, y, n, W, g);
    expect(relMaxDiff(g, fdGradient(Q, theta))).toBeLessThan(1e-7);
    const rows = new Float64Array(n * ex.nParams);
    ex.rowGradQ(theta, X, y, n, W, rows);
    const sum = new Float64Array(ex.nParams);
    for (let t = 0; t < n; t++) for (let j = 0; j < ex.nParams; j++) sum[j] += rows[t * ex.nParams + j];
    expect(relMaxDiff(sum, g)).toBeLessThan(1e-12);
  });

  // (2,1), (3,2): unrolled kernels; (5,12): k·(d+1) > 64, plain loops
  it.each([[2, 1], [3, 2], [5, 12]])('the M-step is the weighted maximum: gradQ vanishes after it (k=%i, d=%i)', (k, d) => {
    const ex = new GaussianLinearExperts(k, d);
    const rng = new Rng(3);
    const n = 400;
    const X = new Float64Array(n * d).map(() => rng.normal());
    const y = new Float64Array(n).map((_, t) => 10 + X[t * d] - X[t * d + d - 1] + 0.5 * rng.normal());
    const R = randomWeights(n, k, rng, false);
    const theta = new Float64Array(ex.nParams);
    ex.prepare(X, y, n);
    ex.mStep(theta, X, y, n, R, { maxIter: 1, tol: 0 });
    const g = new Float64Array(ex.nParams);
    ex.gradQ(theta, X, y, n, R, g);
    for (const v of g) expect(Math.abs(v)).toBeLessThan(1e-8);
    for (let i = 0; i < k; i++) expect(Math.exp(theta[i * (d + 2) + d + 1])).toBeGreaterThan(0.1); // a real fit, not the start
  });

  it('JSON round-trips and rejects a non-positive variance naming the field', () => {
    const ex = new GaussianLinearExperts(2, 1);
    const json = { type: 'gaussianLinear', a: [[-20], [20]], b: [15, -5], variance: [0.09, 0.16] };
    expect(ex.toJSON(ex.paramsFromJSON(json))).toEqual(expect.objectContaining({ a: [[-20], [20]], b: [15, -5] }));
    const v = ex.toJSON(ex.paramsFromJSON(json)).variance as number[];
    expect(v[0]).toBeCloseTo(0.09, 14);
    expect(() => ex.paramsFromJSON({ ...json, variance: [0.09, -1] })).toThrow('experts.variance[1]: must be > 0, got -1');
    expect(() => ex.paramsFromJSON({ ...json, a: [[1, 2], [3, 4]] })).toThrow('experts.a[0]: expected 1 entries, got 2');
  });

  it('samples have the expert mean and variance', () => {
    const ex = new GaussianLinearExperts(2, 1);
    const theta = ex.paramsFromJSON({ type: 'gaussianLinear', a: [[2], [0]], b: [1, 0], variance: [0.25, 1] });
    const rng = new Rng(4);
    const X = new Float64Array([0.5]);
    let s = 0, s2 = 0;
    const m = 50000;
    for (let i = 0; i < m; i++) {
      const v = ex.sample(theta, 0, X, 0, rng);
      s += v; s2 += v * v;
    }
    expect(s / m).toBeCloseTo(2, 1);
    expect(s2 / m - (s / m) ** 2).toBeCloseTo(0.25, 1);
  });
});
