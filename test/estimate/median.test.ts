import { describe, expect, it } from 'vitest';
import { median, robustScale } from '../../src/estimate/standardize.js';
import { Rng } from '../../src/numeric/rng.js';

/** The median of the sorted copy (the definition the selection must reproduce bit for bit). */
function sortedMedian(a: Float64Array): number {
  const s = a.slice().sort();
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * s[n / 2 - 1] + 0.5 * s[n / 2];
}

describe('median by selection', () => {
  it('equals the sorted median for odd and even sizes, ties, sorted and reversed input', () => {
    const rng = new Rng(7);
    for (const n of [1, 2, 3, 4, 5, 16, 17, 100, 1001, 4096, 9999]) {
      const inputs: Float64Array[] = [];
      inputs.push(Float64Array.from({ length: n }, () => rng.normal()));
      inputs.push(Float64Array.from({ length: n }, () => rng.int(5))); // many ties
      inputs.push(Float64Array.from({ length: n }, (_, i) => i)); // sorted
      inputs.push(Float64Array.from({ length: n }, (_, i) => n - i)); // reversed
      inputs.push(Float64Array.from({ length: n }, (_, i) => (i % 2 ? 1e300 : -1e300)));
      for (const a of inputs) expect(median(a.slice())).toBe(sortedMedian(a));
    }
  });

  it('robustScale gives the median and 1.4826·MAD', () => {
    const x = [3, 1, 4, 1, 5, 9, 2, 6];
    const r = robustScale(x.length, (t) => x[t]);
    expect(r.center).toBe(3.5); // sorted 1 1 2 3 4 5 6 9
    // |x − 3.5| = 0.5 2.5 0.5 2.5 1.5 5.5 1.5 2.5 → sorted 0.5 0.5 1.5 1.5 2.5 2.5 2.5 5.5 → 2
    expect(r.scale).toBeCloseTo(1.4826 * 2, 14);
  });
});
