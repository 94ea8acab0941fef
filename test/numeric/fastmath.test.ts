import { describe, expect, it } from 'vitest';
import { expFast } from '../../src/numeric/fastmath.js';
import { Rng } from '../../src/numeric/rng.js';

describe('expFast', () => {
  it('is within 3.3e-16 relative of Math.exp over the working range and near 0', () => {
    const rng = new Rng(11);
    let maxRel = 0;
    let same = 0;
    for (let i = 0; i < 400_000; i++) {
      const x = i % 2 === 0 ? -740 + 1400 * rng.uniform() : (rng.uniform() - 0.5) * 10 ** (-12 * rng.uniform());
      const a = Math.exp(x);
      const b = expFast(x);
      if (a === b) same++;
      maxRel = Math.max(maxRel, Math.abs(a - b) / a);
    }
    expect(maxRel).toBeLessThanOrEqual(3.3e-16);
    expect(same / 400_000).toBeGreaterThan(0.6); // mostly the same double
  });

  it('handles the edges like Math.exp', () => {
    for (const x of [0, -0, 709.7, 709.8, 710, -708.5, -745, -746, -1e10, 1e10, Infinity, -Infinity]) {
      expect(expFast(x)).toBe(Math.exp(x));
    }
    expect(Number.isNaN(expFast(NaN))).toBe(true);
    for (let k = -1000; k <= 1000; k += 7) expect(Math.abs(expFast(k * Math.LN2) / Math.exp(k * Math.LN2) - 1)).toBeLessThan(3.3e-16);
    for (const x of [1e-300, -1e-300, 3e-9, -3e-9, 1, -1, 0.5 * Math.LN2, 707.9, 708.5, -707.9]) expect(Math.abs(expFast(x) / Math.exp(x) - 1)).toBeLessThan(3.3e-16);
  });
});
