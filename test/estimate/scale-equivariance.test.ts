/**
 * Scale-equivariant fitting (issue 12, item 1): fitEM runs on internally standardised data, so
 * y → c·y changes ℓ by exactly −n·log c and the expert parameters by c (variances by c²), x → c·x
 * changes only the slopes on x, and `converged` does not change, for c from 1e-150 to 1e150. The
 * variance floor is relative to a robust scale of y, so one outlier cannot lift it.
 */
import { describe, expect, it } from 'vitest';
import { MixtureOfExperts } from '../../src/model/model.js';
import { AUTHORS_TRUTH } from '../../src/model/presets.js';
import { Rng } from '../../src/numeric/rng.js';
import { sampleX, type Dataset } from '../../src/model/data.js';
import { fitEM, type FitResult } from '../../src/estimate/em.js';
import { robustScale, RELATIVE_VARIANCE_FLOOR } from '../../src/estimate/standardize.js';
import type { EMOptions } from '../../src/estimate/options.js';

const truth = MixtureOfExperts.fromJSON(AUTHORS_TRUTH);
const n = 2000;
const rng = new Rng(12);
const X = sampleX({ type: 'uniform', low: 0, high: 1 }, n, 1, rng.split('x'));
const { y } = truth.sample(X, n, rng.split('y'));
const data: Dataset = { X, y, n, d: 1 };
const spec = { ...truth.spec(), k: 2 };

interface Flat { beta0: number[]; beta1: number[]; a: number[]; b: number[]; variance: number[] }
function flat(r: FitResult): Flat {
  const j = r.model.toJSON();
  return {
    beta0: j.gate.beta0 as number[], beta1: (j.gate.beta1 as number[][]).flat(),
    a: (j.experts.a as number[][]).flat(), b: j.experts.b as number[], variance: j.experts.variance as number[],
  };
}

/** |got − want| ≤ tol·max(|want|, floor) elementwise. */
function close(got: number[], want: number[], tol: number, what: string, floor = 0): void {
  expect(got.length, what).toBe(want.length);
  got.forEach((g, i) => expect(Math.abs(g - want[i]), `${what}[${i}]: ${g} vs ${want[i]}`).toBeLessThanOrEqual(tol * Math.max(Math.abs(want[i]), floor)));
}

const SCALES = [1e-150, 1e-100, 1e-6, 1e-3, 1e3, 1e6, 1e100, 1e150];

describe('scale equivariance of fitEM', () => {
  /** The truth for data y·c: every expert parameter scaled (b, a by c, ν by c²). */
  const scaledTruth = (c: number): MixtureOfExperts => {
    const j = truth.toJSON();
    return MixtureOfExperts.fromJSON({ gate: j.gate, experts: { ...j.experts, a: (j.experts.a as number[][]).map((r) => r.map((v) => v * c)), b: (j.experts.b as number[]).map((v) => v * c), variance: (j.experts.variance as number[]).map((v) => v * c * c) } });
  };
  const cases: [string, (c: number) => EMOptions][] = [
    ['k-means++ start', () => ({})],
    ['start from a given model (scaled with the data), 2 restarts', (c) => ({ init: { type: 'model', model: scaledTruth(c) }, restarts: 2 })],
  ];
  for (const [label, options] of cases) {
    it(`y → c·y, ${label}: ℓ − n·log c, b·c, a·c, ν·c², the same gate and converged, c = 1e-150…1e150`, () => {
      const base = fitEM(spec, data, options(1));
      expect(base.converged).toBe(true);
      const f0 = flat(base);
      for (const c of SCALES) {
        const r = fitEM(spec, { ...data, y: y.map((v) => v * c) }, options(c));
        expect(r.converged, `c=${c}`).toBe(base.converged);
        expect(r.iterations, `c=${c}`).toBe(base.iterations);
        expect(Math.abs(r.logLikelihood + n * Math.log(c) - base.logLikelihood) / Math.abs(base.logLikelihood), `ℓ at c=${c}`).toBeLessThan(1e-8);
        const f = flat(r);
        close(f.beta0, f0.beta0, 1e-8, `β0 c=${c}`, 1);
        close(f.beta1, f0.beta1, 1e-8, `β1 c=${c}`, 1);
        close(f.a, f0.a.map((v) => v * c), 1e-8, `a c=${c}`);
        close(f.b, f0.b.map((v) => v * c), 1e-8, `b c=${c}`);
        close(f.variance, f0.variance.map((v) => v * c * c), 1e-8, `ν c=${c}`);
        expect(r.warnings.map(String), `c=${c}`).toEqual(base.warnings.map(String));
      }
    });
  }

  it('near-truth starts (noise in the data\'s units, the papers\' protocol) reach the same maximum on every y scale', () => {
    const base = fitEM(spec, data, { init: { type: 'nearTruth', truth }, restarts: 2 });
    for (const c of [1e-150, 1e-6, 1e6, 1e150]) {
      const j = scaledTruth(c);
      const r = fitEM(spec, { ...data, y: y.map((v) => v * c) }, { init: { type: 'nearTruth', truth: j }, restarts: 2 });
      expect(r.converged).toBe(base.converged);
      expect(Math.abs(r.logLikelihood + n * Math.log(c) - base.logLikelihood) / Math.abs(base.logLikelihood), `ℓ at c=${c}`).toBeLessThan(1e-8);
    }
  });

  it('x → c·x: only the slopes change (β₁/c, a/c), ℓ and converged do not, c = 1e-150…1e150 and 1e307', () => {
    const base = fitEM(spec, data);
    const f0 = flat(base);
    for (const c of [...SCALES, 1e307]) {
      const r = fitEM(spec, { ...data, X: X.map((v) => v * c) });
      expect(r.converged, `c=${c}`).toBe(true);
      expect(Number.isFinite(r.gradientNorm)).toBe(true);
      expect(Math.abs(r.logLikelihood - base.logLikelihood) / Math.abs(base.logLikelihood), `ℓ at c=${c}`).toBeLessThan(1e-8);
      const f = flat(r);
      close(f.beta0, f0.beta0, 1e-8, `β0 c=${c}`, 1);
      close(f.beta1, f0.beta1.map((v) => v / c), 1e-8, `β1 c=${c}`);
      close(f.a, f0.a.map((v) => v / c), 1e-8, `a c=${c}`);
      close(f.b, f0.b, 1e-8, `b c=${c}`, 1);
      close(f.variance, f0.variance, 1e-8, `ν c=${c}`);
    }
  });

  it('d = 2 with x₁ and x₂ on scales 1e-80 and 1e90: the same fit as on the unit scale', () => {
    const X2 = sampleX({ type: 'uniform', low: 0, high: 1 }, n, 2, rng.split('x2'));
    const t2 = MixtureOfExperts.fromJSON({ gate: { type: 'softmax', beta0: [1, 0], beta1: [[6, -4], [0, 0]] }, experts: { type: 'gaussianLinear', a: [[2, 1], [-3, 0.5]], b: [0, 1], variance: [0.04, 0.09] } });
    const { y: y2 } = t2.sample(X2, n, rng.split('y2'));
    const s2 = { ...t2.spec(), k: 2 };
    const base = fitEM(s2, { X: X2, y: y2, n, d: 2 });
    const Xs = X2.map((v, i) => v * (i % 2 === 0 ? 1e-80 : 1e90));
    const r = fitEM(s2, { X: Xs, y: y2, n, d: 2 });
    expect(r.converged).toBe(base.converged);
    expect(Math.abs(r.logLikelihood - base.logLikelihood) / Math.abs(base.logLikelihood)).toBeLessThan(1e-8);
    const unscale = (v: number, i: number): number => v * (i % 2 === 0 ? 1e-80 : 1e90);
    close(flat(r).beta1.map(unscale), flat(base).beta1, 1e-8, 'β1', 1);
    close(flat(r).a.map(unscale), flat(base).a, 1e-8, 'a', 1);
  });
});

describe('the variance floor', () => {
  it('is 1e-6·s_y² with s_y = 1.4826·MAD(y): one outlier at 1e12 does not lift it, and the variances stay on the data scale', () => {
    const s = robustScale(n, (t) => y[t]).scale;
    const yo = y.slice();
    yo[0] = 1e12;
    const so = robustScale(n, (t) => yo[t]).scale;
    expect(Math.abs(so - s) / s).toBeLessThan(0.01);
    const r = fitEM(spec, { ...data, y: yo });
    const v = flat(r).variance;
    for (const vi of v) expect(vi).toBeGreaterThanOrEqual(RELATIVE_VARIANCE_FLOOR * so * so * (1 - 1e-9));
    // the old floor 1e-6·Var(y) was 2.5e14 here and both variances ended at it
    expect(Math.min(...v)).toBeLessThan(1e3);
    expect(r.logLikelihood).toBeGreaterThan(-35_000);
  });

  it('a degenerate expert at the floor is named in a typed warning', () => {
    // a second expert has only a few distinct points to fit: duplicated rows on one line
    const m = 400;
    const Xd = new Float64Array(m);
    const yd = new Float64Array(m);
    const r0 = new Rng(3);
    for (let t = 0; t < m; t++) {
      Xd[t] = t < 6 ? t / 6 : r0.uniform();
      yd[t] = t < 6 ? 100 + Xd[t] : r0.normal();
    }
    const r = fitEM({ ...spec, k: 2 }, { X: Xd, y: yd, n: m, d: 1 }, { restarts: 3 });
    const w = r.warnings.find((x) => x.code === 'EM_VARIANCE_AT_FLOOR');
    expect(w, r.warnings.map(String).join('; ')).toBeDefined();
    expect(String(w)).toMatch(/variance of expert \d is at the floor/);
  });
});
