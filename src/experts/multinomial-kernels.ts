/**
 * Generated one-pass kernels of the multinomial-logistic experts (P2, arXiv 2310.14188, math-spec
 * §4.1, §9.2), one expert at a time, for C classes (the last the reference, logit 0) and d inputs:
 *
 *   z_c = a_c + b_cᵀx (c < C−1),  log f(y | x) = z_y − lse(z),  p_c = e^{z_c − lse(z)},
 *
 * and with an expert weight w_t = W[t·k + i] (posteriors, or any real weights):
 *   density   log f(y_t | x_t) into out[t·k + i];
 *   gradient  Σ_t w_t (1[y_t = c] − p_tc) v_t,  v_t = (1, x_t);
 *   rows      the per-row terms of the gradient (BHHH, observed information);
 *   newton    Q = Σ_t w_t log f(y_t | x_t), its gradient and −∇²Q = Σ_t w_t (diag p − p pᵀ) ⊗ v vᵀ
 *             (the IRLS system of the expert M-step, math-spec §9.2).
 * The logits are written once (`logitLines`) and inlined in every kernel, and the class weights
 * W_tc = w_t·1[y_t = c] are never stored: the one-hot row comes from a C×(C−1) table (no branch on y).
 *
 * Why generated code: the same reason as family/softmax-kernels.ts (V8 keeps per-row values and
 * accumulators in registers only in unrolled loops), and one pass where the softmax core, run on the
 * class weights, took three (store the n×C weights, a probabilities pass, a Newton-system pass).
 * The arithmetic is the core's, operation for operation (see `logitLines`): the same bits, so every
 * fit keeps its numbers. (A table-driven inline log1p instead of the core's `Math.log` / `Math.log1p`
 * was tried: 7.5 against 10 ns per row in the density, but it moved the crawling over-specified
 * fits' end points at rounding level, e.g. k = 3 on the multinomial-softmax preset truth at n = 1e5
 * ended 0.003 lower after the 300 L-BFGS iterations of the finish.)
 */
import { compileKernel, maxOf, names, type KernelSource } from '../numeric/codegen.js';
import { EXP_SCOPE, expSource, LOG_BLOCK } from '../numeric/fastmath.js';

/** log f(y_t | x_t, expert i) into out[t·k + i], t < n; the expert's θ block starts at theta[o]. */
export type DensityKernel = (theta: Float64Array, o: number, X: Float64Array, y: Float64Array, n: number, k: number, i: number, out: Float64Array) => void;
/** Σ_t W[t·k+i] (1[y_t=c] − p_tc) v_t into g[go ..< go + (C−1)(d+1)] (assigned, not added). */
export type GradientKernel = (theta: Float64Array, o: number, X: Float64Array, y: Float64Array, n: number, W: Float64Array, k: number, i: number, g: Float64Array, go: number) => void;
/** The gradient's per-row terms into out[t·stride + go + j]. */
export type RowsKernel = (theta: Float64Array, o: number, X: Float64Array, y: Float64Array, n: number, W: Float64Array, k: number, i: number, out: Float64Array, stride: number, go: number) => void;
/** Q into the return value, ∇Q into g[0..q), −∇²Q into H (q×q, full, row-major); q = (C−1)(d+1). */
export type NewtonKernel = (theta: Float64Array, o: number, X: Float64Array, y: Float64Array, n: number, W: Float64Array, k: number, i: number, g: Float64Array, H: Float64Array) => number;

export interface MultinomialKernels {
  density: DensityKernel;
  gradient: GradientKernel;
  rows: RowsKernel;
  newton: NewtonKernel;
}

/** Largest number of scalar sums (gradient + lower Hessian) of an unrolled Newton kernel (as the softmax kernels). */
const MAX_ACCUMULATORS = 384;

/** Sums of the Newton kernel: (C−1)(d+1) gradient entries and the lower triangle of −∇²Q. */
function accumulators(C: number, d: number): number {
  const q = d + 1;
  return (C - 1) * q + ((C * (C - 1)) / 2) * ((q * (q + 1)) / 2);
}

/** The kernels for C classes and d inputs, compiled once per shape; null when too large to unroll (the caller's plain loops then). */
export function multinomialKernels(C: number, d: number): MultinomialKernels | null {
  if (C < 2 || C > 64 || (C - 1) * (d + 1) > 48 || accumulators(C, d) > MAX_ACCUMULATORS) return null;
  const kernels: MultinomialKernels = {
    density: compileKernel<DensityKernel>(`multinomial-density:${C}:${d}`, () => densitySource(C, d)),
    gradient: compileKernel<GradientKernel>(`multinomial-gradient:${C}:${d}`, () => gradientSource(C, d, false)),
    rows: compileKernel<RowsKernel>(`multinomial-rows:${C}:${d}`, () => gradientSource(C, d, true)),
    newton: compileKernel<NewtonKernel>(`multinomial-newton:${C}:${d}`, () => newtonSource(C, d)),
  };
  warmUp(C, d, kernels);
  return kernels;
}

const warmed = new Set<string>();
const WARM_ROWS = 33;

/**
 * Run the new kernels a dozen times on a few dummy rows (every class observed, logits of both
 * signs) before their first real call. Why (as gates/activation-kernels.ts): V8 allocates a
 * function's type feedback only after several calls, so a first call at n = 1e5 is compiled
 * on-stack inside the loop with no feedback for the code after it, and that code is then
 * deoptimised at the loop exit on every call (`--trace-deopt`: "insufficient type feedback").
 */
function warmUp(C: number, d: number, K: MultinomialKernels): void {
  const key = `${C}:${d}`;
  if (warmed.has(key)) return;
  warmed.add(key);
  const q = (C - 1) * (d + 1);
  const k = 2;
  const theta = Float64Array.from({ length: q }, (_, j) => (j % 2 === 0 ? 0.5 : -1.5));
  const X = Float64Array.from({ length: WARM_ROWS * d }, (_, j) => (j % 3) - 1);
  const y = Float64Array.from({ length: WARM_ROWS }, (_, t) => t % C);
  const W = new Float64Array(WARM_ROWS * k).fill(0.5);
  const out = new Float64Array(WARM_ROWS * k);
  const g = new Float64Array(q);
  const H = new Float64Array(q * q);
  const rows = new Float64Array(WARM_ROWS * q);
  for (let r = 0; r < 12; r++) {
    K.density(theta, 0, X, y, WARM_ROWS, k, r % k, out);
    K.gradient(theta, 0, X, y, WARM_ROWS, W, k, r % k, g, 0);
    K.rows(theta, 0, X, y, WARM_ROWS, W, k, r % k, rows, q, 0);
    K.newton(theta, 0, X, y, WARM_ROWS, W, k, r % k, g, H);
  }
}

/** One-hot rows of the class codes: ONEHOT[y·(C−1) + c] = 1[y = c], c < C−1 (the reference row is all 0). */
function oneHot(C: number): Float64Array {
  const J = C - 1;
  const t = new Float64Array(C * J);
  for (let c = 0; c < J; c++) t[c * J + c] = 1;
  return t;
}

function scope(C: number): Record<string, unknown> {
  return { ...EXP_SCOPE, ONEHOT: oneHot(C) };
}

/** θ of the expert block as constants before the loop: th{c}_{a} = theta[o + c(d+1) + a]. */
function thetaLines(C: number, d: number): string[] {
  const q = d + 1;
  const out: string[] = [];
  for (let c = 0; c < C - 1; c++) for (let a = 0; a < q; a++) out.push(`const th${c}_${a} = theta[o + ${c * q + a}];`);
  return out;
}

/**
 * The per-row logits and their normalisation (row t): v1..vd = x_t, the observed class's one-hot
 * entries h0..h(C−2), z0..z(C−2), and per `mode`:
 *  - 'density': `lf` = log f(y_t | x_t) = z_y − (mx + log Σ e^{z − mx});
 *  - 'probs':   p0..p(C−2) (no log);
 *  - 'newton':  p0..p(C−2), r_c = w·1[y = c], s = w, and the row's terms of Q kept as the core
 *               keeps them (`Q`, `prod`, `count`, `corr`: Σ R z − s·mx, the row sums' logs per block
 *               of LOG_BLOCK rows, the (s − 1)·log(sum) correction).
 * The one definition of the expert's logits for every kernel. Every operation and its order are
 * those of the softmax core's paths on the class weights W_tc = w_t·1[y_t = c] (multinomial-logistic.ts
 * before these kernels: LinearSoftmaxCore.probs, its probabilities / fused / Newton-system kernels,
 * and the expert's own log-density loop), so the kernels give the same bits: a zero class weight
 * enters as w·0 = 0 and s = w + 0 + … = w exactly, and 0·z_c = ±0 leaves z_y unchanged.
 */
function logitLines(C: number, d: number, mode: 'density' | 'probs' | 'newton'): string[] {
  const J = C - 1;
  const row: string[] = [];
  for (let a = 1; a <= d; a++) row.push(`const v${a} = X[t * ${d} + ${a - 1}];`);
  for (let c = 0; c < J; c++) {
    const terms = [`th${c}_0`];
    for (let a = 1; a <= d; a++) terms.push(`th${c}_${a} * v${a}`);
    row.push(`const z${c} = ${terms.join(' + ')};`);
  }
  if (C === 2) row.push('const h0 = 1 - y[t];');
  else {
    row.push(`const yo = (y[t] | 0) * ${J};`);
    for (let c = 0; c < J; c++) row.push(`const h${c} = ONEHOT[yo + ${c}];`);
  }
  if (mode === 'newton') {
    row.push('const w = W[t * k + i];', 'const s = w;');
    for (let c = 0; c < J; c++) row.push(`const r${c} = w * h${c};`);
  }
  if (C === 2 && d === 1 && mode !== 'probs') {
    // two classes, one input: one logit and one exp (the core's hand-written two-class path)
    row.push(expSource('e', '-Math.abs(z0)'));
    if (mode === 'density') {
      row.push('const lf = h0 * z0 - ((z0 > 0 ? z0 : 0) + Math.log1p(e));');
      return row;
    }
    row.push('const p0 = z0 > 0 ? 1 / (1 + e) : e / (1 + e);');
    row.push('Q += r0 * z0 - s * (z0 > 0 ? z0 : 0);', 'const sum = 1 + e;', 'prod *= sum;', CORRECTION, BLOCK);
    return row;
  }
  row.push(maxOf('mx', names('z', J), '0'));
  for (let c = 0; c < J; c++) row.push(expSource(`e${c}`, `z${c} - mx`));
  row.push(expSource(`e${J}`, '-mx'));
  row.push(`const sum = ${names('e', C).join(' + ')};`);
  if (mode === 'density') {
    row.push(`const lf = ${names('h', J).map((h, c) => `${h} * z${c}`).join(' + ')} - (mx + Math.log(sum));`);
    return row;
  }
  row.push('const inv = 1 / sum;');
  for (let c = 0; c < J; c++) row.push(`const p${c} = e${c} * inv;`);
  if (mode === 'newton') row.push(`Q += ${names('r', J).map((r, c) => `${r} * z${c}`).join(' + ')} - s * mx;`, 'prod *= sum;', CORRECTION, BLOCK);
  return row;
}

/** (s − 1)·log(sum) of a row whose weight s is not 1: LinearSoftmaxCore's `weightCorrection`, the same operations. */
const CORRECTION = 'if (s !== 1) { const ds = s - 1; corr += ds > -1e-14 && ds < 1e-14 ? (2 * ds * (sum - 1)) / (sum + 1) : ds * Math.log(sum); }';
/** Σ_t log(sum_t) as the log of the product of LOG_BLOCK rows (the core's blocks). */
const BLOCK = `if (++count === ${LOG_BLOCK}) { Q -= Math.log(prod); prod = 1; count = 0; }`;

const PARAMS = ['theta', 'o', 'X', 'y', 'n', 'W', 'k', 'i'];

function densitySource(C: number, d: number): KernelSource {
  const body = [...thetaLines(C, d), 'for (let t = 0; t < n; t++) {', ...logitLines(C, d, 'density').map((l) => `  ${l}`), '  out[t * k + i] = lf;', '}'];
  return { name: 'multinomialDensity', params: ['theta', 'o', 'X', 'y', 'n', 'k', 'i', 'out'], body, scope: scope(C) };
}

/** The gradient (accumulated, `rows` false) or its per-row terms (`rows` true). */
function gradientSource(C: number, d: number, rows: boolean): KernelSource {
  const J = C - 1;
  const q = d + 1;
  const decl: string[] = [];
  const row: string[] = ['const w = W[t * k + i];'];
  const out: string[] = [];
  if (rows) row.push('const ro = t * stride + go;');
  for (let c = 0; c < J; c++) {
    row.push(`const c${c} = w * h${c} - w * p${c};`); // W_tc − s_t p_tc, s_t = w
    for (let a = 0; a < q; a++) {
      const term = a === 0 ? `c${c}` : `c${c} * v${a}`;
      if (rows) {
        row.push(`out[ro + ${c * q + a}] = ${term};`);
      } else {
        decl.push(`g${c}_${a} = 0`);
        row.push(`g${c}_${a} += ${term};`);
        out.push(`g[go + ${c * q + a}] = g${c}_${a};`);
      }
    }
  }
  const body = [
    ...thetaLines(C, d),
    ...(rows ? [] : [`let ${decl.join(', ')};`]),
    'for (let t = 0; t < n; t++) {',
    ...[...logitLines(C, d, 'probs'), ...row].map((l) => `  ${l}`),
    '}',
    ...out,
  ];
  return rows
    ? { name: 'multinomialRows', params: [...PARAMS, 'out', 'stride', 'go'], body, scope: scope(C) }
    : { name: 'multinomialGradient', params: [...PARAMS, 'g', 'go'], body, scope: scope(C) };
}

function newtonSource(C: number, d: number): KernelSource {
  const J = C - 1;
  const q = d + 1;
  const p = J * q;
  const decl: string[] = ['Q = 0', 'prod = 1', 'count = 0', 'corr = 0'];
  const row: string[] = [];
  const out: string[] = [];
  for (let c = 0; c < J; c++) {
    row.push(`const c${c} = r${c} - s * p${c};`, `const wp${c} = s * p${c};`);
    for (let a = 0; a < q; a++) {
      decl.push(`g${c}_${a} = 0`);
      row.push(a === 0 ? `g${c}_0 += c${c};` : `g${c}_${a} += c${c} * v${a};`);
      out.push(`g[${c * q + a}] = g${c}_${a};`);
    }
  }
  // −∇²Q block (c, l), l ≤ c: Σ w p_c (δ_cl − p_l) v_a v_b, entries a ≥ b (v_a v_b symmetric)
  for (let a = 1; a <= d; a++) for (let b = 1; b <= a; b++) row.push(`const v${a}_${b} = v${a} * v${b};`);
  for (let c = 0; c < J; c++) {
    for (let l = 0; l <= c; l++) {
      row.push(c === l ? `const u${c}_${l} = wp${c} * (1 - p${l});` : `const u${c}_${l} = -wp${c} * p${l};`);
      for (let a = 0; a < q; a++) {
        for (let b = 0; b <= a; b++) {
          const name = `m${c}_${l}_${a}_${b}`;
          decl.push(`${name} = 0`);
          const prod = a === 0 ? '' : b === 0 ? `v${a}` : `v${a}_${b}`;
          row.push(prod === '' ? `${name} += u${c}_${l};` : `${name} += u${c}_${l} * ${prod};`);
          const cells = new Set<number>();
          for (const [r, s] of [[c * q + a, l * q + b], [c * q + b, l * q + a]]) {
            cells.add(r * p + s);
            cells.add(s * p + r);
          }
          for (const cell of cells) out.push(`H[${cell}] = ${name};`);
        }
      }
    }
  }
  const body = [
    ...thetaLines(C, d),
    `let ${decl.join(', ')};`,
    'for (let t = 0; t < n; t++) {',
    ...[...logitLines(C, d, 'newton'), ...row].map((l) => `  ${l}`),
    '}',
    ...out,
    'return Q - Math.log(prod) - corr;',
  ];
  return { name: 'multinomialNewton', params: [...PARAMS, 'g', 'H'], body, scope: scope(C) };
}
