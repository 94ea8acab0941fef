import { describe, it, expect } from 'vitest';
import { fitLSE, lseWarmStartSizes } from '../../src/estimate/lse.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { sampleX } from '../../src/model/data.js';
import { Rng } from '../../src/numeric/rng.js';

const GELU_TRUTH = {
  gate: { type: 'softmax', beta0: [-0.5, 0], beta1: [[3], [0]] },
  experts: { type: 'regression', activation: 'gelu', a: [[2], [-3]], b: [1, 0.5], noiseVariance: 0.04 },
};

function simulate(n: number, seed: number) {
  const truth = MixtureOfExperts.fromJSON(GELU_TRUTH);
  const rng = new Rng(seed);
  const X = sampleX({ type: 'uniform', low: -3, high: 3 }, n, 1, rng.split('x'));
  return { truth, data: { X, y: truth.sample(X, n, rng.split('y')).y, n, d: 1 } };
}

// The subsample warm start of Levenberg–Marquardt (lse.ts, `warmStart`).
describe('LSE subsample warm start', () => {
  it('stages n/3^j rows, each ≥ 5000, ascending; none below 15000 rows', () => {
    expect(lseWarmStartSizes(14999)).toEqual([]);
    expect(lseWarmStartSizes(15000)).toEqual([5000]);
    expect(lseWarmStartSizes(30000)).toEqual([10000]);
    expect(lseWarmStartSizes(50000)).toEqual([5556, 16667]);
    expect(lseWarmStartSizes(100000)).toEqual([11111, 33333]);
  });

  it('exact-specified GELU at n = 16000: the same minimum with and without it (SSE to 1e-9), converged; deterministic', () => {
    const { truth, data } = simulate(16000, 3);
    const base = { init: { type: 'nearTruth' as const, truth }, seed: 2, gateBound: 10, solver: 'lm' as const };
    const off = fitLSE(truth.spec(), data, base);
    const on = fitLSE(truth.spec(), data, { ...base, warmStart: true });
    expect(off.converged && on.converged).toBe(true);
    expect(on.gradientNorm).toBeLessThan(1e-8);
    expect(Math.abs(on.sse - off.sse) / off.sse).toBeLessThan(1e-9);
    for (let i = 0; i < truth.nParams; i++) expect(on.model.theta[i]).toBeCloseTo(off.model.theta[i], 5);
    // the warm start ran: its subsample iterations are counted, so the counts differ
    expect(on.iterations).not.toBe(off.iterations);
    const again = fitLSE(truth.spec(), data, { ...base, warmStart: true });
    expect(again.sse).toBe(on.sse);
    expect(Array.from(again.model.theta)).toEqual(Array.from(on.model.theta));
    expect(again.iterations).toBe(on.iterations);
  });

  it('variable projection (linear, exact k = 2, n = 16000): on by default, the same minimum as without it (SSE to 1e-9), converged', () => {
    const truth = MixtureOfExperts.fromJSON({ ...GELU_TRUTH, experts: { ...GELU_TRUTH.experts, activation: 'linear' } });
    const rng = new Rng(4);
    const n = 16000;
    const X = sampleX({ type: 'uniform', low: -3, high: 3 }, n, 1, rng.split('x'));
    const data = { X, y: truth.sample(X, n, rng.split('y')).y, n, d: 1 };
    const base = { init: { type: 'nearTruth' as const, truth }, seed: 2, gateBound: 10 };
    const on = fitLSE(truth.spec(), data, base);
    const off = fitLSE(truth.spec(), data, { ...base, warmStart: false });
    expect(on.solver).toBe('varpro');
    expect(on.converged && off.converged).toBe(true);
    expect(Math.abs(on.sse - off.sse) / off.sse).toBeLessThan(1e-9);
    expect(on.iterations).not.toBe(off.iterations);
  });
});
