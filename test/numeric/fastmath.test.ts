import { describe, expect, it } from 'vitest';
import { EXP_SCOPE, expNonPositive, expSource, LOG_SCOPE, logFast, logSource } from '../../src/numeric/fastmath.js';
import { compileKernel } from '../../src/numeric/codegen.js';
import { Rng } from '../../src/numeric/rng.js';

describe('expNonPositive', () => {
  it('is within 3.3e-16 relative of Math.exp on [−708, 709] and near 0', () => {
    const rng = new Rng(11);
    let maxRel = 0;
    let same = 0;
    for (let i = 0; i < 400_000; i++) {
      const x = i % 2 === 0 ? -708 + 1417 * rng.uniform() : (rng.uniform() - 0.5) * 10 ** (-12 * rng.uniform());
      const a = Math.exp(x);
      const b = expNonPositive(x);
      if (a === b) same++;
      maxRel = Math.max(maxRel, Math.abs(a - b) / a);
    }
    expect(maxRel).toBeLessThanOrEqual(3.3e-16);
    expect(same / 400_000).toBeGreaterThan(0.6); // mostly the same double
  });

  it('gives exact 0 far below, subnormals to within the smallest subnormal, NaN for NaN', () => {
    for (const x of [-746, -746.5, -1e4, -1e300, -Infinity]) expect(expNonPositive(x)).toBe(0);
    for (let x = -745.5; x < -708; x += 0.37) expect(Math.abs(expNonPositive(x) - Math.exp(x))).toBeLessThanOrEqual(5e-324);
    expect(expNonPositive(0)).toBe(1);
    expect(expNonPositive(-0)).toBe(1);
    expect(Number.isNaN(expNonPositive(NaN))).toBe(true);
    for (let k = -1000; k <= 1000; k += 7) expect(Math.abs(expNonPositive(k * Math.LN2) / Math.exp(k * Math.LN2) - 1)).toBeLessThan(3.3e-16);
  });

  it('its inlined source computes the same bits', () => {
    type F = (x: Float64Array, out: Float64Array) => void;
    const kernel = compileKernel<F>('test-exp-source', () => ({
      name: 'expAll',
      params: ['x', 'out'],
      body: ['for (let i = 0; i < x.length; i++) {', expSource('e', 'x[i]'), 'out[i] = e; }'],
      scope: { ...EXP_SCOPE },
    }));
    const rng = new Rng(3);
    const x = new Float64Array(10_000).map((_, i) => (i === 0 ? -Infinity : i === 1 ? NaN : -800 * rng.uniform()));
    const out = new Float64Array(x.length);
    kernel(x, out);
    for (let i = 0; i < x.length; i++) expect(Object.is(out[i], expNonPositive(x[i]))).toBe(true);
  });
});

describe('logFast', () => {
  /** Draws over many decades, near 1 from both sides, and the row sums of the gates ([1, 10]). */
  function draws(count: number, seed: number): Float64Array {
    const rng = new Rng(seed);
    return new Float64Array(count).map((_, i) => {
      const u = rng.uniform();
      switch (i % 4) {
        case 0: return 10 ** (-320 + 628 * u);
        case 1: return 1 + (rng.uniform() - 0.5) * 10 ** (-16 * u);
        case 2: return 1 + 9 * u;
        default: return 2 ** Math.round(60 * u - 30) * (1 + (rng.uniform() - 0.5) / 64); // near powers of 2
      }
    });
  }

  it('is within 2.3e-16 relative of Math.log from 1e-320 to 1e308 and near 1', () => {
    const x = draws(400_000, 21);
    let maxRel = 0;
    let same = 0;
    for (const v of x) {
      const a = Math.log(v);
      const b = logFast(v);
      if (a === b) same++;
      maxRel = Math.max(maxRel, a === 0 ? Math.abs(b) : Math.abs(a - b) / Math.abs(a));
    }
    expect(maxRel).toBeLessThanOrEqual(2.3e-16);
    expect(same / x.length).toBeGreaterThan(0.7);
  });

  it('has the edge cases of Math.log: 0, subnormals, 1, powers of 2, ∞, NaN, x < 0', () => {
    expect(logFast(1)).toBe(0);
    expect(logFast(0)).toBe(-Infinity);
    expect(logFast(-0)).toBe(-Infinity);
    expect(logFast(Infinity)).toBe(Infinity);
    for (const v of [NaN, -1, -1e-300, -Infinity, -5e-324]) expect(Number.isNaN(logFast(v))).toBe(true);
    for (const v of [5e-324, 1e-310, 2.225073858507201e-308, 2.2250738585072014e-308, Number.MAX_VALUE, Number.EPSILON, 1 - Number.EPSILON / 2, 1 + Number.EPSILON]) {
      expect(Math.abs(logFast(v) - Math.log(v))).toBeLessThanOrEqual(2.3e-16 * Math.abs(Math.log(v)));
    }
    for (let k = -1074; k <= 1023; k++) expect(Math.abs(logFast(2 ** k) - k * Math.LN2)).toBeLessThanOrEqual(2.3e-16 * Math.max(Math.LN2, Math.abs(k * Math.LN2)));
  });

  it('its inlined source computes the same bits (general and positive forms)', () => {
    type F = (x: Float64Array, out: Float64Array) => void;
    const build = (positive: boolean): F => compileKernel<F>(`test-log-source:${positive}`, () => ({
      name: 'logAll',
      params: ['x', 'out'],
      body: ['for (let i = 0; i < x.length; i++) {', logSource('l', 'x[i]', { positive }), 'out[i] = l; }'],
      scope: { ...LOG_SCOPE },
    }));
    const x = draws(20_000, 5);
    x.set([0, -0, 5e-324, 1, Infinity, NaN, -2], 0);
    const out = new Float64Array(x.length);
    build(false)(x, out);
    for (let i = 0; i < x.length; i++) expect(Object.is(out[i], logFast(x[i]))).toBe(true);
    // positive form: normal positive arguments (and NaN)
    const y = x.map((v, i) => (i < 7 ? [1, 2, 0.5, NaN, Number.MAX_VALUE, 2.2250738585072014e-308, 1.5][i] : Math.max(v, 2.2250738585072014e-308)));
    build(true)(y, out);
    for (let i = 0; i < y.length; i++) expect(Object.is(out[i], logFast(y[i]))).toBe(true);
  });
});
