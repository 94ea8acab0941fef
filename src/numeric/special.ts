/**
 * Special functions needed by the expert families: erfc / erf and the standard normal Φ, φ.
 *
 * erfc uses the Chebyshev expansion of Press et al., Numerical Recipes 3rd ed. (2007), §6.2.2
 * (`Erf::erfccheb`): erfc(z) = t·exp(−z² + P(t)) with t = 2/(2 + z), z ≥ 0, 28 coefficients, full
 * double precision (relative error ≤ 1.5e-14 for Φ in the far lower tail, where the rounding of
 * z² costs digits). Checked against 40-digit mpmath values in test/numeric/special.test.ts.
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

/*
 * Φ and φ together on |z| < 8 from a Taylor table: around the grid point z0 = j/32 nearest to z
 * (|h| = |z − z0| ≤ 1/64), Φ(z0 + h) = Σ_{n≤12} a_n hⁿ with a_0 = Φ(z0) and
 * a_n = φ^{(n−1)}(z0)/n! = (−1)^{n−1} He_{n−1}(z0) φ(z0)/n! (He the probabilists' Hermite
 * polynomials), and φ(z0 + h) = Σ_{n≤11} (n+1) a_{n+1} hⁿ. Truncation below 1e-18 relative on the
 * whole range. Why: GELU experts evaluate Φ and φ for every row and expert in each LSE evaluation,
 * and the Chebyshev erfc is a 27-step dependent recurrence plus an exp (≈ 100 ns); two short
 * Horner sums from one table row take a fraction of that (test/numeric/special.test.ts).
 */
const PHI_GRID = 32;
const PHI_RANGE = 8;
const PHI_TERMS = 13;
const PHI_ROWS = 2 * PHI_RANGE * PHI_GRID + 1;
const PHI_TABLE = new Float64Array(PHI_ROWS * PHI_TERMS);
{
  const he = new Float64Array(PHI_TERMS);
  for (let j = 0; j < PHI_ROWS; j++) {
    const z0 = j / PHI_GRID - PHI_RANGE;
    const o = j * PHI_TERMS;
    const p0 = normalPdf(z0);
    PHI_TABLE[o] = normalCdf(z0);
    he[0] = 1;
    he[1] = z0;
    for (let m = 1; m + 1 < PHI_TERMS; m++) he[m + 1] = z0 * he[m] - m * he[m - 1];
    let fact = 1;
    for (let nn = 1; nn < PHI_TERMS; nn++) {
      fact *= nn;
      PHI_TABLE[o + nn] = ((nn - 1) % 2 === 0 ? 1 : -1) * he[nn - 1] * p0 / fact;
    }
  }
}

/** The free variables of `phiSource` code, to bind in a generated kernel's scope. */
export const PHI_SCOPE = { PHI_TABLE, normalCdf, normalPdf };

/**
 * Source text computing Φ(arg) into the new variable `cdf` and, when `pdf` is given, φ(arg) into
 * `pdf`, for generated kernels (numeric/codegen.ts): the operations of `normalCdfPdf` in the same
 * order (the Horner sums unrolled), hence the same bits. `arg` must be a variable name. Needs
 * `PHI_SCOPE` in the kernel's scope.
 */
export function phiSource(cdf: string, pdf: string | null, arg: string): string {
  const j = `${cdf}_j`;
  const h = `${cdf}_h`;
  const o = `${cdf}_o`;
  const lines = [`let ${cdf}${pdf ? `, ${pdf}` : ''};`, `if (!(${arg} > ${-PHI_RANGE} && ${arg} < ${PHI_RANGE})) { ${cdf} = normalCdf(${arg});${pdf ? ` ${pdf} = normalPdf(${arg});` : ''} } else {`];
  lines.push(`const ${j} = Math.round((${arg} + ${PHI_RANGE}) * ${PHI_GRID}); const ${h} = ${arg} - (${j} / ${PHI_GRID} - ${PHI_RANGE}); const ${o} = ${j} * ${PHI_TERMS};`);
  const last = PHI_TERMS - 1;
  lines.push(`${cdf} = PHI_TABLE[${o} + ${last}];${pdf ? ` ${pdf} = ${last} * PHI_TABLE[${o} + ${last}];` : ''}`);
  for (let nn = last - 1; nn >= 1; nn--) lines.push(`${cdf} = ${cdf} * ${h} + PHI_TABLE[${o} + ${nn}];${pdf ? ` ${pdf} = ${pdf} * ${h} + ${nn} * PHI_TABLE[${o} + ${nn}];` : ''}`);
  lines.push(`${cdf} = ${cdf} * ${h} + PHI_TABLE[${o}]; }`);
  return lines.join('\n');
}

/** out[0] = Φ(z), out[1] = φ(z) (table-driven on |z| < 8, see above; `normalCdf` / `normalPdf` elsewhere). */
export function normalCdfPdf(z: number, out: Float64Array): void {
  if (!(z > -PHI_RANGE && z < PHI_RANGE)) {
    out[0] = normalCdf(z);
    out[1] = normalPdf(z);
    return;
  }
  const j = Math.round((z + PHI_RANGE) * PHI_GRID);
  const h = z - (j / PHI_GRID - PHI_RANGE); // exact: z and the grid point are within 1/64
  const o = j * PHI_TERMS;
  const T = PHI_TABLE;
  let P = T[o + 12];
  let p = 12 * T[o + 12];
  for (let nn = 11; nn >= 1; nn--) {
    P = P * h + T[o + nn];
    p = p * h + nn * T[o + nn];
  }
  out[0] = P * h + T[o];
  out[1] = p;
}
