import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { densityDistance, regressionDistance } from '../../src/measure/distance.js';
import { AdaptiveGK15, type BatchIntegrand } from '../../src/measure/quadrature.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import type { ModelJSON } from '../../src/model/model.js';
import { normalCdf } from '../../src/numeric/special.js';
import { ModelFormatError, OptionError } from '../../src/errors.js';

/** Property-test runs; FC_RUNS_SCALE=10 (say) for a stress run. */
const runs = (n: number): number => Math.round(n * Number(process.env.FC_RUNS_SCALE ?? 1));

class Poly implements BatchIntegrand {
  constructor(readonly p: number) {}
  evaluate(ys: Float64Array, out: Float64Array, n: number): void {
    for (let i = 0; i < n; i++) out[i] = Math.pow(ys[i], this.p);
  }
}
class Gauss implements BatchIntegrand {
  evaluate(ys: Float64Array, out: Float64Array, n: number): void {
    for (let i = 0; i < n; i++) out[i] = Math.exp(-0.5 * ys[i] * ys[i]) / Math.sqrt(2 * Math.PI);
  }
}
class Kink implements BatchIntegrand {
  evaluate(ys: Float64Array, out: Float64Array, n: number): void {
    for (let i = 0; i < n; i++) out[i] = Math.abs(ys[i] - 0.3);
  }
}

describe('adaptive Gauss–Kronrod', () => {
  const q = new AdaptiveGK15();
  it('one K15 panel is exact for polynomials of degree ≤ 22', () => {
    for (const p of [0, 1, 2, 13, 21, 22]) {
      const r = q.integrate(new Poly(p), Float64Array.of(-1, 1), 2, { absTol: 1, relTol: 1 });
      const exact = p % 2 === 1 ? 0 : 2 / (p + 1);
      expect(r.value).toBeCloseTo(exact, 14);
      expect(r.evaluations).toBe(15);
    }
  });
  it('integrates a Gaussian density and a kink to tolerance', () => {
    const g = q.integrate(new Gauss(), Float64Array.of(-40, -8, -4, -2, -1, 0, 1, 2, 4, 8, 40), 11);
    expect(Math.abs(g.value - 1)).toBeLessThan(1e-13);
    const k = q.integrate(new Kink(), Float64Array.of(-1, 1), 2);
    expect(Math.abs(k.value - (1.3 * 1.3 + 0.7 * 0.7) / 2)).toBeLessThan(1e-11);
  });  it('integrateBatched (a bisection level per call) accepts the same panels as integrate: same evaluations, same value to rounding', () => {
    const cases: [BatchIntegrand, Float64Array, number, number][] = [
      [new Gauss(), Float64Array.of(-40, -8, -4, -2, -1, 0, 1, 2, 4, 8, 40), 1e-12, 1e-10],
      [new Gauss(), Float64Array.of(-38, -6, -2, 0, 2, 6, 38), 1e-9, 1e-7],
      [new Kink(), Float64Array.of(-1, 1), 1e-12, 1e-10],
      [new Kink(), Float64Array.of(-1, -0.2, 0.9, 1), 1e-9, 1e-7],
      [new Poly(30), Float64Array.of(-1, 0.5, 1), 1e-12, 1e-12],
    ];
    let calls = 0;
    for (const [f, breaks, absTol, relTol] of cases) {
      const a = q.integrate(f, breaks, breaks.length, { absTol, relTol });
      const counting: BatchIntegrand = { evaluate: (ys, out, n) => { calls++; expect(n % 15).toBe(0); f.evaluate(ys, out, n); } };
      const b = new AdaptiveGK15().integrateBatched(counting, breaks, breaks.length, { absTol, relTol });
      expect(b.evaluations).toBe(a.evaluations);
      expect(Math.abs(b.value - a.value)).toBeLessThanOrEqual(1e-14 * Math.abs(a.value));
      expect(Math.abs(b.error - a.error)).toBeLessThanOrEqual(1e-12 * Math.max(a.error, 1e-300));
    }
    // one call per bisection level, not per panel
    expect(calls).toBeLessThan(cases.reduce((s, c) => s + q.integrate(c[0], c[1], c[1].length, { absTol: c[2], relTol: c[3] }).evaluations / 15, 0) / 2);
  });
});

/** A single-expert Gaussian model with mean a·x + b and variance v. */
function single(a: number, b: number, v: number): ModelJSON {
  return { gate: { type: 'softmax', beta0: [0], beta1: [[0]] }, experts: { type: 'gaussianLinear', a: [[a]], b: [b], variance: [v] } };
}

/** Closed-form Hellinger distance between N(μ1, v1) and N(μ2, v2). */
function hellingerClosed(m1: number, v1: number, m2: number, v2: number): number {
  const s1 = Math.sqrt(v1);
  const s2 = Math.sqrt(v2);
  const bc = Math.sqrt((2 * s1 * s2) / (v1 + v2)) * Math.exp(-((m1 - m2) ** 2) / (4 * (v1 + v2)));
  return Math.sqrt(1 - bc);
}

describe('density distances', () => {
  const X = Float64Array.from({ length: 50 }, (_, i) => i / 49);

  it('single-expert Gaussians: Hellinger and TV match the closed forms', () => {
    // constant means (a = 0): the distance does not depend on x, so the average is exact
    for (const [m1, v1, m2, v2] of [[0, 1, 0.5, 1], [1, 0.2, -1, 3], [0, 1, 0, 1.5], [2, 0.01, 2.001, 0.01]]) {
      const h = densityDistance(single(0, m1, v1), single(0, m2, v2), { x: X });
      expect(Math.abs(h.distance - hellingerClosed(m1, v1, m2, v2))).toBeLessThan(1e-9);
      expect(h.stderr).toBeLessThan(1e-12);
    }
    for (const [dm, v] of [[0.5, 1], [3, 0.3], [1e-3, 2]]) {
      const t = densityDistance(single(0, 0, v), single(0, dm, v), { x: X, metric: 'tv' });
      // TV of two equal-variance Gaussians: 2Φ(|Δμ|/(2σ)) − 1
      expect(Math.abs(t.distance - (2 * normalCdf(dm / (2 * Math.sqrt(v))) - 1))).toBeLessThan(1e-9);
    }
    // x-dependent means: the per-x closed form averaged over the same points
    const h = densityDistance(single(2, 0, 0.5), single(-1, 0.3, 0.7), { x: X });
    let s = 0;
    for (const x of X) s += hellingerClosed(2 * x, 0.5, -x + 0.3, 0.7);
    expect(Math.abs(h.distance - s / X.length)).toBeLessThan(1e-9);
    expect(h.stderr).toBeGreaterThan(0);
  });

  const gaussModel = fc.record({
    b: fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 1, maxLength: 3 }),
    seed: fc.integer({ min: 0, max: 1000 }),
  }).map(({ b, seed }) => {
    const k = b.length;
    const r = (i: number): number => Math.sin(seed * 7.1 + i * 3.3);
    return {
      gate: { type: 'softmax', beta0: Array.from({ length: k }, (_, i) => (i === k - 1 ? 0 : 2 * r(i))), beta1: Array.from({ length: k }, (_, i) => [i === k - 1 ? 0 : 5 * r(i + 10)]) },
      experts: { type: 'gaussianLinear', a: Array.from({ length: k }, (_, i) => [3 * r(i + 20)]), b, variance: Array.from({ length: k }, (_, i) => 0.05 + Math.abs(r(i + 30))) },
    } as ModelJSON;
  });

  it('properties: 0 for identical models, symmetric, within [0, 1], (E h)² ≤ E V', () => {
    fc.assert(fc.property(gaussModel, gaussModel, (A, B) => {
      const opts = { x: X.subarray(0, 12) };
      expect(densityDistance(A, A, opts).distance).toBeLessThan(1e-6);
      const hab = densityDistance(A, B, opts);
      const hba = densityDistance(B, A, opts);
      expect(Math.abs(hab.distance - hba.distance)).toBeLessThan(1e-9);
      expect(hab.distance).toBeGreaterThanOrEqual(0);
      expect(hab.distance).toBeLessThanOrEqual(1);
      const tab = densityDistance(A, B, { ...opts, metric: 'tv' });
      const tba = densityDistance(B, A, { ...opts, metric: 'tv' });
      expect(Math.abs(tab.distance - tba.distance)).toBeLessThan(1e-9);
      expect(tab.distance).toBeLessThanOrEqual(1 + 1e-12);
      // h² ≤ V pointwise, and (E h)² ≤ E h² by Jensen
      expect(hab.distance ** 2).toBeLessThanOrEqual(tab.distance + 1e-12);
      expect(densityDistance(A, A, { ...opts, metric: 'tv' }).distance).toBeLessThan(1e-9);
    }), { numRuns: runs(25) });
  });

  it('far-apart models approach distance 1; the authors\' truth against itself is 0', () => {
    const far = densityDistance(single(0, 0, 0.01), single(0, 50, 0.01), { x: X, metric: 'tv' });
    expect(far.distance).toBeGreaterThan(1 - 1e-12);
    const h = densityDistance(AUTHORS_TRUTH, AUTHORS_TRUTH, { samples: 200, seed: 3 });
    expect(h.distance).toBeLessThan(1e-7);
    expect(h.samples).toBe(200);
  });

  it('the default y-tolerances (1e-9 absolute, 1e-7 per panel) are within 1e-6 relative of a tight reference', () => {
    // fits of the kind the studies measure: near the truth, an over-specified 2-atom cell (a split
    // expert), a narrow expert, and a fit far off; the x points of a study (stratified on [0, 1])
    const Xs = Float64Array.from({ length: 64 }, (_, i) => (i + 0.5) / 64);
    const near: ModelJSON = {
      gate: { type: 'softmax', beta0: [-8.1, 0], beta1: [[25.2], [0]] },
      experts: { type: 'gaussianLinear', b: [15.01, -4.99], a: [[-20.02], [20.01]], variance: [0.091, 0.159] },
    };
    const split: ModelJSON = {
      gate: { type: 'softmax', beta0: [-8.5, -8.9, 0], beta1: [[25], [26], [0]] },
      experts: { type: 'gaussianLinear', b: [15.1, 14.9, -5], a: [[-20.3], [-19.8], [20]], variance: [0.08, 0.1, 0.16] },
    };
    const narrow: ModelJSON = {
      gate: { type: 'softmax', beta0: [-8, -3, 0], beta1: [[25], [1], [0]] },
      experts: { type: 'gaussianLinear', b: [15, 0, -5], a: [[-20], [3], [20]], variance: [0.09, 1e-4, 0.16] },
    };
    const far: ModelJSON = {
      gate: { type: 'softmax', beta0: [-2, 0], beta1: [[5], [0]] },
      experts: { type: 'gaussianLinear', b: [10, -2], a: [[-12], [15]], variance: [0.5, 0.3] },
    };
    for (const fit of [near, split, narrow, far]) {
      for (const metric of ['hellinger', 'tv'] as const) {
        const d = densityDistance(fit, AUTHORS_TRUTH, { x: Xs, metric });
        const ref = densityDistance(fit, AUTHORS_TRUTH, { x: Xs, metric, tol: 1e-15, relTol: 1e-14 });
        expect(Math.abs(d.distance - ref.distance)).toBeLessThan(1e-6 * ref.distance);
        expect(d.evaluations).toBeGreaterThan(0);
        expect(d.evaluations).toBeLessThan(ref.evaluations ?? 0);
      }
    }
  });

  it('Monte Carlo over a design is seeded and reports a standard error that covers the grid value', () => {
    const fit: ModelJSON = {
      gate: { type: 'softmax', beta0: [-8.1, 0], beta1: [[25.2], [0]] },
      experts: { type: 'gaussianLinear', b: [15.05, -4.9], a: [[-20.1], [20.2]], variance: [0.1, 0.15] },
    };
    const a = densityDistance(fit, AUTHORS_TRUTH, { samples: 400, seed: 7 });
    const b = densityDistance(fit, AUTHORS_TRUTH, { samples: 400, seed: 7 });
    expect(a.distance).toBe(b.distance);
    const grid = densityDistance(fit, AUTHORS_TRUTH, { x: { type: 'grid', low: 0, high: 1 }, samples: 4000 });
    expect(Math.abs(a.distance - grid.distance)).toBeLessThan(4 * a.stderr);
    expect(a.stderr).toBeGreaterThan(0);
  });

  it('multinomial experts: exact sums over the classes', () => {
    const mn = (shift: number): ModelJSON => ({
      gate: { type: 'softmax', beta0: [0], beta1: [[0]] },
      experts: { type: 'multinomialLogistic', classes: 3, a: [[shift, 0, 0]], b: [[[0], [0], [0]]] },
    });
    // P(A) = softmax(1, 0, 0), P(B) = (1/3, 1/3, 1/3)
    const e = Math.E;
    const p = [e / (e + 2), 1 / (e + 2), 1 / (e + 2)];
    const h2 = 0.5 * p.reduce((s, pc) => s + (Math.sqrt(pc) - Math.sqrt(1 / 3)) ** 2, 0);
    const tv = 0.5 * p.reduce((s, pc) => s + Math.abs(pc - 1 / 3), 0);
    expect(densityDistance(mn(1), mn(0), { x: X }).distance).toBeCloseTo(Math.sqrt(h2), 14);
    expect(densityDistance(mn(1), mn(0), { x: X, metric: 'tv' }).distance).toBeCloseTo(tv, 14);
    expect(() => densityDistance(mn(1), AUTHORS_TRUTH, { x: X })).toThrow(ModelFormatError);
  });

  it('regression models: L2 distance of the regression functions, and densities with Gaussian noise', () => {
    const rg = (b: number, nu?: number): ModelJSON => ({
      gate: { type: 'softmax', beta0: [0], beta1: [[0]] },
      experts: { type: 'regression', activation: 'linear', a: [[1]], b: [b], ...(nu === undefined ? {} : { noiseVariance: nu }) },
    });
    const l2 = regressionDistance(rg(0), rg(0.25), { x: X });
    expect(l2.distance).toBeCloseTo(0.25, 14);
    expect(l2.stderr).toBeLessThan(1e-12);
    const h = densityDistance(rg(0, 0.5), rg(0.25, 0.5), { x: X });
    expect(Math.abs(h.distance - hellingerClosed(0, 0.5, 0.25, 0.5))).toBeLessThan(1e-9);
    expect(() => densityDistance(rg(0), rg(1), { x: X })).toThrow(/noiseVariance/);
  });

  it('validates its options', () => {
    expect(() => densityDistance(AUTHORS_TRUTH, AUTHORS_TRUTH, { metric: 'kl' as 'tv' })).toThrow(OptionError);
    expect(() => densityDistance(AUTHORS_TRUTH, AUTHORS_TRUTH, { samples: 0 })).toThrow(OptionError);
  });
});
