import { describe, expect, it } from 'vitest';
import { normalCdf, normalCdfPdf, normalPdf } from '../../src/numeric/special.js';
import { Rng } from '../../src/numeric/rng.js';

/** [z, Φ(z), φ(z)] from mpmath at 40 digits, rounded to the nearest double. */
const REFERENCE: [number, number, number][] = [
  [-7.9, 1.3945171466592643e-15, 1.1187956214351804e-14],
  [-6.123456789, 4.5783348164836427e-10, 2.8747501909409263e-09],
  [-5.0, 2.866515718791939e-07, 1.4867195147342977e-06],
  [-3.3, 0.0004834241423837775, 0.0017225689390536812],
  [-2.0, 0.02275013194817921, 0.05399096651318805],
  [-1.234567, 0.10849584847540204, 0.1861846469887741],
  [-0.5, 0.3085375387259869, 0.35206532676429947],
  [-0.015625, 0.4937667805001103, 0.3988935843648253],
  [0.0, 0.5, 0.3989422804014327],
  [0.01, 0.5039893563146316, 0.39892233378608216],
  [0.3, 0.6179114221889527, 0.3813878154605241],
  [1.0, 0.8413447460685429, 0.24197072451914334],
  [1.7320508, 0.9583677409944732, 0.0890160560829235],
  [2.5, 0.9937903346742238, 0.017528300493568537],
  [4.0, 0.9999683287581669, 0.00013383022576488534],
  [6.5, 0.99999999995984, 2.669556614762852e-10],
  [7.99, 0.9999999999999993, 5.472786281028508e-15],
];

describe('normalCdfPdf (Taylor table)', () => {
  it('matches 40-digit reference values of Φ and φ (relative error ≤ 1.2e-14 in the lower tail, where the erfc anchors lose digits to the rounding of z², ≤ 1e-15 for z ≥ −1)', () => {
    const out = new Float64Array(2);
    for (const [z, P, p] of REFERENCE) {
      normalCdfPdf(z, out);
      expect(Math.abs(out[0] - P) / P, `Φ(${z})`).toBeLessThan(z < -3 ? 1.2e-14 : z < -1 ? 3e-15 : 1e-15);
      expect(Math.abs(out[1] - p) / p, `φ(${z})`).toBeLessThan(5e-16);
      // the Chebyshev erfc route (used outside |z| < 8 and for the table's anchors)
      expect(Math.abs(normalCdf(z) - P) / P, `normalCdf(${z})`).toBeLessThan(z < -3 ? 1.5e-14 : 3e-15);
      expect(Math.abs(normalPdf(z) - p) / p, `normalPdf(${z})`).toBeLessThan(3e-15);
    }
  });

  it('agrees with the Chebyshev erfc and the exp-based density everywhere, including outside |z| < 8', () => {
    const out = new Float64Array(2);
    const rng = new Rng(5);
    for (let i = 0; i < 100_000; i++) {
      const z = -10 + 20 * rng.uniform();
      normalCdfPdf(z, out);
      expect(Math.abs(out[0] - normalCdf(z)) / normalCdf(z)).toBeLessThan(2.5e-14);
      expect(Math.abs(out[1] - normalPdf(z)) / normalPdf(z)).toBeLessThan(2.5e-15);
    }
    normalCdfPdf(NaN, out);
    expect(Number.isNaN(out[0]) && Number.isNaN(out[1])).toBe(true);
    normalCdfPdf(-Infinity, out);
    expect(out[0]).toBe(0);
    normalCdfPdf(Infinity, out);
    expect(out[0]).toBe(1);
  });
});
