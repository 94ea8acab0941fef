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
import { accumulatorCount, MAX_UNROLLED_PARAMS, newtonParts } from '../family/softmax-kernels.js';
import type { LogitsFragment } from '../gates/gate.js';

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

/**
 * The whole E-step of a softmax gate on x with Gaussian linear experts in one pass over the rows
 * (math-spec §9.1), and, with `stats`, what the two M-steps need from the data at this θ:
 *
 * - R (n×k): the posteriors; G (n×k): π = softmax(z); info[0]: Σ_t Σ_i R_ti log π_ti; returns ℓ(θ)
 *   (as the gate's logits kernel, the experts' log-density kernel and `combineTwo` /
 *   `combineKernel` compute them one after the other: the same operations in the same order, the
 *   same bits);
 * - moments (k blocks of q² + q + 1, q = d + 1, v = (1, x)): Σ_t R_ti v vᵀ (full), Σ_t R_ti e_ti v
 *   and Σ_t R_ti e_ti², e_ti = y_t − cᵢ·v_t the residual at the current coefficients — the expert
 *   M-step's weighted least squares centred at θ (GaussianLinearExperts.mStepFromMoments);
 * - g, H: the gate M-step's first Newton system at θ (as family/softmax-kernels.ts's Newton-system
 *   kernel computes it from G and R: the same bits).
 *
 * Why fused and hand-generated: the separate kernels write and re-read two n×k arrays and, with
 * the M-steps, read the data four times per EM iteration; a pass over 1e5 rows is memory- and
 * exp-bound, so one pass costs little more than the combine alone. Unrolled per (k, d) for the
 * reasons of numeric/codegen.ts.
 */
export type FusedEStepKernel = (thetaGate: Float64Array, thetaExpert: Float64Array, X: Float64Array, y: Float64Array, n: number, R: Float64Array, G: Float64Array, info: Float64Array, moments: Float64Array, g: Float64Array, H: Float64Array) => number;

/** Size of one expert's block of the fused moments: q×q Gram, q right-hand sides, Σ r e². */
export function fusedMomentsSize(d: number): number {
  const q = d + 1;
  return q * q + q + 1;
}

/**
 * Largest number of scalar sums of the fused kernel with statistics. Beyond it the sums spill out
 * of registers and the one pass costs more than the separate M-step passes it replaces (measured at
 * n = 1e5, min of 120, loaded: k = 2, d = 1, 17 sums: 3.1 ms for the pass with statistics against
 * 2.5 without and ≈ 1.2 for the passes it saves; k = 3, d = 2, 54 sums: 10.4 against 3.7 without).
 */
const MAX_FUSED_ACCUMULATORS = 32;

/**
 * The fused kernel for k experts and d features, or null when the shape is too large to unroll.
 * With `gate`, another gate's logits (its `LogitsFragment`) replace the softmax logits, and the
 * statistics are the experts' moments only (g and H are left alone: that gate's M-step makes its
 * own Newton systems).
 */
export function fusedEStepKernel(k: number, d: number, stats: boolean, gate?: LogitsFragment): FusedEStepKernel | null {
  const q = d + 1;
  if (k < 2 || k > MAX_UNROLLED_K || (gate === undefined && (k - 1) * q > MAX_UNROLLED_PARAMS)) return null;
  if (stats && (gate === undefined ? accumulatorCount(k, d) : 0) + k * ((q * (q + 1)) / 2 + q + 1) > MAX_FUSED_ACCUMULATORS) return null;
  return compileKernel<FusedEStepKernel>(`fused-estep:${k}:${d}:${stats}${gate ? `:${gate.key}` : ''}`, () => fusedEStepSource(k, d, stats, gate));
}

function fusedEStepSource(k: number, d: number, stats: boolean, gate?: LogitsFragment): KernelSource {
  const q = d + 1;
  const J = k - 1;
  const v = (a: number): string => (a === 0 ? '1' : `v${a}`);
  const pre: string[] = [];
  // gate θ rows [β₀ⱼ, β₁ⱼ] and expert θ rows [bᵢ, aᵢ, log νᵢ] (the log-density kernel's constants)
  if (gate) pre.push(...gate.pre);
  else for (let j = 0; j < J; j++) for (let a = 0; a < q; a++) pre.push(`const b${j}_${a} = thetaGate[${j * q + a}];`);
  for (let i = 0; i < k; i++) {
    for (let a = 0; a < q; a++) pre.push(`const c${i}_${a} = thetaExpert[${i * (q + 1) + a}];`);
    pre.push(`const lv${i} = thetaExpert[${i * (q + 1) + q}];`, `const kk${i} = HALF_LOG_2PI_NEG - 0.5 * lv${i};`, `const hh${i} = 0.5 * Math.exp(-lv${i});`);
  }
  const row: string[] = [`const o = t * ${k};`, 'const yt = y[t];'];
  for (let a = 1; a <= d; a++) row.push(`const v${a} = X[t * ${d} + ${a - 1}];`);
  // logits (softmax-kernels.ts logitsKernel) and log-densities (experts/gaussian-kernels.ts)
  if (gate) {
    // the gate's own logits, in a block of their own (its names cannot clash with these)
    row.push(`let ${names('z', k).map((z) => `${z} = 0`).join(', ')};`, '{', ...gate.row.map((l) => `  ${l}`), '}');
  } else {
    for (let j = 0; j < J; j++) row.push(`const z${j} = ${[`b${j}_0`, ...Array.from({ length: d }, (_, u) => `b${j}_${u + 1} * v${u + 1}`)].join(' + ')};`);
    row.push(`const z${J} = 0;`);
  }
  for (let i = 0; i < k; i++) {
    row.push(`const res${i} = yt - (${[`c${i}_0`, ...Array.from({ length: d }, (_, u) => `c${i}_${u + 1} * v${u + 1}`)].join(' + ')});`);
    row.push(`const ld${i} = kk${i} - res${i} * res${i} * hh${i};`);
  }
  if (k === 2) {
    // combineTwo, with logits
    row.push('const a0 = z0 + ld0;', 'const a1 = z1 + ld1;', 'const ma = a0 > a1 ? a0 : a1;', 'if (!(ma > -Infinity)) return -Infinity;');
    row.push(expSource('ea', '-Math.abs(a0 - a1)'));
    row.push('const r0 = a0 >= a1 ? 1 / (1 + ea) : ea / (1 + ea);', 'const r1 = 1 - r0;', 'R[o] = r0;', 'R[o + 1] = r1;');
    row.push('const mz = z0 > z1 ? z0 : z1;');
    row.push(expSource('ez', '-Math.abs(z0 - z1)'));
    row.push('ll += ma - mz;', 'prod *= (1 + ea) / (1 + ez);');
    row.push('const p0 = z0 >= z1 ? 1 / (1 + ez) : ez / (1 + ez);', 'const p1 = 1 - p0;', 'G[o] = p0;', 'G[o + 1] = p1;');
    row.push('qg += r0 * (z0 - mz) + (1 - r0) * (z1 - mz);', 'prodz *= 1 + ez;');
  } else {
    // combineSource with logits and gate outputs
    const z = names('z', k);
    row.push(maxOf('mz', z));
    z.forEach((zv, i) => row.push(expSource(`ez${i}`, `${zv} - mz`)));
    row.push(`const sz = ${z.map((_, i) => `ez${i}`).join(' + ')};`);
    for (let i = 0; i < k; i++) row.push(`const a${i} = z${i} + ld${i};`);
    row.push(maxOf('m', names('a', k)));
    row.push('if (!(m > -Infinity)) return -Infinity;');
    for (let i = 0; i < k; i++) row.push(expSource(`ea${i}`, `a${i} - m`));
    row.push(`const sa = ${names('ea', k).join(' + ')};`, 'const inv = 1 / sa;');
    for (let i = 0; i < k; i++) row.push(`const r${i} = ea${i} * inv;`, `R[o + ${i}] = r${i};`);
    row.push('const iz = 1 / sz;', 'll += m - mz; prod *= sa * iz;');
    for (let i = 0; i < k; i++) row.push(`const p${i} = ez${i} * iz;`, `G[o + ${i}] = p${i};`);
    row.push(`qg += (${names('ea', k).map((e, i) => `${e} * (z${i} - mz)`).join(' + ')}) * inv;`, 'prodz *= sz;');
  }
  row.push(`if (++count === ${LOG_BLOCK}) { ll += Math.log(prod); prod = 1; count = 0; qg -= Math.log(prodz); prodz = 1; }`);
  const decl = ['ll = 0', 'prod = 1', 'count = 0', 'qg = 0', 'prodz = 1'];
  const out: string[] = [];
  if (stats) {
    if (!gate) {
      // the gate's Newton system (softmax-kernels.ts newtonParts, inline: o, s, p_j, v_a defined here)
      row.push(`const s = ${names('r', k).join(' + ')};`);
      const sys = newtonParts(k, d, true);
      decl.push(...sys.decl);
      row.push(...sys.body);
      out.push(...sys.out);
    } else {
      for (let a = 1; a <= d; a++) for (let b = 1; b <= a; b++) row.push(`const v${a}_${b} = v${a} * v${b};`); // as newtonParts defines them
    }
    // the experts' centred weighted least-squares moments
    const size = fusedMomentsSize(d);
    const vv = (a: number, b: number): string => (a === 0 && b === 0 ? '' : b === 0 ? ` * v${a}` : ` * v${a}_${b}`);
    for (let i = 0; i < k; i++) {
      row.push(`const we${i} = r${i} * res${i};`);
      for (let a = 0; a < q; a++) {
        for (let b = 0; b <= a; b++) {
          const name = `M${i}_${a}_${b}`;
          decl.push(`${name} = 0`);
          row.push(`${name} += r${i}${vv(a, b)};`);
          out.push(`moments[${i * size + a * q + b}] = ${name};`);
          if (a !== b) out.push(`moments[${i * size + b * q + a}] = ${name};`);
        }
      }
      for (let a = 0; a < q; a++) {
        decl.push(`B${i}_${a} = 0`);
        row.push(a === 0 ? `B${i}_0 += we${i};` : `B${i}_${a} += we${i} * ${v(a)};`);
        out.push(`moments[${i * size + q * q + a}] = B${i}_${a};`);
      }
      decl.push(`E${i} = 0`);
      row.push(`E${i} += we${i} * res${i};`);
      out.push(`moments[${i * size + q * q + q}] = E${i};`);
    }
  }
  const body = [
    ...pre,
    `let ${decl.join(', ')};`,
    'for (let t = 0; t < n; t++) {',
    ...row.map((l) => `  ${l}`),
    '}',
    ...out,
    'info[0] = qg - Math.log(prodz);',
    'return ll + Math.log(prod);',
  ];
  return { name: 'fusedEStep', params: ['thetaGate', 'thetaExpert', 'X', 'y', 'n', 'R', 'G', 'info', 'moments', 'g', 'H'], body, scope: { ...EXP_SCOPE, ...gate?.scope, HALF_LOG_2PI_NEG: -0.5 * Math.log(2 * Math.PI) } };
}
