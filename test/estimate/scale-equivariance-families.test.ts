/**
 * Scale equivariance beyond Gaussian-linear EM (issue 12, item 1): fitLSE with regression experts
 * under softmax, temperature, hierarchical and activation gates; fitEM with multinomial-logistic
 * experts (x only: y is a label) and with activation / top-K / modified gates. For data
 * x' = c_x·x + m_x, y' = c_y·y + m_y the fit of the transformed data, mapped back by the inverse of
 * that transformation (written out here, independently of src/estimate/standardize.ts), equals the
 * fit of the original data to 1e-6 relative; the SSE scales by c_y², ℓ shifts by −n·log c_y, and
 * `converged` is the same. Where a family is not closed under a transformation (σ(z)·c for
 * sigmoid/tanh/GELU experts without an output weight; sin(c·x) in a modified gate) the fit leaves
 * that part of the data alone, and the test checks that the transformations the family IS closed
 * under still hold.
 */
import { describe, expect, it } from 'vitest';
import { MixtureOfExperts, type ModelJSON } from '../../src/model/model.js';
import { Rng } from '../../src/numeric/rng.js';
import { sampleX, type Dataset } from '../../src/model/data.js';
import { fitLSE } from '../../src/estimate/lse.js';
import { fitEM } from '../../src/estimate/em.js';
import { standardizationModes } from '../../src/estimate/standardize.js';

type Vec = number[];
type Mat = number[][];
interface Affine { cx: number[]; mx: number[]; cy: number; my: number }

/** Inverse of x' = c·x + m on logits β₁ᵀx' + β₀: β₁ = β₁'∘c, β₀ = β₀' + β₁'ᵀm. */
function logitsBack(b0: Vec, b1: Mat, t: Affine): { b0: Vec; b1: Mat } {
  return { b0: b0.map((v, i) => v + b1[i].reduce((s, w, u) => s + w * t.mx[u], 0)), b1: b1.map((r) => r.map((w, u) => w * t.cx[u])) };
}

/** The fit of transformed data expressed in the original units (the inverse transformation). */
function back(json: ModelJSON, t: Affine): ModelJSON {
  const g = { ...json.gate };
  if (g.type === 'hierarchical') {
    const o = logitsBack(g.omega0 as Vec, g.omega1 as Mat, t);
    g.omega0 = o.b0;
    g.omega1 = o.b1;
    const inner = (g.beta0 as Mat).map((b0, i) => logitsBack(b0, (g.beta1 as Mat[])[i], t));
    g.beta0 = inner.map((x) => x.b0);
    g.beta1 = inner.map((x) => x.b1);
  } else {
    const l = logitsBack(g.beta0 as Vec, g.beta1 as Mat, t);
    g.beta0 = l.b0;
    g.beta1 = l.b1;
  }
  const e = { ...json.experts };
  if (e.type === 'multinomialLogistic') {
    const m = (e.a as Mat).map((a, i) => logitsBack(a, (e.b as Mat[])[i], t));
    e.a = m.map((x) => x.b0);
    e.b = m.map((x) => x.b1);
  } else {
    // h = c·σ(aᵀx' + b) (or aᵀx' + b); y = (y' − m_y)/c_y
    const a = e.a as Mat;
    const b = e.b as Vec;
    const lin = e.type === 'gaussianLinear' || e.activation === 'linear';
    const inner = lin || (e.activation === 'relu' && e.outputWeight !== true) ? t.cy : 1; // c_y absorbed by z
    e.a = a.map((r) => r.map((w, u) => (w * t.cx[u]) / inner));
    e.b = b.map((v, i) => (v + a[i].reduce((s, w, u) => s + w * t.mx[u], 0) - (lin ? t.my : 0)) / inner);
    if (Array.isArray(e.c)) e.c = (e.c as Vec).map((v) => v / t.cy);
    if (Array.isArray(e.variance)) e.variance = (e.variance as Vec).map((v) => v / (t.cy * t.cy));
    if (typeof e.noiseVariance === 'number') e.noiseVariance /= t.cy * t.cy;
  }
  return { gate: g, experts: e };
}

/** Every number of a JSON value, in order (strings and booleans skipped). */
function numbers(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.flatMap(numbers);
  if (v && typeof v === 'object') return Object.keys(v).sort().flatMap((k) => numbers((v as Record<string, unknown>)[k]));
  return [];
}

/** Each number equal to tol relative (to |want|, or to 1e-3 of the largest magnitude for entries near 0). */
function expectClose(got: ModelJSON, want: ModelJSON, tol: number, what: string): void {
  const g = numbers(got);
  const w = numbers(want);
  expect(g.length, what).toBe(w.length);
  const big = Math.max(...w.map(Math.abs));
  g.forEach((v, i) => expect(Math.abs(v - w[i]), `${what} [${i}]: ${v} vs ${w[i]}`).toBeLessThanOrEqual(tol * Math.max(Math.abs(w[i]), 1e-3 * big)));
}

function transform(data: Dataset, t: Affine): Dataset {
  const { d } = data;
  const X = data.X.map((v, i) => t.cx[i % d] * v + t.mx[i % d]);
  return { ...data, X, y: data.y.map((v) => t.cy * v + t.my) };
}

function dataFrom(json: ModelJSON, n: number, seed: number, d = 1): Dataset {
  const truth = MixtureOfExperts.fromJSON(json);
  const rng = new Rng(seed);
  const X = sampleX({ type: 'uniform', low: -1, high: 1 }, n, d, rng.split('x'));
  return { X, y: truth.sample(X, n, rng.split('y')).y, n, d };
}

// shifts of a few units of the data (m = c·3): a shift much larger than the spread of c·x would round
// away the low digits of the data themselves, and an ill-conditioned fit would move with them
const X_SCALES = [{ c: 1e-4, m: 3e-4 }, { c: 1e4, m: -5e3 }];
const Y_SCALES = [{ c: 1e-3, m: 2e-3 }, { c: 1e5, m: -3e5 }];
const TOL = 1e-6;

describe('fitLSE is scale-equivariant (regression experts)', () => {
  const linear = (gate: ModelJSON['gate']): ModelJSON => ({ gate, experts: { type: 'regression', activation: 'linear', a: [[2], [-1]], b: [0.5, 1], noiseVariance: 0.01 } });
  const cases: [string, ModelJSON, boolean][] = [
    ['softmax gate, linear experts', linear({ type: 'softmax', beta0: [0.5, 0], beta1: [[3], [0]] }), true],
    ['activation gate (tanh, bias inside, fixed τ), linear experts', linear({ type: 'activation', sigma: 'tanh', bias: 'inside', tau: 1, fixedTau: true, beta0: [0.5, 0], beta1: [[3], [0]] }), true],
    // (a 2×2 hierarchical LSE fit of these sizes stops at maxIter unconverged, a solver matter: EM covers 2×2 below)
    ['hierarchical gate (2×1), linear experts', { gate: { type: 'hierarchical', K1: 2, K2: 1, omega0: [-0.5, 0], omega1: [[4], [0]], beta0: [[0], [0]], beta1: [[[0]], [[0]]] }, experts: { type: 'regression', activation: 'linear', a: [[2], [-2]], b: [1, -1], noiseVariance: 0.01 } }, true],
  ];
  for (const [label, truth, yAffine] of cases) {
    it(`${label}: x·c + m and y·c + m map back to the same fit, SSE·c_y², same converged`, () => {
      const data = dataFrom(truth, 1000, 7);
      const spec = MixtureOfExperts.fromJSON(truth).spec();
      const base = fitLSE(spec, data, {});
      expect(base.converged).toBe(true);
      expect(standardizationModes(spec).y).toBe(yAffine ? 'affine' : 'none');
      for (const xs of X_SCALES) {
        for (const ys of Y_SCALES) {
          const t: Affine = { cx: [xs.c], mx: [xs.m], cy: ys.c, my: ys.m };
          const r = fitLSE(spec, transform(data, t), {});
          const what = `x·${xs.c}+${xs.m}, y·${ys.c}+${ys.m}`;
          expect(r.converged, what).toBe(base.converged);
          expect(Math.abs(r.sse / (ys.c * ys.c) - base.sse) / base.sse, `SSE ${what}`).toBeLessThan(TOL);
          expectClose(back(r.model.toJSON(), t), base.model.toJSON(), TOL, what);
        }
      }
    });
  }

  it('temperature gate (canonical unit-norm slopes), linear experts: the same regression function on every scale', () => {
    const truth = linear({ type: 'denseToSparse', tau: 1, beta0: [0.5, 0], beta1: [[3], [0]] });
    const data = dataFrom(truth, 1000, 7);
    const spec = MixtureOfExperts.fromJSON(truth).spec();
    const base = fitLSE(spec, data, {});
    const grid = Float64Array.from([-0.9, -0.3, 0.1, 0.6, 0.95]);
    const f0 = base.model.predictMean(grid, grid.length);
    for (const xs of X_SCALES) {
      for (const ys of Y_SCALES) {
        const t: Affine = { cx: [xs.c], mx: [xs.m], cy: ys.c, my: ys.m };
        const r = fitLSE(spec, transform(data, t), {});
        expect(r.converged).toBe(base.converged);
        expect(Math.abs(r.sse / (ys.c * ys.c) - base.sse) / base.sse).toBeLessThan(TOL);
        const f = r.model.predictMean(grid.map((v) => xs.c * v + xs.m), grid.length);
        f.forEach((v, i) => expect(Math.abs((v - ys.m) / ys.c - f0[i])).toBeLessThan(TOL * Math.max(1, Math.abs(f0[i]))));
      }
    }
  });

  it('relu experts without c: y·c (c > 0) and x·c + m are exact; GELU experts without c: x only (y left alone, documented)', () => {
    for (const activation of ['relu', 'gelu'] as const) {
      const truth: ModelJSON = { gate: { type: 'softmax', beta0: [0.2, 0], beta1: [[3], [0]] }, experts: { type: 'regression', activation, a: [[2], [-2]], b: [0.5, 1], noiseVariance: 0.01 } };
      const data = dataFrom(truth, 400, 9);
      const spec = MixtureOfExperts.fromJSON(truth).spec();
      expect(standardizationModes(spec)).toEqual({ x: 'affine', y: activation === 'relu' ? 'scale' : 'none' });
      const base = fitLSE(spec, data, {});
      const ys = activation === 'relu' ? [1e-3, 1e5] : [1];
      for (const xs of X_SCALES) {
        for (const cy of ys) {
          const t: Affine = { cx: [xs.c], mx: [xs.m], cy, my: 0 };
          const r = fitLSE(spec, transform(data, t), {});
          expect(r.converged).toBe(base.converged);
          expect(Math.abs(r.sse / (cy * cy) - base.sse) / base.sse).toBeLessThan(TOL);
          expectClose(back(r.model.toJSON(), t), base.model.toJSON(), TOL, `${activation} x·${xs.c}+${xs.m} y·${cy}`);
        }
      }
    }
  });

  it('sigmoid experts with the output weight c: y·c maps to c·w exactly', () => {
    const truth: ModelJSON = { gate: { type: 'softmax', beta0: [0.2, 0], beta1: [[3], [0]] }, experts: { type: 'regression', activation: 'sigmoid', outputWeight: true, a: [[4], [-4]], b: [0.5, 1], c: [2, -1], noiseVariance: 0.01 } };
    const data = dataFrom(truth, 400, 10);
    const spec = MixtureOfExperts.fromJSON(truth).spec();
    const base = fitLSE(spec, data, {});
    for (const cy of [1e-3, 1e5]) {
      const t: Affine = { cx: [1e4], mx: [-7e4], cy, my: 0 };
      const r = fitLSE(spec, transform(data, t), {});
      expect(r.converged).toBe(base.converged);
      expect(Math.abs(r.sse / (cy * cy) - base.sse) / base.sse).toBeLessThan(TOL);
      expectClose(back(r.model.toJSON(), t), base.model.toJSON(), TOL, `y·${cy}`);
    }
  });
});

describe('fitEM is scale-equivariant for the other families', () => {
  it('multinomial-logistic experts (d = 2): x·c + m per column maps back, ℓ unchanged (y is a label)', () => {
    const truth: ModelJSON = {
      gate: { type: 'softmax', beta0: [0.3, 0], beta1: [[2, -1.5], [0, 0]] },
      experts: { type: 'multinomialLogistic', classes: 3, a: [[1, -0.5, 0], [-1, 0.5, 0]], b: [[[2, 1], [-1, 2], [0, 0]], [[-2, 0.5], [1.5, -2], [0, 0]]] },
    };
    const data = dataFrom(truth, 1500, 11, 2);
    const spec = MixtureOfExperts.fromJSON(truth).spec();
    const base = fitEM(spec, data, { init: { type: 'model', model: MixtureOfExperts.fromJSON(truth) } });
    for (const [c1, c2, m1, m2] of [[1e-4, 1e4, 3e-4, -7e4], [1e4, 1e-4, -7e4, 3e-4]]) {
      const t: Affine = { cx: [c1, c2], mx: [m1, m2], cy: 1, my: 0 };
      // the same start, in the transformed units (a near-truth start would draw its noise in each data's own units)
      const start = MixtureOfExperts.fromJSON(back(truth, { cx: [1 / c1, 1 / c2], mx: [-m1 / c1, -m2 / c2], cy: 1, my: 0 }));
      const r = fitEM(spec, transform(data, t), { init: { type: 'model', model: start } });
      expect(r.converged).toBe(base.converged);
      expect(Math.abs(r.logLikelihood - base.logLikelihood) / Math.abs(base.logLikelihood)).toBeLessThan(TOL);
      expectClose(back(r.model.toJSON(), t), base.model.toJSON(), TOL, `x·(${c1}, ${c2})`);
    }
  });

  const gaussian = (gate: ModelJSON['gate']): ModelJSON => gate.type === 'hierarchical'
    ? { gate, experts: { type: 'gaussianLinear', a: [[-4], [4], [-4], [4]], b: [2, -1, 1, 0], variance: [0.09, 0.16, 0.09, 0.16] } }
    : { gate, experts: { type: 'gaussianLinear', a: [[-2], [2]], b: [1, -1], variance: [0.05, 0.1] } };
  const gates: [string, ModelJSON['gate'], number[]][] = [
    ['activation gate, bias inside (x centred and scaled)', { type: 'activation', sigma: 'tanh', bias: 'inside', tau: 1, beta0: [0.3, 0], beta1: [[3], [0]] }, [3, -7]],
    ['activation gate, bias outside (x scaled only)', { type: 'activation', sigma: 'tanh', bias: 'outside', tau: 1, fixedTau: true, beta0: [0.3, 0], beta1: [[3], [0]] }, [0, 0]],
    ['hierarchical gate (2×2)', { type: 'hierarchical', K1: 2, K2: 2, omega0: [-0.5, 0], omega1: [[4], [0]], beta0: [[1, 0], [-1, 0]], beta1: [[[3], [0]], [[-3], [0]]] }, [3, -0.5]],
    ['top-K gate (K = 1 of 2; x scaled only)', { type: 'topK', K: 1, beta0: [0.3, 0], beta1: [[3], [0]] }, [0, 0]],
    ['modified:sin gate (x left alone: sin(c·x) is another model)', { type: 'modified', map: 'sin', beta0: [0.3, 0], beta1: [[3], [0]] }, []],
  ];
  for (const [label, gate, shifts] of gates) {
    it(`${label}, Gaussian experts: y·c + m always; x by the transformations the gate allows`, () => {
      const truth = gaussian(gate);
      const data = dataFrom(truth, 800, 12);
      const spec = MixtureOfExperts.fromJSON(truth).spec();
      const base = fitEM(spec, data, {});
      const xs = shifts.length ? X_SCALES.map((s, i) => ({ c: s.c, m: s.c * shifts[i] })) : [{ c: 1, m: 0 }];
      for (const x of xs) {
        for (const ys of Y_SCALES) {
          const t: Affine = { cx: [x.c], mx: [x.m], cy: ys.c, my: ys.m };
          const r = fitEM(spec, transform(data, t), {});
          const what = `x·${x.c}+${x.m} y·${ys.c}+${ys.m}`;
          expect(r.converged, what).toBe(base.converged);
          expect(Math.abs(r.logLikelihood + data.n * Math.log(ys.c) - base.logLikelihood) / Math.abs(base.logLikelihood), `ℓ ${what}`).toBeLessThan(TOL);
          expectClose(back(r.model.toJSON(), t), base.model.toJSON(), TOL, what);
        }
      }
    });
  }
});
