import { describe, it, expect } from 'vitest';
import { fitEM } from '../../src/estimate/em.js';
import { subsample, warmStartSize, WARM_START_MIN_N } from '../../src/estimate/warm-start.js';
import { Rng } from '../../src/numeric/rng.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { simulate, TRUTH_D2K3 } from '../helpers.js';

describe('subsample warm start of k-means++ / random EM starts', () => {
  it('subsample: m distinct rows in their original order, the same rows for the same stream', () => {
    const { X, y, n, d } = simulate(TRUTH_D2K3, 3000, 41, -1, 1);
    const data = { X, y, n, d };
    const a = subsample(data, 500, new Rng(3).split('warm-start', 0));
    const b = subsample(data, 500, new Rng(3).split('warm-start', 0));
    expect(Buffer.from(a.y.buffer).equals(Buffer.from(b.y.buffer))).toBe(true);
    // every drawn row is a row of the data, each at most once, in increasing order
    const index = new Map<number, number>();
    for (let t = 0; t < n; t++) index.set(y[t], t);
    let last = -1;
    for (let i = 0; i < 500; i++) {
      const t = index.get(a.y[i])!;
      expect(t).toBeGreaterThan(last);
      expect(a.X[2 * i]).toBe(X[2 * t]);
      expect(a.X[2 * i + 1]).toBe(X[2 * t + 1]);
      last = t;
    }
    expect(warmStartSize(WARM_START_MIN_N - 1)).toBe(0);
    expect(warmStartSize(1e5)).toBe(5000);
    expect(warmStartSize(1e6)).toBe(5000);
  });

  it('d = 2, k = 3 at n = 2e4 from k-means++: the same maximum as without, in fewer full-data iterations; reproducible', () => {
    const { truth, X, y, n, d } = simulate(TRUTH_D2K3, 20000, 42, -1, 1);
    const data = { X, y, n, d };
    const spec = { ...truth.spec(), k: 3 };
    const warm = fitEM(spec, data, { seed: 4 });
    const cold = fitEM(spec, data, { seed: 4, warmStart: false });
    expect(warm.converged).toBe(true);
    expect(cold.converged).toBe(true);
    expect(Math.abs(warm.logLikelihood - cold.logLikelihood)).toBeLessThan(1e-9 * Math.abs(cold.logLikelihood));
    expect(warm.iterations).toBeLessThan(cold.iterations);
    expect(warm.iterations).toBeLessThanOrEqual(16);
    // the trace is monotone from the warm start on
    for (let i = 1; i < warm.trace.length; i++) expect(warm.trace[i]).toBeGreaterThanOrEqual(warm.trace[i - 1] - 1e-12 * Math.abs(warm.trace[i - 1]));
    const again = fitEM(spec, data, { seed: 4 });
    expect(JSON.stringify(again.model.toJSON())).toBe(JSON.stringify(warm.model.toJSON()));
  });

  it('is not used for model or nearTruth starts, nor below the row threshold', () => {
    const { truth, X, y, n, d } = simulate(AUTHORS_TRUTH, 3000, 43);
    const data = { X, y, n, d };
    const spec = { ...truth.spec(), k: 2 };
    for (const init of [{ type: 'kmeans++' as const }, { type: 'nearTruth' as const, truth }]) {
      const a = fitEM(spec, data, { seed: 2, init });
      const b = fitEM(spec, data, { seed: 2, init, warmStart: false });
      expect(JSON.stringify(a.model.toJSON())).toBe(JSON.stringify(b.model.toJSON()));
      expect(a.iterations).toBe(b.iterations);
    }
  });
});
