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
import { EXP_SCOPE, expNonPositive, expSource, LOG_BLOCK } from '../numeric/fastmath.js';

/**
 * With gate outputs (logits only), also π_t = softmax(z_t) into G (n×k) and the gate objective
 * Σ_t Σ_i R_ti log π_ti at the new posteriors into info[0] (rows weighted 1: posteriors sum to 1
 * up to an ulp) — the `GateState` the gate's M-step and gradient start from.
 */
export type CombineKernel = (R: Float64Array, S: Float64Array, n: number, G: Float64Array, info: Float64Array) => number;

/** Largest k with an unrolled combine; beyond it `combineLoop` runs. */
const MAX_UNROLLED_K = 24;

export function combineKernel(k: number, normalised: boolean, gateOut = false): CombineKernel {
  const withGate = gateOut && !normalised;
  if (k > MAX_UNROLLED_K) return (R, S, n, G, info) => combineLoop(R, S, n, k, normalised, withGate ? G : undefined, info);
  return compileKernel<CombineKernel>(`combine:${k}:${normalised}:${withGate}`, () => combineSource(k, normalised, withGate));
}

function combineSource(k: number, normalised: boolean, withGate: boolean): KernelSource {
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
  if (!normalised) row.push('const iz = 1 / sz;');
  row.push(normalised ? 'll += m; prod *= s;' : 'll += m - mz; prod *= s * iz;');
  if (withGate) {
    // π = softmax(z) and Σ_i r_i log π_i = Σ_i r_i (z_i − mz) − log sz (r_i here: the posteriors)
    z.forEach((_, i) => row.push(`G[o + ${i}] = ez${i} * iz;`));
    row.push(`qg += (${e.map((v, i) => `${v} * (${z[i]} - mz)`).join(' + ')}) * inv;`);
    row.push('prodz *= sz;');
  }
  row.push(`if (++count === ${LOG_BLOCK}) { ll += Math.log(prod); prod = 1; count = 0;${withGate ? ' qg -= Math.log(prodz); prodz = 1;' : ''} }`);
  const body = [
    'let ll = 0, prod = 1, count = 0, qg = 0, prodz = 1;',
    'for (let t = 0; t < n; t++) {',
    ...row.map((l) => `  ${l}`),
    '}',
    ...(withGate ? ['info[0] = qg - Math.log(prodz);'] : []),
    'return ll + Math.log(prod);',
  ];
  return { name: 'combine', params: ['R', 'S', 'n', 'G', 'info'], body, scope: { ...EXP_SCOPE } };
}

/** The same computation with loops over experts, for large k. */
export function combineLoop(R: Float64Array, S: Float64Array, n: number, k: number, normalised: boolean, G?: Float64Array, info?: Float64Array): number {
  let ll = 0;
  let prod = 1;
  let count = 0;
  let qg = 0;
  for (let t = 0; t < n; t++) {
    const o = t * k;
    let ratio = 1;
    let mz = 0;
    if (!normalised) {
      mz = -Infinity;
      for (let i = 0; i < k; i++) if (R[o + i] > mz) mz = R[o + i];
      let sz = 0;
      for (let i = 0; i < k; i++) sz += expNonPositive(R[o + i] - mz);
      ll -= mz;
      ratio = 1 / sz;
      if (G) {
        // log π = z − mz − log sz for now (large k: per-row logs are fine here)
        const l = mz + Math.log(sz);
        for (let i = 0; i < k; i++) G[o + i] = R[o + i] - l;
      }
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
      const e = expNonPositive(R[o + i] - m);
      R[o + i] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let i = 0; i < k; i++) R[o + i] *= inv;
    if (G) {
      for (let i = 0; i < k; i++) {
        if (R[o + i] !== 0) qg += R[o + i] * G[o + i]; // Σ r log π
        G[o + i] = expNonPositive(G[o + i]);
      }
    }
    ll += m;
    prod *= s * ratio;
    if (++count === LOG_BLOCK) {
      ll += Math.log(prod);
      prod = 1;
      count = 0;
    }
  }
  if (G && info) info[0] = qg;
  return ll + Math.log(prod);
}

/**
 * The combine for two experts, hand-written (one exp per row, two with logits; in its own function
 * so V8 optimises it apart from the E-step's bookkeeping: 4.2 → 3.0 ms at n = 1e5, loaded). R_t0 =
 * 1/(1 + e^{a1−a0}); with logits (G given) also π into G and Σ R log π into info[0]:
 * Σ r0(z0 − mz) + r1(z1 − mz) − log(1 + e^{−|z0−z1|}).
 */
export function combineTwo(R: Float64Array, S: Float64Array, n: number, G: Float64Array | undefined, info: Float64Array): number {
  let ll = 0;
  let prod = 1;
  let count = 0;
  let qg = 0;
  let prodz = 1;
  const normalised = G === undefined;
  for (let t = 0; t < n; t++) {
    const z0 = R[2 * t];
    const z1 = R[2 * t + 1];
    const a0 = z0 + S[2 * t];
    const a1 = z1 + S[2 * t + 1];
    const ma = a0 > a1 ? a0 : a1;
    if (!(ma > -Infinity)) return -Infinity;
    const e = expNonPositive(-Math.abs(a0 - a1)); // in [0, 1]; NaN propagates
    const r0 = a0 >= a1 ? 1 / (1 + e) : e / (1 + e);
    R[2 * t] = r0;
    R[2 * t + 1] = 1 - r0;
    if (normalised) {
      ll += ma;
      prod *= 1 + e;
    } else {
      const mz = z0 > z1 ? z0 : z1;
      const ez = expNonPositive(-Math.abs(z0 - z1));
      ll += ma - mz;
      prod *= (1 + e) / (1 + ez);
      const pz0 = z0 >= z1 ? 1 / (1 + ez) : ez / (1 + ez);
      G[2 * t] = pz0;
      G[2 * t + 1] = 1 - pz0;
      qg += r0 * (z0 - mz) + (1 - r0) * (z1 - mz);
      prodz *= 1 + ez;
    }
    if (++count === LOG_BLOCK) {
      ll += Math.log(prod);
      prod = 1;
      if (!normalised) {
        qg -= Math.log(prodz);
        prodz = 1;
      }
      count = 0;
    }
  }
  if (!normalised) info[0] = qg - Math.log(prodz);
  return ll + Math.log(prod);
}
