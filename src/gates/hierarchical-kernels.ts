/**
 * Generated logits kernel of the two-level softmax gate (P3, math-spec §5.4):
 *   z_{i₁i₂} = a_{i₁} + log Softmax(b_{i₁·})_{i₂},  a = ω₁ᵀx + ω₀ (outer, last group 0),
 *   b_{i₁i₂} = β₁_{i₁i₂}ᵀx + β₀_{i₁i₂} (inner, last expert of each group 0),
 * so that log π = z − lse z (Σ_{i₂} of an inner softmax is 1, hence lse z = lse a). The E-step
 * takes logits, normalises once and hands π and Q to the M-step.
 *
 * Why generated code: the plain path ran the outer and every inner softmax core as separate
 * passes with their log-weights in buffers and a merge loop (≈ 9 ms at n = 1e5 for 2×2); one row
 * loop with the experts and features unrolled and the exps and logs inlined does it in one pass.
 * A `Math.log` call inside this loop spills the row's registers, so the log of each row sum is
 * inlined too (numeric/fastmath.ts), and two-class levels take one exp instead of two. CPU per pass
 * at n = 1e5, 2×2, loaded, interleaved in one process: `Math.log` and two exps 6.0 ms, inlined log
 * and one exp 5.2 ms (2.8 ms with no log at all). Compiled once per (K1, K2, d) and cached for the
 * process (numeric/codegen.ts); shapes with more than MAX_PARAMS gate parameters keep the plain path.
 *
 * With `withState` the kernel also writes the outer weights πᵒ (n×K1) and, per group, the inner
 * weights π^{i₁} (n×K2 each, one buffer per group) with their log-weights, the state the levels'
 * first Newton passes (`levelKeptKernel`: no exps, no logs) and the softmax cores' M-steps start
 * from; without it only z, and the unused weights are not computed. Measured (A/B interleaved,
 * nearTruth 2×2 fits, CPU per EM evaluation, loaded): the kept state and first passes from it
 * 0.90 of z only with every level's first pass from θ at n = 1e5, 0.93 at n = 1e4.
 */
import { compileKernel, maxOf } from '../numeric/codegen.js';
import { EXP_SCOPE, expSource, LOG_SCOPE, logSource } from '../numeric/fastmath.js';

/**
 * θ (outer rows, then each group's inner rows), X (n×d) → z into out (n×k); πᵒ, log πᵒ into
 * Po, Lo (n×K1); π^{i₁}, log π^{i₁} into Pi[i₁], Li[i₁] (n×K2 each).
 */
export type HierarchicalLogitsKernel = (theta: Float64Array, X: Float64Array, n: number, out: Float64Array, Po: Float64Array, Lo: Float64Array, Pi: readonly Float64Array[], Li: readonly Float64Array[]) => void;

/** Largest number of gate parameters for which the kernel is unrolled. */
const MAX_PARAMS = 96;

/** The logits kernel for K1 groups of K2 experts on d inputs, or null when too large. */
export function hierarchicalLogitsKernel(K1: number, K2: number, d: number, withState = true): HierarchicalLogitsKernel | null {
  const q = d + 1;
  const p = (K1 - 1) * q + K1 * (K2 - 1) * q;
  if (K1 < 1 || K2 < 1 || p > MAX_PARAMS) return null;
  const kernel = compileKernel<HierarchicalLogitsKernel>(`hierarchical-logits:${K1}:${K2}:${d}:${withState}`, () => {
    const k = K1 * K2;
    const pre: string[] = [];
    const body: string[] = [];
    if (withState) for (let i = 0; i < K1; i++) pre.push(`const Pi${i} = Pi[${i}], Li${i} = Li[${i}];`);
    for (let i = 0; i < p; i++) pre.push(`const th${i} = theta[${i}];`);
    for (let a = 1; a <= d; a++) body.push(`const x${a} = X[t * ${d} + ${a - 1}];`);
    // No `LogitsFragment` for the fused E-step (gates/gate.ts): measured in one process, interleaved,
    // nearTruth fits 2×2, fit CPU fused vs separate: n = 1e5 211 vs 209 ms, n = 1e4 27 vs 24 ms (the
    // fused pass with the inlined logs and 24 moment sums spills; the saved expert passes do not pay).
    body.push(...rowLines(K1, K2, d, withState, 'th', 'x', (idx, expr) => `out[t * ${k} + ${idx}] = ${expr};`));
    return {
      name: 'hierarchicalLogits',
      params: ['theta', 'X', 'n', 'out', 'Po', 'Lo', 'Pi', 'Li'],
      body: [...pre, 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}'],
      scope: { ...EXP_SCOPE, ...LOG_SCOPE },
    };
  });
  return kernel;
}

/**
 * One row of the logits: θ entries `<th>i`, inputs `<x>1..<x>d`; `assign(i, expr)` stores logit i
 * (with state, also the levels' weights into Po/Lo and Pi<i₁>/Li<i₁>).
 */
function rowLines(K1: number, K2: number, d: number, withState: boolean, th: string, x: string, assign: (i: number, expr: string) => string): string[] {
  const body: string[] = [];
  const linear = (off: number, name: string): void => {
    const terms = [`${th}${off}`];
    for (let a = 1; a <= d; a++) terms.push(`${th}${off + a} * ${x}${a}`);
    body.push(`const ${name} = ${terms.join(' + ')};`);
  };
  // log-softmax of the logits v0..v(m−2) and a reference 0, into log-weights l* and weights p*;
  // the log of the row sum (∈ [1, m]) inlined (numeric/fastmath.ts: a `Math.log` call here spills the row's registers)
  const logSoftmax = (prefix: string, m: number): void => {
    if (m === 2) {
      binarySoftmax(prefix);
      return;
    }
    const v = Array.from({ length: m - 1 }, (_, j) => `${prefix}v${j}`);
    body.push(maxOf(`${prefix}mx`, v, '0'));
    for (let j = 0; j < m - 1; j++) body.push(expSource(`${prefix}e${j}`, `${v[j]} - ${prefix}mx`));
    body.push(expSource(`${prefix}e${m - 1}`, `-${prefix}mx`));
    body.push(`const ${prefix}sum = ${Array.from({ length: m }, (_, j) => `${prefix}e${j}`).join(' + ')};`);
    body.push(logSource(`${prefix}lg`, `${prefix}sum`, { positive: true }));
    body.push(`const ${prefix}lse = ${prefix}mx + ${prefix}lg;`);
    body.push(`const ${prefix}inv = 1 / ${prefix}sum;`);
    for (let j = 0; j < m; j++) {
      body.push(`const ${prefix}l${j} = ${j < m - 1 ? v[j] : '0'} - ${prefix}lse;`);
      body.push(`const ${prefix}p${j} = ${prefix}e${j} * ${prefix}inv;`);
    }
  };
  // two classes (logit v, reference 0): the lines above with max(v, 0) resolved and one exp,
  // {e^(v − mx), e^(−mx)} = {1, e^(−|v|)}: the same sum, weights and log-weights, bit for bit
  const binarySoftmax = (prefix: string): void => {
    const v = `${prefix}v0`;
    body.push(expSource(`${prefix}e`, `-Math.abs(${v})`));
    body.push(`const ${prefix}sum = 1 + ${prefix}e;`);
    body.push(logSource(`${prefix}lg`, `${prefix}sum`, { positive: true }));
    body.push(`const ${prefix}lse = (${v} > 0 ? ${v} : 0) + ${prefix}lg;`);
    body.push(`const ${prefix}inv = 1 / ${prefix}sum;`);
    body.push(`const ${prefix}l0 = ${v} - ${prefix}lse;`, `const ${prefix}l1 = 0 - ${prefix}lse;`);
    body.push(`const ${prefix}ei = ${prefix}e * ${prefix}inv;`);
    body.push(`const ${prefix}p0 = ${v} > 0 ? ${prefix}inv : ${prefix}ei;`, `const ${prefix}p1 = ${v} > 0 ? ${prefix}ei : ${prefix}inv;`);
  };
  const q1 = d + 1;
  for (let j = 0; j < K1 - 1; j++) linear(j * q1, `ov${j}`);
  if (withState) logSoftmax('o', K1); // z needs only the outer logits a (lse z = lse a)
  if (withState) for (let i = 0; i < K1; i++) body.push(`Po[t * ${K1} + ${i}] = op${i};`, `Lo[t * ${K1} + ${i}] = ol${i};`);
  const pOuter = (K1 - 1) * q1;
  const pInner = (K2 - 1) * q1;
  for (let i = 0; i < K1; i++) {
    for (let j = 0; j < K2 - 1; j++) linear(pOuter + i * pInner + j * q1, `g${i}v${j}`);
    logSoftmax(`g${i}`, K2);
    for (let j = 0; j < K2; j++) {
      if (withState) body.push(`Pi${i}[t * ${K2} + ${j}] = g${i}p${j};`, `Li${i}[t * ${K2} + ${j}] = g${i}l${j};`);
      // P3 (math-spec §5.4): log π_{i₁i₂} = log πᵒ_{i₁} + log π^{i₁}_{i₂}; as a logit, a_{i₁} + log π^{i₁}_{i₂}
      body.push(assign(i * K2 + j, `${i < K1 - 1 ? `ov${i}` : '0'} + g${i}l${j}`));
    }
  }
  return body;
}

/**
 * R (n×k posterior weights), the kept log-weights Lo (n×K1) and Lg[i₁] (n×K2) → the outer weights
 * Wo[t,i₁] = Σ_{i₂} R[t, i₁K2+i₂] (n×K1), each group's weights Wg[i₁][t,i₂] = R[t, i₁K2+i₂]
 * (n×K2) and the levels' start objectives obj[0] = Σ Wo log πᵒ, obj[1 + i₁] = Σ Wg[i₁] log π^{i₁}
 * (entries with weight 0 skipped), all in one pass: the M-step's split of Σ R log π by level.
 */
export type HierarchicalSplitKernel = (R: Float64Array, n: number, Lo: Float64Array, Lg: readonly Float64Array[], Wo: Float64Array, Wg: readonly Float64Array[], obj: Float64Array) => void;

/**
 * The split kernel for K1 groups of K2 experts (the shapes of `hierarchicalLogitsKernel`). It
 * replaces a group-sum pass, a copy per group and a log-weight sum per level (K1 + 2 + K1 passes
 * over n rows, ≈ 30 % of the M-step's time outside the softmax cores at n = 1e5, 2×2); the sums
 * run in the same order as those loops, hence the same bits.
 */
export function hierarchicalSplitKernel(K1: number, K2: number): HierarchicalSplitKernel {
  return compileKernel<HierarchicalSplitKernel>(`hierarchical-split:${K1}:${K2}`, () => {
    const k = K1 * K2;
    const pre: string[] = ['let q = 0;'];
    const body: string[] = [];
    const post: string[] = [];
    for (let i = 0; i < K1; i++) pre.push(`const Lg${i} = Lg[${i}], Wg${i} = Wg[${i}];`, `let q${i} = 0;`);
    for (let i = 0; i < K1; i++) {
      const r = Array.from({ length: K2 }, (_, j) => `r${i}_${j}`);
      for (let j = 0; j < K2; j++) {
        body.push(`const ${r[j]} = R[t * ${k} + ${i * K2 + j}];`, `Wg${i}[t * ${K2} + ${j}] = ${r[j]};`);
      }
      body.push(`const w${i} = ${r.join(' + ')};`, `Wo[t * ${K1} + ${i}] = w${i};`);
    }
    // Σ W log π per level, row by row and class by class (the order of a flat loop over n × classes)
    for (let i = 0; i < K1; i++) body.push(`if (w${i} !== 0) q += w${i} * Lo[t * ${K1} + ${i}];`);
    for (let i = 0; i < K1; i++) for (let j = 0; j < K2; j++) body.push(`if (r${i}_${j} !== 0) q${i} += r${i}_${j} * Lg${i}[t * ${K2} + ${j}];`);
    post.push('obj[0] = q;');
    for (let i = 0; i < K1; i++) post.push(`obj[${1 + i}] = q${i};`);
    return { name: 'hierarchicalSplit', params: ['R', 'n', 'Lo', 'Lg', 'Wo', 'Wg', 'obj'], body: [...pre, 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}', ...post] };
  });
}

/**
 * One Newton pass of one level's M-step problem, Q = Σ_t Σ_j w_tj log π_tj with its gradient g and
 * negative Hessian −∇²Q (full p×p, row-major) at that level's θ (math-spec §8.1 IRLS, the same
 * sums as family/softmax-kernels.ts), reading the level's weights straight from R (n×k):
 *   outer level: w_tj = Σ_{i₂} R[t, j·K2 + i₂] (j < K1);  group i₁: w_tj = R[t, off + j], off = i₁·K2.
 * Returns Q. With m classes and q = d + 1: g_(j,a) = Σ_t (w_tj − s_t π_tj) v_ta and
 * −H_(j,a),(l,b) = Σ_t s_t π_tj (δ_jl − π_tl) v_ta v_tb, v = (1, x), s_t = Σ_j w_tj. Q takes the log
 * of each row sum, inlined (the inner levels' row weights are not 1, so the softmax core's
 * log-of-a-product trick would need a log per row anyway).
 */
export type LevelNewtonKernel = (theta: Float64Array, X: Float64Array, R: Float64Array, n: number, off: number, g: Float64Array, H: Float64Array) => number;

/** Largest number of sums of a level pass (g and the lower triangle of −H) that is unrolled. */
const MAX_LEVEL_SUMS = 200;

/**
 * The level pass for m classes on d inputs of a K1×K2 gate, `outer` for the level of groups
 * (m = K1) or else a group's inner level (m = K2); null when too large to unroll.
 */
export function levelNewtonKernel(K1: number, K2: number, d: number, outer: boolean): LevelNewtonKernel | null {
  const m = outer ? K1 : K2;
  const p = (m - 1) * (d + 1);
  if (m < 2 || p + (p * (p + 1)) / 2 > MAX_LEVEL_SUMS) return null;
  return compileKernel<LevelNewtonKernel>(`hierarchical-level-newton:${K1}:${K2}:${d}:${outer}`, () => {
    const lv = levelParts(K1, K2, d, outer, '', (i) => `theta[${i}]`, 'off', (i) => `g[${i}]`, (i) => `H[${i}]`, 'return Q;');
    return {
      name: 'levelNewton',
      params: ['theta', 'X', 'R', 'n', 'off', 'g', 'H'],
      body: [...lv.pre, `let ${lv.decl.join(', ')};`, 'for (let t = 0; t < n; t++) {', ...inputLines(d), ...lv.body.map((l) => `  ${l}`), '}', ...lv.post],
      scope: { ...EXP_SCOPE, ...LOG_SCOPE },
    };
  });
}

/**
 * A level's first Newton system at the θ of the last logits call, from that call's state: π and
 * log π of the level (P, L: n×m, the outer level's or a group's), X and R (n×k). The level pass's
 * lines without θ, exps and logs: g and −H from the same π, bit for bit; Q = Σ w log π (the
 * split kernel's sum, equal to the pass's Σ w z − s·lse to rounding).
 */
export type LevelKeptKernel = (P: Float64Array, L: Float64Array, X: Float64Array, R: Float64Array, n: number, off: number, g: Float64Array, H: Float64Array) => number;

/** The kept-state first pass of a level (the shapes of `levelNewtonKernel`), or null. */
export function levelKeptKernel(K1: number, K2: number, d: number, outer: boolean): LevelKeptKernel | null {
  if (levelNewtonKernel(K1, K2, d, outer) === null) return null;
  return compileKernel<LevelKeptKernel>(`hierarchical-level-kept:${K1}:${K2}:${d}:${outer}`, () => {
    const lv = levelParts(K1, K2, d, outer, '', () => '', 'off', (i) => `g[${i}]`, (i) => `H[${i}]`, 'return Q;', true);
    return {
      name: 'levelKept',
      params: ['P', 'L', 'X', 'R', 'n', 'off', 'g', 'H'],
      body: [...lv.pre, `let ${lv.decl.join(', ')};`, 'for (let t = 0; t < n; t++) {', ...inputLines(d), ...lv.body.map((l) => `  ${l}`), '}', ...lv.post],
    };
  });
}

/**
 * ∇θ Σ_t Σ_i W_ti log π_ti of the whole gate for arbitrary real W (n×k) into g, every level in one
 * loop over the rows: the outer level with weights Σ_{i₂} W_{t,i₁K2+i₂}, each group's with its own
 * columns, g_(j,a) = Σ_t (w_tj − s_t π_tj) v_ta per level (P3, math-spec §5.4: log π separates by
 * level). The levels' lines of `levelNewtonKernel` without Q and −H: no logs, one exp per
 * two-class level and row. θ and g in the gate's order (outer rows, then each group's rows).
 */
export type HierarchicalGradientKernel = (theta: Float64Array, X: Float64Array, W: Float64Array, n: number, g: Float64Array) => void;

/** The gradient kernel for K1 groups of K2 experts on d inputs, or null when too large. */
export function hierarchicalGradientKernel(K1: number, K2: number, d: number): HierarchicalGradientKernel | null {
  const q = d + 1;
  const po = (K1 - 1) * q;
  const pi = (K2 - 1) * q;
  if (K1 < 1 || K2 < 1 || po + K1 * pi > MAX_PARAMS || po + K1 * pi === 0) return null;
  const key = `hierarchical-gradient:${K1}:${K2}:${d}`;
  const kernel = compileKernel<HierarchicalGradientKernel>(key, () => {
    const parts: ReturnType<typeof levelParts>[] = [];
    if (K1 > 1) parts.push(levelParts(K1, K2, d, true, 'o_', (i) => `theta[${i}]`, '0', (i) => `g[${i}]`, null, ''));
    if (K2 > 1) {
      for (let i1 = 0; i1 < K1; i1++) {
        const at = po + i1 * pi;
        parts.push(levelParts(K1, K2, d, false, `i${i1}_`, (i) => `theta[${at + i}]`, String(i1 * K2), (i) => `g[${at + i}]`, null, ''));
      }
    }
    return {
      name: 'hierarchicalGradient',
      params: ['theta', 'X', 'R', 'n', 'g'],
      body: [...parts.flatMap((l) => l.pre), `let ${parts.flatMap((l) => l.decl).join(', ')};`, 'for (let t = 0; t < n; t++) {', ...inputLines(d), ...parts.flatMap((l) => l.body).map((l) => `  ${l}`), '}', ...parts.flatMap((l) => l.post)],
      scope: { ...EXP_SCOPE },
    };
  });
  if (!warmed.has(key)) {
    // a dozen calls on a few rows before the first real one, both signs of the logits: V8 then has
    // type feedback for the stores after the loop (else the first call at n = 1e5 is optimised on
    // the stack without it: 18 ms instead of ≈ 3, see activation-kernels.ts warmUp)
    warmed.add(key);
    const rows = 8;
    const th = new Float64Array(po + K1 * pi);
    const X = new Float64Array(rows * d).map((_, i) => ((i * 7) % 5) - 2);
    const W = new Float64Array(rows * K1 * K2).map((_, i) => ((i * 3) % 4) / 4);
    const g = new Float64Array(th.length);
    for (let i = 0; i < 12; i++) {
      th.fill(i % 2 === 0 ? 1 : -1);
      kernel(th, X, W, rows, g);
    }
  }
  return kernel;
}

const warmed = new Set<string>();

/** The row's inputs v1..vd. */
function inputLines(d: number): string[] {
  return Array.from({ length: d }, (_, a) => `  const v${a + 1} = X[t * ${d} + ${a}];`);
}

/**
 * The source of one level's pass: θ entry i read as `th(i)`, the inner level's first column of R
 * at `off` (an expression), every name prefixed by `px`; `post` stores g entry i by `gOut(i)`, −H
 * entry i by `hOut(i)` and ends with `ret` (which may read the level's Q as `${px}Q`). `hOut`
 * null: the gradient alone (no Q, no log, no −H). `kept`: π and log π of the level read from the
 * logits kernel's state P, L (n×m) instead of computed from θ (the first pass of an M-step).
 */
function levelParts(K1: number, K2: number, d: number, outer: boolean, px: string, th: (i: number) => string, off: string, gOut: (i: number) => string, hOut: ((i: number) => string) | null, ret: string, kept = false): { pre: string[]; decl: string[]; body: string[]; post: string[] } {
  const m = outer ? K1 : K2;
  const q = d + 1;
  const p = (m - 1) * q;
  const k = K1 * K2;
  const J = m - 1;
  const pre: string[] = [];
  const decl: string[] = hOut === null ? [] : [`${px}Q = 0`];
  const body: string[] = [];
  const post: string[] = [];
  const v = (a: number): string => (a === 0 ? '1' : `v${a}`);
  if (!kept) {
    for (let i = 0; i < p; i++) pre.push(`const ${px}th${i} = ${th(i)};`);
    for (let j = 0; j < J; j++) {
      const terms = [`${px}th${j * q}`];
      for (let a = 1; a <= d; a++) terms.push(`${px}th${j * q + a} * v${a}`);
      body.push(`const ${px}z${j} = ${terms.join(' + ')};`);
    }
  }
  // the level's weights of row t
  const o = `t * ${k}`;
  for (let j = 0; j < m; j++) {
    body.push(outer ? `const ${px}w${j} = ${Array.from({ length: K2 }, (_, i2) => `R[${o} + ${j * K2 + i2}]`).join(' + ')};` : `const ${px}w${j} = R[${o} + ${off} + ${j}];`);
  }
  body.push(`const ${px}s = ${Array.from({ length: m }, (_, j) => `${px}w${j}`).join(' + ')};`);
  if (kept) {
    // π and log π of this level from the logits kernel's state (P, L: n×m): no exps, no logs;
    // Σ_j w_j log π_j with a zero weight against a −∞ log-weight contributing 0 (as the split kernel)
    for (let j = 0; j < J; j++) body.push(`const ${px}p${j} = P[t * ${m} + ${j}];`);
    for (let j = 0; j < m; j++) body.push(`if (${px}w${j} !== 0) ${px}Q += ${px}w${j} * L[t * ${m} + ${j}];`);
  } else if (m === 2) {
    // one exp: {e^(z − mx), e^(−mx)} = {1, e^(−|z|)}
    body.push(expSource(`${px}e`, `-Math.abs(${px}z0)`), `const ${px}sum = 1 + ${px}e;`, `const ${px}inv = 1 / ${px}sum;`, `const ${px}mx = ${px}z0 > 0 ? ${px}z0 : 0;`);
    body.push(`const ${px}p0 = ${px}z0 > 0 ? ${px}inv : ${px}e * ${px}inv;`);
  } else {
    body.push(maxOf(`${px}mx`, Array.from({ length: J }, (_, j) => `${px}z${j}`), '0'));
    for (let j = 0; j < J; j++) body.push(expSource(`${px}e${j}`, `${px}z${j} - ${px}mx`));
    body.push(expSource(`${px}e${J}`, `-${px}mx`));
    body.push(`const ${px}sum = ${Array.from({ length: m }, (_, j) => `${px}e${j}`).join(' + ')};`, `const ${px}inv = 1 / ${px}sum;`);
    for (let j = 0; j < J; j++) body.push(`const ${px}p${j} = ${px}e${j} * ${px}inv;`);
  }
  // Σ_j w_j (z_j − lse), z_(m−1) = 0, with the log of each row sum. The softmax core's log of a
  // product per block (rows summing to 1) is slower here: the outer level's pass took 2.4 → 4.9 ms
  // CPU at n = 1e5 with it (the branch on s ≠ 1 mispredicts on posterior rows).
  if (!kept && hOut !== null) {
    body.push(logSource(`${px}lg`, `${px}sum`, { positive: true }));
    body.push(`${px}Q += ${Array.from({ length: J }, (_, j) => `${px}w${j} * ${px}z${j}`).join(' + ')} - ${px}s * (${px}mx + ${px}lg);`);
  }
  for (let j = 0; j < J; j++) {
    body.push(`const ${px}c${j} = ${px}w${j} - ${px}s * ${px}p${j};`, `const ${px}sp${j} = ${px}s * ${px}p${j};`);
    for (let a = 0; a < q; a++) {
      decl.push(`${px}g${j}_${a} = 0`);
      body.push(a === 0 ? `${px}g${j}_0 += ${px}c${j};` : `${px}g${j}_${a} += ${px}c${j} * v${a};`);
      post.push(`${gOut(j * q + a)} = ${px}g${j}_${a};`);
    }
  }
  if (hOut !== null) {
    for (let a = 1; a <= d; a++) for (let b = 1; b <= a; b++) body.push(`const ${px}v${a}_${b} = v${a} * v${b};`);
    const vv = (a: number, b: number): string => (a === 0 && b === 0 ? '' : b === 0 ? ` * ${v(a)}` : ` * ${px}v${a}_${b}`);
    for (let j = 0; j < J; j++) {
      for (let l = 0; l <= j; l++) {
        body.push(j === l ? `const ${px}h${j}_${l} = ${px}sp${j} * (1 - ${px}p${l});` : `const ${px}h${j}_${l} = -${px}sp${j} * ${px}p${l};`);
        for (let a = 0; a < q; a++) {
          for (let b = 0; b <= a; b++) {
            const name = `${px}H${j}_${l}_${a}_${b}`;
            decl.push(`${name} = 0`);
            body.push(`${name} += ${px}h${j}_${l}${vv(a, b)};`);
            // entries ((j,a),(l,b)), ((j,b),(l,a)) and their transposes
            const cells = new Set<number>();
            for (const [r, c] of [[j * q + a, l * q + b], [j * q + b, l * q + a]]) {
              cells.add(r * p + c);
              cells.add(c * p + r);
            }
            for (const cell of cells) post.push(`${hOut(cell)} = ${name};`);
          }
        }
      }
    }
  }
  post.push(ret);
  return { pre, decl, body, post };
}
