import { describe, it, expect } from 'vitest';
import { fitRate, ols } from '../../src/measure/rate.js';
import { Rng } from '../../src/numeric/rng.js';
import { DataError } from '../../src/errors.js';

function grid(lo: number, hi: number, m: number): number[] {
  return Array.from({ length: m }, (_, i) => Math.round(Math.exp(Math.log(lo) + ((Math.log(hi) - Math.log(lo)) * i) / (m - 1))));
}

/** c·n^−α·exp(σZ) for each n, R replicates. */
function synthetic(rng: Rng, ns: number[], c: number, alpha: number, sigma: number, R: number): number[][] {
  return ns.map((n) => Array.from({ length: R }, () => c * Math.pow(n, -alpha) * Math.exp(sigma * rng.normal())));
}

describe('fitRate', () => {
  it('ols is exact on a line', () => {
    const f = ols([0, 1, 2, 3], [1, 3, 5, 7]);
    expect(f.slope).toBeCloseTo(2, 14);
    expect(f.intercept).toBeCloseTo(1, 14);
    expect(f.r2).toBeCloseTo(1, 14);
  });

  it('an exact power law gives its exponent and intercept (the authors\' exact K=2 legend 3.5·n^−0.63788)', () => {
    const ns = grid(100, 1e5, 30);
    const losses = ns.map((n) => [33.2 * Math.pow(n, -0.63788), 33.2 * Math.pow(n, -0.63788)]);
    const r = fitRate(ns, losses, { bootstrap: 50 });
    expect(r.slope).toBeCloseTo(-0.63788, 12);
    expect(r.intercept).toBeCloseTo(Math.log(33.2), 11);
    expect(Math.round(r.intercept * 10) / 10).toBe(3.5);
    expect(r.medianSlope).toBeCloseTo(-0.63788, 12);
    expect(r.ci[0]).toBeCloseTo(-0.63788, 12);
    expect(r.ci[1]).toBeCloseTo(-0.63788, 12);
    expect([r.nMin, r.nMax, r.points, r.reps]).toEqual([100, 1e5, 30, 2]);
  });

  it('recovers a known exponent from noisy synthetic losses within its bootstrap interval', () => {
    const ns = grid(100, 1e5, 20);
    const alpha = 0.5;
    const sigma = 0.8;
    let covered = 0;
    let coveredMedian = 0;
    const trials = 20;
    for (let s = 0; s < trials; s++) {
      const rng = new Rng(1000 + s);
      const losses = synthetic(rng, ns, 2, alpha, sigma, 40);
      const r = fitRate(ns, losses, { bootstrap: 400, seed: s });
      expect(r.ci[0]).toBeLessThan(r.slope);
      expect(r.ci[1]).toBeGreaterThan(r.slope);
      expect(Math.abs(r.slope + alpha)).toBeLessThan(0.1);
      if (r.ci[0] <= -alpha && -alpha <= r.ci[1]) covered++;
      if (r.medianCi[0] <= -alpha && -alpha <= r.medianCi[1]) coveredMedian++;
    }
    // nominal 95 %: P(fewer than 15 of 20 covered) < 1e-3 under correct coverage
    expect(covered).toBeGreaterThanOrEqual(15);
    expect(coveredMedian).toBeGreaterThanOrEqual(15);
    // and the first data set specifically
    const r0 = fitRate(ns, synthetic(new Rng(1000), ns, 2, alpha, sigma, 40), { bootstrap: 400 });
    expect(r0.ci[0]).toBeLessThanOrEqual(-alpha);
    expect(r0.ci[1]).toBeGreaterThanOrEqual(-alpha);
  });

  it('median of an even number of replicates is the mean of the middle two', () => {
    const r = fitRate([1, Math.E], [[10, 1, 3, 2], [5, 1, 2, 4, 3]], { bootstrap: 10 });
    expect(r.medianIntercept).toBeCloseTo(Math.log(2.5), 14);
    expect(r.medianSlope).toBeCloseTo(Math.log(3) - Math.log(2.5), 14);
    expect(r.intercept).toBeCloseTo(Math.log(4), 14);
    expect(r.reps).toBe(4);
  });

  it('is seeded: the same seed gives the same interval', () => {
    const ns = grid(100, 1e4, 8);
    const losses = synthetic(new Rng(5), ns, 1, 0.25, 0.5, 10);
    expect(fitRate(ns, losses, { seed: 3, bootstrap: 200 }).ci).toEqual(fitRate(ns, losses, { seed: 3, bootstrap: 200 }).ci);
    expect(fitRate(ns, losses, { seed: 3, bootstrap: 200 }).ci).not.toEqual(fitRate(ns, losses, { seed: 4, bootstrap: 200 }).ci);
  });

  it('the median slope resists outliers that drive the mean slope (math-spec §8.2)', () => {
    const ns = grid(1e4, 1e5, 10);
    const rng = new Rng(9);
    // 30 % of the replicates stuck near 1 (the translation artifact), the rest at n^−1/2
    const losses = ns.map((n) => Array.from({ length: 40 }, (_, r) => (r < 12 ? 1 + 0.01 * rng.uniform() : Math.pow(n, -0.5) * Math.exp(0.2 * rng.normal()))));
    const r = fitRate(ns, losses, { bootstrap: 200 });
    expect(Math.abs(r.slope)).toBeLessThan(0.05);
    expect(r.medianSlope).toBeCloseTo(-0.5, 1);
  });

  it('rejects bad input with a clear message', () => {
    expect(() => fitRate([100], [[1]])).toThrow(/two distinct/);
    expect(() => fitRate([100, 200], [[1]])).toThrow(DataError);
    expect(() => fitRate([100, 200], [[1], []])).toThrow(/no losses at n=200/);
    expect(() => fitRate([100, 200], [[1], [NaN]])).toThrow(/loss #1 at n=200/);
    expect(() => fitRate([100, 200], [[1], [0, 0]])).toThrow(/mean loss at n=200 is 0/);
  });
});
