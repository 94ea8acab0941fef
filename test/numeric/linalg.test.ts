import { describe, it, expect } from 'vitest';
import { solveSPD, weightedLeastSquares } from '../../src/numeric/linalg.js';
import { logSumExp, softmaxRowsInPlace } from '../../src/numeric/logsumexp.js';
import { Rng } from '../../src/numeric/rng.js';

describe('linear algebra', () => {
  it('solves an SPD system exactly', () => {
    const A = new Float64Array([4, 2, 0, 2, 5, 1, 0, 1, 3]);
    const x = new Float64Array([1, -2, 3]);
    const b = new Float64Array(3);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) b[i] += A[i * 3 + j] * x[j];
    const out = new Float64Array(3);
    expect(solveSPD(A, b, 3, out, new Float64Array(9))).toBe(0);
    for (let i = 0; i < 3; i++) expect(out[i]).toBeCloseTo(x[i], 12);
  });

  it('falls back to a ridge on a singular system and reports it', () => {
    const A = new Float64Array([1, 1, 1, 1]);
    const out = new Float64Array(2);
    const ridge = solveSPD(A, new Float64Array([2, 2]), 2, out, new Float64Array(4));
    expect(ridge).toBeGreaterThan(0);
    expect(out[0] + out[1]).toBeCloseTo(2, 6);
  });

  it('weighted least squares recovers exact coefficients (d = 1 and d = 3)', () => {
    const rng = new Rng(1);
    for (const d of [1, 3]) {
      const n = 500;
      const X = new Float64Array(n * d);
      const y = new Float64Array(n);
      const W = new Float64Array(n * 2);
      const coefTrue = [0.5, ...Array.from({ length: d }, (_, u) => u - 1.5)];
      for (let t = 0; t < n; t++) {
        let mu = coefTrue[0];
        for (let u = 0; u < d; u++) {
          X[t * d + u] = rng.normal();
          mu += coefTrue[u + 1] * X[t * d + u];
        }
        y[t] = mu;
        W[t * 2 + 1] = rng.uniform() + 0.1;
      }
      const p = d + 1;
      const coef = new Float64Array(p);
      weightedLeastSquares(X, y, n, d, W, 2, 1, coef, new Float64Array(p * p), new Float64Array(p), new Float64Array(p * p));
      coefTrue.forEach((c, i) => expect(coef[i]).toBeCloseTo(c, 10));
    }
  });

  it('weighted least squares matches the weighted normal equations on noisy data', () => {
    const n = 4;
    const X = new Float64Array([0, 1, 2, 3]);
    const y = new Float64Array([1, 2, 2, 5]);
    const W = new Float64Array([1, 2, 1, 3]);
    const coef = new Float64Array(2);
    weightedLeastSquares(X, y, n, 1, W, 1, 0, coef, new Float64Array(4), new Float64Array(2), new Float64Array(4));
    // hand-computed: Σw=7, Σwx=13, Σwx²=33, Σwy=22, Σwxy=53 → b=(33·22−13·53)/(7·33−169), a=(7·56−13·24)/(7·33−169)
    expect(coef[0]).toBeCloseTo((33 * 22 - 13 * 53) / (7 * 33 - 169), 12);
    expect(coef[1]).toBeCloseTo((7 * 53 - 13 * 22) / (7 * 33 - 169), 12);
  });

  it('log-sum-exp is stable and softmax rows sum to one', () => {
    expect(logSumExp([1000, 1000], 0, 2)).toBeCloseTo(1000 + Math.log(2), 12);
    expect(logSumExp([-Infinity, -Infinity], 0, 2)).toBe(-Infinity);
    expect(logSumExp([-Infinity, 0], 0, 2)).toBe(0);
    const A = new Float64Array([1, 2, 3, -1000, 0, -Infinity]);
    const total = softmaxRowsInPlace(A, 2, 3);
    expect(A[0] + A[1] + A[2]).toBeCloseTo(1, 14);
    expect(A[3] + A[4] + A[5]).toBeCloseTo(1, 14);
    expect(A[5]).toBe(0);
    expect(total).toBeCloseTo(logSumExp([1, 2, 3], 0, 3) + 0, 12);
  });
});
