import { describe, expect, it } from 'vitest';
import { summariseRate, judge, trendModels, claimOf, type ClaimSpec, type VerdictValue } from '../../src/measure/rate-summary.js';
import { Rng } from '../../src/numeric/rng.js';

// The medium-profile design: 12 log-spaced sizes over three decades, 20 replicates, log-normal
// noise (σ = 0.5) around the rate curve.
const NS = Array.from({ length: 12 }, (_, i) => Math.round(100 * Math.pow(1000, i / 11)));
const R = 20;
const SIGMA = 0.5;

function draw(f: (n: number) => number, seed: number, key: string): number[][] {
  const rng = new Rng(seed).split(key);
  return NS.map((n) => Array.from({ length: R }, () => f(n) * Math.exp(SIGMA * rng.normal())));
}

function tally(f: (n: number) => number, claim: ClaimSpec, key: string, draws = 200): Record<VerdictValue, number> {
  const c: Record<VerdictValue, number> = { reproduced: 0, contradicted: 0, inconclusive: 0 };
  for (let d = 0; d < draws; d++) c[judge(summariseRate(NS, draw(f, d + 1, key), { bootstrap: 300, seed: d }), claim).verdict]++;
  return c;
}

describe('verdict rule on synthetic rate data (200 seeded draws each)', () => {
  const cases: [string, (n: number) => number, ClaimSpec, VerdictValue][] = [
    ['n^-1/2 against O_P(n^-1/2)', (n) => n ** -0.5, { kind: 'rate', theory: -0.5 }, 'reproduced'],
    ['n^-1/8 against O_P(n^-1/8)', (n) => n ** -0.125, { kind: 'rate', theory: -0.125 }, 'reproduced'],
    ['n^0 against "does not converge"', () => 0.3, { kind: 'plateau', theory: 0 }, 'reproduced'],
    ['1/log n against "slower than any polynomial"', (n) => 1 / Math.log(n), { kind: 'slow', theory: 0 }, 'reproduced'],
    ['n^0 against O_P(n^-1/2)', () => 0.3, { kind: 'rate', theory: -0.5 }, 'contradicted'],
    ['n^0 against O_P(n^-1/8)', () => 0.3, { kind: 'rate', theory: -0.125 }, 'contradicted'],
    ['1/log n against O_P(n^-1/2)', (n) => 1 / Math.log(n), { kind: 'rate', theory: -0.5 }, 'contradicted'],
    ['n^-1/2 against "slower than any polynomial"', (n) => n ** -0.5, { kind: 'slow', theory: 0 }, 'contradicted'],
    ['n^-1/2 against "does not converge"', (n) => 3 * n ** -0.5, { kind: 'plateau', theory: 0 }, 'contradicted'],
  ];
  for (const [name, f, claim, want] of cases) {
    it(`${name} → ${want} in ≥ 95 %`, () => {
      const c = tally(f, claim, name);
      expect(c[want]).toBeGreaterThanOrEqual(190);
    });
  }

  it('one replicate per n (a zero-width bootstrap interval) is inconclusive, never a verdict', () => {
    const L = NS.map((n) => [n ** -0.5]);
    const v = judge(summariseRate(NS, L, { bootstrap: 50 }), { kind: 'rate', theory: -0.5 });
    expect(v.verdict).toBe('inconclusive');
    expect(v.reason).toMatch(/too few replicates \(1 < 5\)/);
  });

  it('too few replicates and heavy noise give inconclusive, not a wrong verdict', () => {
    const rng = new Rng(7);
    const L = [100, 1000].map((n) => Array.from({ length: 3 }, () => n ** -0.125 * Math.exp(2 * rng.normal())));
    const v = judge(summariseRate([100, 1000], L, { bootstrap: 300 }), { kind: 'rate', theory: -0.125 });
    expect(v.verdict).toBe('inconclusive');
  });
});

describe('summariseRate', () => {
  it('recovers exact power-law slopes in every summary, locally too', () => {
    const L = NS.map((n) => [1, 2, 3, 4, 5].map((c) => c * n ** -0.25));
    const s = summariseRate(NS, L, { bootstrap: 50 });
    for (const k of ['mean', 'median', 'quantile', 'upperHalf'] as const) {
      expect(s[k].slope).toBeCloseTo(-0.25, 10);
      expect(s[k].ci[0]).toBeLessThanOrEqual(-0.25 + 1e-9);
      expect(s[k].ci[1]).toBeGreaterThanOrEqual(-0.25 - 1e-9);
    }
    expect(s.localSlopes).toHaveLength(3);
    expect(s.localSlopes[2].nTo).toBe(100000);
    expect(s.localSlopes[0].nFrom).toBe(100);
    for (const w of s.localSlopes) expect(w.slope).toBeCloseTo(-0.25, 10);
    expect(s.models.best).toBe('power');
    // the 0.8-quantile of 1..5 (linear interpolation) is 4.2
    expect(s.quantile.slope).toBeCloseTo(-0.25, 10);
    expect(s.q).toBe(0.8);
  });

  it('local slopes of 1/log n rise toward 0 as −1/ln n', () => {
    const L = NS.map((n) => [1 / Math.log(n)]);
    const s = summariseRate(NS, L, { bootstrap: 10 });
    const sl = s.localSlopes.map((w) => w.slope);
    expect(sl[0]).toBeLessThan(sl[1]);
    expect(sl[1]).toBeLessThan(sl[2]);
    // the last decade 1e4..1e5: slope of −log log n in log n ≈ −1/ln(√(1e4·1e5)) within 2 %
    expect(sl[2]).toBeCloseTo(-1 / Math.log(Math.sqrt(1e9)), 2);
    expect(s.models.best).toBe('logPower');
    expect(s.models.logPower.lambda).toBeCloseTo(1, 10);
  });

  it('the upper quantile sees a heavy tail the median ignores', () => {
    // 30 % of replicates wander: loss 1 at every n; the rest fall at n^-1/2
    const L = NS.map((n) => Array.from({ length: 10 }, (_, r) => (r < 3 ? 1 : n ** -0.5)));
    const s = summariseRate(NS, L, { bootstrap: 50 });
    expect(s.median.slope).toBeCloseTo(-0.5, 10);
    expect(s.quantile.slope).toBeCloseTo(0, 10);
  });

  it('trendModels picks the plateau for a constant curve', () => {
    const u = NS.map(Math.log);
    const y = u.map((_, i) => Math.log(0.3) + (i % 2 ? 1e-3 : -1e-3));
    expect(trendModels(u, y).best).toBe('plateau');
  });

  it('rejects bad input with a clear message', () => {
    expect(() => summariseRate([100, 100], [[1], [1]])).toThrow(/two distinct/);
    expect(() => summariseRate([100, 1000], [[1], [NaN]])).toThrow(/n=1000/);
    expect(() => summariseRate([100, 1000], [[1], [1]], { q: 1 })).toThrow(/q:/);
    const z = summariseRate([100, 1000], [[0, 0, 1], [0, 1, 1]], { bootstrap: 20 });
    expect(z.median.slope).toBeNaN();
    expect(judge(z, { kind: 'rate', theory: -0.5 }).verdict).toBe('inconclusive');
  });

  it('is deterministic in its seed', () => {
    const L = draw((n) => n ** -0.5, 3, 'det');
    expect(JSON.stringify(summariseRate(NS, L, { seed: 5, bootstrap: 100 }))).toBe(JSON.stringify(summariseRate(NS, L, { seed: 5, bootstrap: 100 })));
  });

  it('claimOf defaults: negative theory is a rate bound, 0 a plateau unless stated', () => {
    expect(claimOf(-0.5)).toEqual({ kind: 'rate', theory: -0.5 });
    expect(claimOf(0)).toEqual({ kind: 'plateau', theory: 0 });
    expect(claimOf(0, 'slow', -0.25)).toEqual({ kind: 'slow', theory: 0, versus: -0.25 });
    expect(claimOf(undefined)).toBeUndefined();
  });
});
