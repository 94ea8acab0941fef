/**
 * The exact observed information −∇²ℓ (observed-information.ts) for the softmax gate with
 * Gaussian linear experts in one pass over the data, generated per shape (numeric/codegen.ts), using
 * the block structure instead of k per-component score vectors of length p per row.
 *
 * With x̃ = (1, x), posteriors r, gate weights π, expert l's residual ρ_l = y − μ_l, e_l = ρ_l e^{−v_l},
 * φ_l = ½ρ_l e_l − ½ and the complete-data scores of component i — gate class j: (δ_ij − π_j) x̃,
 * expert block l: δ_il ψ_l with ψ_l = (e_l x̃, φ_l) — the deviations s_i − g are (δ_ij − r_j) x̃ and
 * (δ_il − r_l) ψ_l, so the missing-information identity (Louis 1982; math-spec §9.1 [DER]) gives per
 * row, with N_jl = r_j r_l − δ_jl r_j (= −(diag r − r rᵀ)):
 *
 *   gate j × gate l:     (δ_jl π_j − π_j π_l + N_jl) x̃ x̃ᵀ        (−∇²Q: Σ_t (diag π − π πᵀ) ⊗ x̃ x̃ᵀ)
 *   expert l × gate j:   N_jl ψ_l x̃ᵀ
 *   expert l × expert m: N_lm ψ_l ψ_mᵀ + δ_lm r_l (e^{−v_l} x̃x̃ᵀ, e_l x̃, ½ ρ_l e_l)  (−∇²Q of expert l)
 *
 * Every entry is Σ_t c(t)·x̃_a x̃_b for one per-row coefficient c (a "channel") and one monomial of x̃
 * (x̃_0 = 1): one multiply-add per entry of the lower triangle per row (171 at d = 2, k = 3), against
 * k·p(p+1)/2 = 513 plus the k score passes of the generic assembly. Two forms of the same sums, in
 * the same order (sums by blocks of 256 rows), hence the same bits (tested):
 * - by blocks (`blockInformationPass`, the one observed-information.ts uses): a generated row loop
 *   writes the channels and monomials of 256 rows column by column, then each distinct (channel,
 *   monomial) pair is one dot product (141 at d = 2, k = 3);
 * - unrolled (`informationKernel`, ≤ `MAX_ENTRIES`): every accumulation written out in the row loop;
 *   kept as the independent check of the block form's pair tables. Measured (loaded, cold process,
 *   d = 2, k = 3, n = 1e5): both ≈ 61–64 ms CPU on the first call and 30–33 ms after; without the
 *   block partial sums the unrolled kernel ran at 14 ms after a first call of 80–105 ms, but its bits
 *   differed from the block form's.
 * Why generated: the per-row values live in locals only
 * when the loops over k and d are unrolled (see numeric/codegen.ts).
 */
import { compileKernel, type KernelSource } from '../numeric/codegen.js';
import { EXP_SCOPE, expSource } from '../numeric/fastmath.js';

/** info (p×p, full) from θ = [gate | experts], X (n×d), y and the posteriors R (n×k) at θ. */
export type InformationKernel = (theta: Float64Array, X: Float64Array, y: Float64Array, R: Float64Array, n: number, info: Float64Array) => void;

/** Largest lower triangle p(p+1)/2 that is unrolled (k = 4, d = 3: p = 32, 528 entries). */
export const MAX_ENTRIES = 600;
/**
 * Largest triangle kept in locals; larger ones accumulate in the output array (measured, cold
 * process, loaded, d = 2, k = 3, 171 entries, n = 1e5: locals 220 ms CPU first call / 70 ms after,
 * array 87 / 14.5 ms: V8 optimises a function with that many live locals late and spills them).
 */
const LOCAL_ENTRIES = 40;

/** The kernel for k softmax classes and k Gaussian linear experts on d inputs, or undefined when too large. */
export function informationKernel(k: number, d: number): InformationKernel | undefined {
  const m = d + 1;
  const q = d + 2;
  const pg = (k - 1) * m;
  const p = pg + k * q;
  if ((p * (p + 1)) / 2 > MAX_ENTRIES) return undefined;
  return compileKernel<InformationKernel>(`observed-information:softmax-gaussian:${k}:${d}:${(p * (p + 1)) / 2 > LOCAL_ENTRIES ? 'array' : 'locals'}`, () => buildSource(k, d));
}

/** The per-block form: a generated row loop writing the channels and monomials column by column, then dot products. */
export interface BlockInformation {
  rows: (theta: Float64Array, X: Float64Array, y: Float64Array, R: Float64Array, t0: number, len: number, C: Float64Array, M: Float64Array) => void;
  channels: number;
  monomials: number;
  /** per distinct (channel, monomial) pair: its channel and monomial (−1: the monomial 1) */
  pairChannel: Int32Array;
  pairMonomial: Int32Array;
  entryStart: Int32Array;
  entryIndex: Int32Array;
}

export const BLOCK = 256;
const blockCache = new Map<string, BlockInformation>();

export function blockInformation(k: number, d: number): BlockInformation {
  const key = `${k}:${d}`;
  const hit = blockCache.get(key);
  if (hit) return hit;
  const entries: [string, string, number, number][] = [];
  const src = buildSource(k, d, entries);
  const m = d + 1;
  const q = d + 2;
  const p = (k - 1) * m + k * q;
  const chId = new Map<string, number>();
  const moId = new Map<string, number>();
  const pairs = new Map<string, number[]>();
  for (const [coef, mono, a, b] of entries) {
    if (!chId.has(coef)) chId.set(coef, chId.size);
    if (mono !== '1' && !moId.has(mono)) moId.set(mono, moId.size);
    const pk = `${coef}|${mono}`;
    const list = pairs.get(pk) ?? [];
    list.push(a * p + b);
    if (a !== b) list.push(b * p + a);
    pairs.set(pk, list);
  }
  // the row loop: the body of the unrolled kernel up to the coefficients, then stores
  const body = src.body;
  const blockStart = body.indexOf(`for (let t0 = 0; t0 < n; t0 += ${BLOCK}) {`);
  const loopStart = body.indexOf('for (let t = t0; t < tend; t++) {');
  const firstAdd = body.findIndex((l) => /^(s\d|Sb\[)/.test(l));
  const head = body.slice(0, blockStart).filter((l) => !l.startsWith('let h') && !l.startsWith('const H') && !l.startsWith('const Sb'));
  const rowLines = body.slice(loopStart + 1, firstAdd);
  const L = [...head, 'for (let u = 0; u < len; u++) {', 'const t = t0 + u;', ...rowLines];
  for (const [c, id] of chId) L.push(`C[${id * BLOCK} + u] = ${c};`);
  for (const [mo, id] of moId) L.push(`M[${id * BLOCK} + u] = ${mo};`);
  L.push('}');
  const rows = compileKernel<BlockInformation['rows']>(`observed-information-block:${k}:${d}`, () => ({ name: `informationRows_k${k}_d${d}`, params: ['theta', 'X', 'y', 'R', 't0', 'len', 'C', 'M'], body: L, scope: EXP_SCOPE }));
  const keys = [...pairs.keys()];
  const pairChannel = new Int32Array(keys.length);
  const pairMonomial = new Int32Array(keys.length);
  const entryStart = new Int32Array(keys.length + 1);
  const entryIndex = new Int32Array(p * p);
  let e = 0;
  keys.forEach((pk, i) => {
    const [c, mo] = pk.split('|');
    pairChannel[i] = chId.get(c)!;
    pairMonomial[i] = mo === '1' ? -1 : moId.get(mo)!;
    entryStart[i] = e;
    for (const idx of pairs.get(pk)!) entryIndex[e++] = idx;
  });
  entryStart[keys.length] = e;
  const out: BlockInformation = { rows, channels: chId.size, monomials: moId.size, pairChannel, pairMonomial, entryStart, entryIndex };
  blockCache.set(key, out);
  return out;
}

/** −∇²ℓ into info (p×p) by the block form. */
export function blockInformationPass(k: number, d: number, theta: Float64Array, X: Float64Array, y: Float64Array, R: Float64Array, n: number, info: Float64Array): void {
  const B = blockInformation(k, d);
  const C = new Float64Array(B.channels * BLOCK);
  const M = new Float64Array(Math.max(1, B.monomials) * BLOCK);
  const np = B.pairChannel.length;
  const acc = new Float64Array(np);
  const { pairChannel, pairMonomial, entryStart, entryIndex } = B;
  for (let t0 = 0; t0 < n; t0 += BLOCK) {
    const len = Math.min(BLOCK, n - t0);
    B.rows(theta, X, y, R, t0, len, C, M);
    for (let i = 0; i < np; i++) {
      const co = pairChannel[i] * BLOCK;
      const mo = pairMonomial[i];
      let s = 0;
      if (mo < 0) for (let u = 0; u < len; u++) s += C[co + u];
      else {
        const oo = mo * BLOCK;
        for (let u = 0; u < len; u++) s += C[co + u] * M[oo + u];
      }
      acc[i] += s;
    }
  }
  for (let i = 0; i < np; i++) for (let e = entryStart[i]; e < entryStart[i + 1]; e++) info[entryIndex[e]] = acc[i];
}

function buildSource(k: number, d: number, record?: [string, string, number, number][]): KernelSource {
  const m = d + 1;
  const q = d + 2;
  const pg = (k - 1) * m;
  const p = pg + k * q;
  const L: string[] = [];
  const x = (u: number): string => (u === 0 ? '1' : `x${u}`);
  // monomial x̃_a x̃_b (a, b < m)
  const xx = (a: number, b: number): string => {
    const [hi, lo] = a >= b ? [a, b] : [b, a];
    if (hi === 0) return '1';
    if (lo === 0) return `x${hi}`;
    return `x${hi}x${lo}`;
  };
  // parameters
  for (let j = 0; j < k - 1; j++) for (let u = 0; u < m; u++) L.push(`const g${j}_${u} = theta[${j * m + u}];`);
  for (let l = 0; l < k; l++) {
    for (let u = 0; u < m; u++) L.push(`const b${l}_${u} = theta[${pg + l * q + u}];`);
    L.push(`const iv${l} = Math.exp(-theta[${pg + l * q + m}]);`);
  }
  // accumulators of the lower triangle: locals for small triangles, else typed arrays (V8 stops
  // optimising the kernel with too many live locals). Sums by blocks of BLOCK rows (s: the block's
  // partial sum, added to h at its end), so that both forms add the same numbers in the same order:
  // the unrolled kernel and `blockInformationPass` give the same bits (tested), and a fit's bytes do
  // not depend on which form ran
  const inArray = (p * (p + 1)) / 2 > LOCAL_ENTRIES;
  const h = (a: number, b: number): string => (inArray ? `H[${a * p + b}]` : `h${a}_${b}`);
  const sb = (a: number, b: number): string => (inArray ? `Sb[${a * p + b}]` : `s${a}_${b}`);
  if (inArray) L.push(`const H = info; H.fill(0);`, `const Sb = new Float64Array(${p * p});`);
  else {
    const acc: string[] = [];
    for (let a = 0; a < p; a++) for (let b = 0; b <= a; b++) acc.push(`h${a}_${b} = 0`, `s${a}_${b} = 0`);
    L.push(`let ${acc.join(', ')};`);
  }
  L.push(`for (let t0 = 0; t0 < n; t0 += ${BLOCK}) {`);
  L.push(`const tend = t0 + ${BLOCK} < n ? t0 + ${BLOCK} : n;`);
  L.push('for (let t = t0; t < tend; t++) {');
  L.push(`const xo = t * ${d};`);
  for (let u = 1; u <= d; u++) L.push(`const x${u} = X[xo + ${u - 1}];`);
  for (let a = 1; a <= d; a++) for (let b = 1; b <= a; b++) L.push(`const x${a}x${b} = x${a} * x${b};`);
  const ro = `t * ${k}`;
  for (let i = 0; i < k; i++) L.push(`const r${i} = R[${ro} + ${i}];`);
  // gate weights π from the logits (the reference logit 0)
  for (let j = 0; j < k - 1; j++) L.push(`const z${j} = ${Array.from({ length: m }, (_, u) => (u === 0 ? `g${j}_0` : `g${j}_${u} * x${u}`)).join(' + ')};`);
  L.push('let mx = 0;');
  for (let j = 0; j < k - 1; j++) L.push(`if (z${j} > mx) mx = z${j};`);
  for (let j = 0; j < k - 1; j++) L.push(expSource(`e${j}`, `z${j} - mx`));
  L.push(expSource(`e${k - 1}`, '-mx'));
  L.push(`const is = 1 / (${Array.from({ length: k }, (_, i) => `e${i}`).join(' + ')});`);
  for (let i = 0; i < k; i++) L.push(`const p${i} = e${i} * is;`);
  L.push('const yt = y[t];');
  for (let l = 0; l < k; l++) {
    L.push(`const rho${l} = yt - (${Array.from({ length: m }, (_, u) => (u === 0 ? `b${l}_0` : `b${l}_${u} * x${u}`)).join(' + ')});`);
    L.push(`const e${l}s = rho${l} * iv${l};`);
    L.push(`const f${l} = 0.5 * rho${l} * e${l}s - 0.5;`);
  }
  // N_jl = r_j r_l − δ_jl r_j (j ≥ l)
  const N = (a: number, b: number): string => (a >= b ? `N${a}_${b}` : `N${b}_${a}`);
  for (let a = 0; a < k; a++) for (let b = 0; b <= a; b++) L.push(`const N${a}_${b} = ${a === b ? `r${a} * r${a} - r${a}` : `r${a} * r${b}`};`);
  // coefficients
  for (let j = 0; j < k - 1; j++) for (let l = 0; l <= j; l++) L.push(`const cg${j}_${l} = ${j === l ? `p${j} - p${j} * p${j}` : `-p${j} * p${l}`} + N${j}_${l};`);
  for (let l = 0; l < k; l++) {
    for (let j = 0; j < k - 1; j++) {
      L.push(`const ce${l}_${j} = ${N(j, l)} * e${l}s;`);
      L.push(`const cf${l}_${j} = ${N(j, l)} * f${l};`);
    }
  }
  for (let l = 0; l < k; l++) {
    for (let mm = 0; mm <= l; mm++) {
      const n = `N${l}_${mm}`;
      const same = l === mm;
      L.push(`const kee${l}_${mm} = ${n} * e${l}s * e${mm}s${same ? ` + r${l} * iv${l}` : ''};`);
      L.push(`const kfe${l}_${mm} = ${n} * f${l} * e${mm}s${same ? ` + r${l} * e${l}s` : ''};`);
      if (!same) L.push(`const kef${l}_${mm} = ${n} * e${l}s * f${mm};`);
      L.push(`const kff${l}_${mm} = ${n} * f${l} * f${mm}${same ? ` + 0.5 * r${l} * e${l}s * rho${l}` : ''};`);
    }
  }
  // one multiply-add per entry of the lower triangle
  const add = (a: number, b: number, coef: string, mono: string): void => {
    record?.push([coef, mono, a, b]);
    L.push(mono === '1' ? `${sb(a, b)} += ${coef};` : `${sb(a, b)} += ${coef} * ${mono};`);
  };
  const kindOf = (a: number): { gate: boolean; c: number; u: number } => (a < pg ? { gate: true, c: Math.floor(a / m), u: a % m } : { gate: false, c: Math.floor((a - pg) / q), u: (a - pg) % q });
  for (let a = 0; a < p; a++) {
    const A = kindOf(a);
    for (let b = 0; b <= a; b++) {
      const B = kindOf(b);
      if (A.gate && B.gate) add(a, b, `cg${A.c}_${B.c}`, xx(A.u, B.u));
      else if (!A.gate && B.gate) add(a, b, A.u < m ? `ce${A.c}_${B.c}` : `cf${A.c}_${B.c}`, A.u < m ? xx(A.u, B.u) : x(B.u));
      else {
        // experts: A.c ≥ B.c since a ≥ b
        const l = A.c;
        const mm = B.c;
        if (A.u < m && B.u < m) add(a, b, `kee${l}_${mm}`, xx(A.u, B.u));
        else if (A.u === m && B.u < m) add(a, b, `kfe${l}_${mm}`, x(B.u));
        else if (A.u < m && B.u === m) add(a, b, `kef${l}_${mm}`, x(A.u)); // only l > mm (a ≥ b)
        else add(a, b, `kff${l}_${mm}`, '1');
      }
    }
  }
  L.push('}');
  for (let a = 0; a < p; a++) for (let b = 0; b <= a; b++) L.push(`${h(a, b)} += ${sb(a, b)}; ${sb(a, b)} = 0;`);
  L.push('}');
  for (let a = 0; a < p; a++) {
    for (let b = 0; b <= a; b++) {
      if (!inArray) L.push(`info[${a * p + b}] = ${h(a, b)};`);
      if (a !== b) L.push(`info[${b * p + a}] = ${h(a, b)};`);
    }
  }
  return { name: `observedInformation_k${k}_d${d}`, params: ['theta', 'X', 'y', 'R', 'n', 'info'], body: L, scope: EXP_SCOPE };
}
