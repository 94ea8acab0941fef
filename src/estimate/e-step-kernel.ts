/**
 * The per-row combine of the E-step (math-spec §9.1), compiled unrolled for each number of
 * experts k (see numeric/codegen.ts for why).
 *
 * In: R holds the gate's log-weights (normalised) or logits z (log π = z − lse z), S the experts'
 * log-densities. Out: R holds the posteriors softmax(z + S) row by row; returns
 * ℓ = Σ_t [lse(z_t + S_t) − lse(z_t)], or NaN / −Infinity when a row has zero likelihood. The logs
 * of the row sums are taken once per `LOG_BLOCK` rows as the log of their product (each factor
 * lies in [1/k, k]).
 */
import { compileKernel, maxOf, names, type KernelSource } from '../numeric/codegen.js';
import { expFast, expSource, LOG_BLOCK, POW2 } from '../numeric/fastmath.js';

export type CombineKernel = (R: Float64Array, S: Float64Array, n: number) => number;

/** Largest k with an unrolled combine; beyond it `combineLoop` runs. */
const MAX_UNROLLED_K = 24;

export function combineKernel(k: number, normalised: boolean): CombineKernel {
  if (k > MAX_UNROLLED_K) return (R, S, n) => combineLoop(R, S, n, k, normalised);
  return compileKernel<CombineKernel>(`combine:${k}:${normalised}`, () => combineSource(k, normalised));
}

function combineSource(k: number, normalised: boolean): KernelSource {
  const z = names('z', k);
  const a = names('a', k);
  const e = names('e', k);
  const row: string[] = [`const o = t * ${k};`];
  z.forEach((v, i) => row.push(`const ${v} = R[o + ${i}];`));
  if (!normalised) {
    row.push(maxOf('mz', z));
    z.forEach((v, i) => row.push(expSource(`ez${i}`, `${v} - mz`)));
    row.push(`const sz = ${z.map((_, i) => `ez${i}`).join(' + ')};`);
  }
  a.forEach((v, i) => row.push(`const ${v} = ${z[i]} + S[o + ${i}];`));
  row.push(maxOf('m', a));
  row.push('if (!(m > -Infinity)) return -Infinity;');
  e.forEach((v, i) => row.push(expSource(v, `${a[i]} - m`)));
  row.push(`const s = ${e.join(' + ')};`);
  row.push('const inv = 1 / s;');
  e.forEach((v, i) => row.push(`R[o + ${i}] = ${v} * inv;`));
  row.push(normalised ? 'll += m; prod *= s;' : 'll += m - mz; prod *= s / sz;');
  row.push(`if (++count === ${LOG_BLOCK}) { ll += Math.log(prod); prod = 1; count = 0; }`);
  const body = ['let ll = 0, prod = 1, count = 0;', 'for (let t = 0; t < n; t++) {', ...row.map((l) => `  ${l}`), '}', 'return ll + Math.log(prod);'];
  return { name: 'combine', params: ['R', 'S', 'n'], body, scope: { POW2 } };
}

/** The same computation with loops over experts, for large k. */
export function combineLoop(R: Float64Array, S: Float64Array, n: number, k: number, normalised: boolean): number {
  let ll = 0;
  let prod = 1;
  let count = 0;
  for (let t = 0; t < n; t++) {
    const o = t * k;
    let ratio = 1;
    if (!normalised) {
      let mz = -Infinity;
      for (let i = 0; i < k; i++) if (R[o + i] > mz) mz = R[o + i];
      let sz = 0;
      for (let i = 0; i < k; i++) sz += expFast(R[o + i] - mz);
      ll -= mz;
      ratio = 1 / sz;
    }
    let m = -Infinity;
    for (let i = 0; i < k; i++) {
      const v = R[o + i] + S[o + i]; // −∞ + finite stays −∞ (inactive experts)
      R[o + i] = v;
      if (v > m) m = v;
    }
    if (!(m > -Infinity)) return -Infinity;
    let s = 0;
    for (let i = 0; i < k; i++) {
      const e = expFast(R[o + i] - m);
      R[o + i] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let i = 0; i < k; i++) R[o + i] *= inv;
    ll += m;
    prod *= s * ratio;
    if (++count === LOG_BLOCK) {
      ll += Math.log(prod);
      prod = 1;
      count = 0;
    }
  }
  return ll + Math.log(prod);
}
