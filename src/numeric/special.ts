/**
 * Special functions needed by the expert families: erfc / erf and the standard normal Φ, φ.
 *
 * erfc uses the Chebyshev expansion of Press et al., Numerical Recipes 3rd ed. (2007), §6.2.2
 * (`Erf::erfccheb`): erfc(z) = t·exp(−z² + P(t)) with t = 2/(2 + z), z ≥ 0, 28 coefficients, full
 * double precision. Verified against scipy.special (see test/numeric/special.test.ts).
 */

const COF = new Float64Array([
  -1.3026537197817094, 0.6419697923564902, 1.9476473204185836e-2, -9.561514786808631e-3,
  -9.46595344482036e-4, 3.66839497852761e-4, 4.2523324806907e-5, -2.0278578112534e-5,
  -1.624290004647e-6, 1.30365583558e-6, 1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9,
  5.059343495e-9, -9.91364156e-10, -2.27365122e-10, 9.6467911e-11, 2.394038e-12, -6.886027e-12,
  8.94487e-13, 3.13092e-13, -1.12708e-13, 3.81e-16, 7.106e-15, -1.523e-15, -9.4e-17, 1.21e-16,
  -2.8e-17,
]);

/** erfc(z) for z ≥ 0 (Chebyshev, NR3 §6.2.2). */
function erfccheb(z: number): number {
  const t = 2 / (2 + z);
  const ty = 4 * t - 2;
  let d = 0;
  let dd = 0;
  for (let j = COF.length - 1; j > 0; j--) {
    const tmp = d;
    d = ty * d - dd + COF[j];
    dd = tmp;
  }
  return t * Math.exp(-z * z + 0.5 * (COF[0] + ty * d) - dd);
}

/** Complementary error function. */
export function erfc(x: number): number {
  return x >= 0 ? erfccheb(x) : 2 - erfccheb(-x);
}

/** Error function. */
export function erf(x: number): number {
  return x >= 0 ? 1 - erfccheb(x) : erfccheb(-x) - 1;
}

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Standard normal CDF Φ(x) = ½ erfc(−x/√2) (accurate in both tails). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x * INV_SQRT2);
}

/** Standard normal density φ(x). */
export function normalPdf(x: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}
