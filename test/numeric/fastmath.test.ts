import { describe, expect, it } from 'vitest';
import { expFast } from '../../src/numeric/fastmath.js';
import { Rng } from '../../src/numeric/rng.js';

describe('expFast', () => {
  it('agrees with Math.exp bit for bit over the working range and near 0', () => {
    const rng = new Rng(11);
    let differ = 0;
    let maxRel = 0;
    for (let i = 0; i < 400_000; i++) {
      const x = i % 2 === 0 ? -740 + 1400 * rng.uniform() : (rng.uniform() - 0.5) * 10 ** (-12 * rng.uniform());
      const a = Math.exp(x);
      const b = expFast(x);
      if (a !== b) {
        differ++;
        maxRel = Math.max(maxRel, Math.abs(a - b) / a);
      }
    }
    expect(maxRel).toBeLessThanOrEqual(2.3e-16); // at most 1 ulp even where the bits differ
    expect(differ).toBeLessThanOrEqual(2);
  });

  it('handles the edges like Math.exp', () => {
    for (const x of [0, -0, 1e-300, -1e-300, 3e-9, -3e-9, 1, -1, 0.5 * Math.LN2, 1.5 * Math.LN2, 707.9, 708.5, 709.7, 709.8, 710, -707.9, -708.5, -745, -746, -1e10, 1e10, Infinity, -Infinity]) {
      expect(expFast(x)).toBe(Math.exp(x));
    }
    expect(Number.isNaN(expFast(NaN))).toBe(true);
    for (let k = -1000; k <= 1000; k += 7) expect(expFast(k * Math.LN2)).toBe(Math.exp(k * Math.LN2));
  });
});
