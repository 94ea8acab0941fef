import { describe, expect, it } from 'vitest';
import { EXP_SCOPE, expNonPositive, expSource } from '../../src/numeric/fastmath.js';
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
