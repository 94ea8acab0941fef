import { describe, it, expect } from 'vitest';
import { RegressionExperts, ACTIVATIONS, activation, type Activation } from '../../src/experts/regression.js';
import { parseExpertSpec, expertFactory } from '../../src/experts/registry.js';
import { MixtureOfExperts } from '../../src/model/model.js';
import { Rng } from '../../src/numeric/rng.js';
import { erf, normalCdf } from '../../src/numeric/special.js';
import { ModelFormatError, OptionError } from '../../src/errors.js';

function randomArray(rng: Rng, len: number, sd = 1): Float64Array {
  return Float64Array.from({ length: len }, () => sd * rng.normal());
}

const VARIANTS: { act: Activation; c: boolean }[] = ACTIVATIONS.flatMap((act): { act: Activation; c: boolean }[] => (act === 'linear' ? [{ act, c: false }] : [{ act, c: false }, { act, c: true }]));

describe('erf / Φ', () => {
  it('matches reference values (scipy.special.erf, 17 digits)', () => {
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 15);
    expect(erf(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(erf(-2)).toBeCloseTo(-0.9953222650189527, 15);
    expect(normalCdf(-5) / 2.866515718791939e-7).toBeCloseTo(1, 12);
    expect(normalCdf(0)).toBeCloseTo(0.5, 15);
  });
});

describe('activation derivatives', () => {
  for (const act of ACTIVATIONS) {
    it(`${act}: σ′ and σ″ match central differences`, () => {
      const kind = ACTIVATIONS.indexOf(act);
      const s = new Float64Array(3);
      const sp = new Float64Array(3);
      const sm = new Float64Array(3);
      const h = 1e-5;
      for (const z of [-3.1, -1.2, -0.4, 0.37, 1.5, 2.8]) {
        activation(kind, z, s);
        activation(kind, z + h, sp);
        activation(kind, z - h, sm);
        expect(Math.abs(s[1] - (sp[0] - sm[0]) / (2 * h))).toBeLessThan(1e-9);
        expect(Math.abs(s[2] - (sp[1] - sm[1]) / (2 * h))).toBeLessThan(1e-9);
      }
    });
  }

  it('GELU(z) = z·Φ(z) exactly (value check)', () => {
    const s = new Float64Array(3);
    activation(ACTIVATIONS.indexOf('gelu'), 1, s);
    expect(s[0]).toBeCloseTo(0.8413447460685429, 15);
  });
});

describe('regression experts', () => {
  for (const { act, c } of VARIANTS) {
    const label = `${act}${c ? ' with c' : ''}`;
    it(`${label}: gradPredict matches finite differences of Σ V h for signed V`, () => {
      const rng = new Rng(ACTIVATIONS.indexOf(act) * 7 + (c ? 1 : 0));
      const k = 3, d = 2, n = 50;
      const e = new RegressionExperts(k, d, { activation: act, outputWeight: c });
      const theta = randomArray(rng, e.nParams, 0.8);
      const X = randomArray(rng, n * d);
      const V = randomArray(rng, n * k);
      const grad = new Float64Array(e.nParams);
      e.gradPredict(theta, X, n, V, grad);
      const F = (th: Float64Array): number => {
        const H = new Float64Array(n * k);
        e.predict(th, X, n, H);
        let s = 0;
        for (let i = 0; i < n * k; i++) s += V[i] * H[i];
        return s;
      };
      const h = 1e-6;
      for (let j = 0; j < e.nParams; j++) {
        const tp = theta.slice(); tp[j] += h;
        const tm = theta.slice(); tm[j] -= h;
        const fd = (F(tp) - F(tm)) / (2 * h);
        expect(Math.abs(grad[j] - fd)).toBeLessThan(1e-6 * Math.max(1, Math.abs(fd)));
      }
    });

    it(`${label}: derivativesAt gives h, ∂h/∂η and ∂²h/∂η² (finite differences)`, () => {
      const rng = new Rng(100 + ACTIVATIONS.indexOf(act));
      const k = 2, d = 2;
      const e = new RegressionExperts(k, d, { activation: act, outputWeight: c });
      const p = e.perExpert;
      const theta = randomArray(rng, e.nParams, 0.8);
      const X = randomArray(rng, d);
      const g = new Float64Array(p);
      const H = new Float64Array(p * p);
      const gp = new Float64Array(p);
      const gm = new Float64Array(p);
      const Hs = new Float64Array(p * p);
      const i = 1;
      const h0 = e.derivativesAt(theta, i, X, 0, g, H);
      const out = new Float64Array(k);
      e.predict(theta, X, 1, out);
      expect(h0).toBeCloseTo(out[i], 14);
      const eps = 1e-6;
      for (let j = 0; j < p; j++) {
        const tp = theta.slice(); tp[i * p + j] += eps;
        const tm = theta.slice(); tm[i * p + j] -= eps;
        const fp = e.derivativesAt(tp, i, X, 0, gp, Hs);
        const fm = e.derivativesAt(tm, i, X, 0, gm, Hs);
        expect(Math.abs(g[j] - (fp - fm) / (2 * eps))).toBeLessThan(1e-7);
        for (let l = 0; l < p; l++) expect(Math.abs(H[j * p + l] - (gp[l] - gm[l]) / (2 * eps))).toBeLessThan(1e-6);
      }
    });
  }

  it('linear: ∂h/∂a = x·∂h/∂b (the PDE behind its non-identifiability, math-spec §10 oracle 19)', () => {
    const e = new RegressionExperts(1, 1, { activation: 'linear' });
    const g = new Float64Array(2);
    const H = new Float64Array(4);
    const theta = Float64Array.from([0.3, -1.7]);
    for (const x of [-2, 0.5, 3]) {
      e.derivativesAt(theta, 0, Float64Array.from([x]), 0, g, H);
      expect(g[1]).toBe(x * g[0]);
      for (const v of H) expect(Math.abs(v)).toBe(0);
    }
  });

  it('mStep: linear gives the weighted least-squares solution; neurons lower the weighted SSE to a stationary point', () => {
    const rng = new Rng(9);
    const n = 400, d = 1, k = 2;
    const X = Float64Array.from({ length: n }, () => 6 * rng.uniform() - 3);
    const R = Float64Array.from({ length: n * k }, () => rng.uniform());
    const lin = new RegressionExperts(k, d, { activation: 'linear' });
    const y = Float64Array.from(X, (x) => 0.5 - 1.2 * x + 0.1 * rng.normal());
    const th = new Float64Array(lin.nParams);
    lin.mStep(th, X, y, n, R, { maxIter: 50, tol: 1e-12 });
    // normal equations: Σ R_ti (y − b − a x)(1, x) = 0
    for (let i = 0; i < k; i++) {
      let g0 = 0, g1 = 0;
      for (let t = 0; t < n; t++) {
        const r = y[t] - th[i * 2] - th[i * 2 + 1] * X[t];
        g0 += R[t * k + i] * r;
        g1 += R[t * k + i] * r * X[t];
      }
      expect(Math.abs(g0)).toBeLessThan(1e-9);
      expect(Math.abs(g1)).toBeLessThan(1e-9);
    }
    const gelu = new RegressionExperts(k, d, { activation: 'gelu', outputWeight: true });
    const truth = Float64Array.from([0.3, 1.5, 0.8, -0.2, -1.0, 1.3]);
    const H = new Float64Array(n * k);
    gelu.predict(truth, X, n, H);
    const y2 = Float64Array.from({ length: n }, (_, t) => H[t * k] + 0.05 * rng.normal());
    const th2 = new Float64Array(gelu.nParams); // all-zero start, as init.ts passes it
    const sse = (tt: Float64Array, i: number): number => {
      gelu.predict(tt, X, n, H);
      let s = 0;
      for (let t = 0; t < n; t++) s += R[t * k + i] * (y2[t] - H[t * k + i]) ** 2;
      return s;
    };
    const s0 = sse(Float64Array.from([0, 0, 1, 0, 0, 1]), 0);
    gelu.mStep(th2, X, y2, n, R, { maxIter: 200, tol: 1e-14 });
    const s1 = sse(th2, 0);
    expect(s1).toBeLessThan(0.05 * s0);
    // stationarity of expert 0: ∇ Σ R (y − h)² = −2 Σ R (y − h) ∂h
    const V = new Float64Array(n * k);
    gelu.predict(th2, X, n, H);
    for (let t = 0; t < n; t++) for (let i = 0; i < k; i++) V[t * k + i] = -2 * R[t * k + i] * (y2[t] - H[t * k + i]);
    const grad = new Float64Array(gelu.nParams);
    gelu.gradPredict(th2, X, n, V, grad);
    for (let j = 0; j < 3; j++) expect(Math.abs(grad[j])).toBeLessThan(1e-5 * n);
  });

  it('canonical form: tanh c ≥ 0 and relu |c| = 1 leave h unchanged', () => {
    const rng = new Rng(4);
    const X = randomArray(rng, 20 * 2);
    for (const act of ['tanh', 'relu'] as const) {
      const e = new RegressionExperts(2, 2, { activation: act, outputWeight: true });
      const theta = Float64Array.from([0.3, 1, -2, -1.7, -0.4, 0.5, 0.8, 2.5]);
      const before = new Float64Array(40);
      const after = new Float64Array(40);
      e.predict(theta, X, 20, before);
      e.canonicalize(theta);
      e.predict(theta, X, 20, after);
      for (let i = 0; i < 40; i++) expect(after[i]).toBeCloseTo(before[i], 13);
      if (act === 'tanh') expect(theta[3]).toBeGreaterThan(0);
      else expect([Math.abs(theta[3]), Math.abs(theta[7])]).toEqual([1, 1]);
    }
  });

  it('JSON: round trip, outputWeight/c consistency, noiseVariance; CLI specs', () => {
    const json = {
      gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[2], [0]] },
      experts: { type: 'regression', activation: 'tanh', outputWeight: true, a: [[1.5], [-1]], b: [0.2, -0.3], c: [2, 1], noiseVariance: 0.04 },
    };
    const m = MixtureOfExperts.fromJSON(json);
    expect(m.toJSON()).toEqual(json);
    const noC = structuredClone(json) as { experts: Record<string, unknown> };
    delete noC.experts.outputWeight;
    expect(() => MixtureOfExperts.fromJSON(noC)).toThrow(/experts\.c: given but experts\.outputWeight is false/);
    const bad = structuredClone(json) as { experts: Record<string, unknown> };
    bad.experts.activation = 'swish';
    expect(() => MixtureOfExperts.fromJSON(bad)).toThrow(ModelFormatError);
    expect(() => new RegressionExperts(1, 1, { activation: 'linear', outputWeight: true })).toThrow(/not identifiable in c/);
    expect(parseExpertSpec('regression:gelu')).toEqual({ type: 'regression', activation: 'gelu' });
    expect(parseExpertSpec('regression:TANH,c,noise=0.5')).toEqual({ type: 'regression', activation: 'tanh', outputWeight: true, noiseVariance: 0.5 });
    expect(() => parseExpertSpec('regression')).toThrow(OptionError);
    expect(() => parseExpertSpec('regression:linear,c')).toThrow(OptionError);
    expect(() => parseExpertSpec('regression:gelu,noise=-1')).toThrow(OptionError);
    expect(expertFactory('regression').kind).toBe('regression');
  });

  it('is not a density: logDensity/gradQ/sample throw OptionError naming the estimator', () => {
    const e = new RegressionExperts(1, 1, { activation: 'gelu' });
    expect(() => e.logDensity()).toThrow(/--estimator lse/);
    expect(() => e.gradQ()).toThrow(OptionError);
    expect(() => e.sample()).toThrow(OptionError);
  });

  it('model.sample draws y = f_G(x) + N(0, ν) (mean and variance of the residuals)', () => {
    const m = MixtureOfExperts.fromJSON({
      gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[2], [0]] },
      experts: { type: 'regression', activation: 'gelu', a: [[1.5], [-1]], b: [0.2, -0.3], noiseVariance: 0.25 },
    });
    const n = 20000;
    const rng = new Rng(77);
    const X = Float64Array.from({ length: n }, () => 6 * rng.uniform() - 3);
    const { y, z } = m.sample(X, n, rng);
    const f = m.predictMean(X, n);
    let s = 0, s2 = 0;
    for (let t = 0; t < n; t++) {
      const r = y[t] - f[t];
      s += r;
      s2 += r * r;
    }
    expect(Math.abs(s / n)).toBeLessThan(4 * Math.sqrt(0.25 / n));
    expect(Math.abs(s2 / n - 0.25)).toBeLessThan(4 * 0.25 * Math.sqrt(2 / n));
    expect(z[0]).toBe(-1);
    const noNu = MixtureOfExperts.fromJSON({
      gate: { type: 'softmax', beta0: [0.5, 0], beta1: [[2], [0]] },
      experts: { type: 'regression', activation: 'gelu', a: [[1.5], [-1]], b: [0.2, -0.3] },
    });
    expect(() => noNu.sample(X, 10, rng)).toThrow(/experts\.noiseVariance: missing/);
  });
});
