/**
 * Generated accumulation kernels for the Newton system of a linear softmax gate (math-spec §8.1):
 *
 *   g_(j,a)       = Σ_t c_tj v_ta,            c_tj = R_tj − s_t π_tj,
 *   −H_(j,a),(l,b) = Σ_t w_tjl v_ta v_tb,     w_tjl = s_t π_tj (δ_jl − π_tl),
 *
 * for the free classes j, l < k−1 and v_t = (1, f_t) ∈ R^{m+1}, given the probabilities π (n×k)
 * and the weights R (s_t = Σ_i R_ti).
 *
 * Why generated code: V8 keeps scalar accumulators in registers only when the loops over
 * classes and features are unrolled; with nested loops over tiny dimensions the same sums cost
 * 4–6× more (measured for k = 3, m = 2 at n = 1e5: 0.7 ms unrolled, 4.1 ms with nested loops,
 * 3.7 ms blocked column-wise). So for each small (k, m) the fully unrolled loop is compiled
 * once (numeric/codegen.ts). Larger shapes use the generic column-wise path of the caller.
 */
import { compileKernel, maxOf, names, type KernelSource } from '../numeric/codegen.js';
import { EXP_SCOPE, expSource, LOG_BLOCK } from '../numeric/fastmath.js';

/** Kernel: fills g (length (k−1)(m+1)) and the full symmetric −H (p×p, row-major). */
export type NewtonSystemKernel = (P: Float64Array, R: Float64Array, F: Float64Array, n: number, g: Float64Array, H: Float64Array) => void;

/**
 * Largest number of sums unrolled. The accumulators spill to the stack long before this, and the
 * unrolled kernel still wins (k = 4, d = 5, 144 sums: EM fit 1030 → 650 ms at n = 1e5; k = 5, d = 8,
 * 486 sums: 2.0 → 1.65 s), but a very long kernel is not optimised well (k = 8, d = 6, 833 sums:
 * 5.7 s column-wise, 17.9 s unrolled).
 */
export const MAX_ACCUMULATORS = 384;

/** Number of scalar sums of the kernel for k classes and m features. */
export function accumulatorCount(k: number, m: number): number {
  const q = m + 1;
  return (k - 1) * q + ((k * (k - 1)) / 2) * ((q * (q + 1)) / 2);
}

/** The unrolled kernel for (k, m), or null when the shape is too large to unroll. */
export function newtonSystemKernel(k: number, m: number): NewtonSystemKernel | null {
  if (accumulatorCount(k, m) > MAX_ACCUMULATORS || k < 2) return null;
  return compileKernel<NewtonSystemKernel>(`softmax-newton:${k}:${m}`, () => newtonSource(k, m));
}

function newtonSource(k: number, m: number): KernelSource {
  const { decl, body, out } = newtonParts(k, m, false);
  const src = [
    `let ${decl.join(', ')};`,
    `for (let t = 0; t < n; t++) {`,
    ...body.map((l) => `  ${l}`),
    `}`,
    ...out,
  ];
  return { name: 'newtonSystem', params: ['P', 'R', 'F', 'n', 'g', 'H'], body: src };
}

/**
 * The accumulation of g and −H: declarations, per-row body (row t; `o`, `s`, `p_j` and `v_a`
 * defined here unless `inline`, where the fused kernel has already defined them) and the stores.
 * Also used by the fused E-step (estimate/e-step-kernel.ts).
 */
export function newtonParts(k: number, m: number, inline: boolean): { decl: string[]; body: string[]; out: string[] } {
  const q = m + 1;
  const p = (k - 1) * q;
  const J = k - 1;
  const decl: string[] = [];
  const body: string[] = [];
  const out: string[] = [];
  // v_a: a = 0 is the intercept (1); vv(a, b) for a ≥ b
  const v = (a: number): string => (a === 0 ? '1' : `v${a}`);
  const vv = (a: number, b: number): string => (a === 0 && b === 0 ? '1' : b === 0 ? `v${a}` : `v${a}_${b}`);
  if (!inline) {
    body.push(`const o = t * ${k};`, `const s = ${Array.from({ length: k }, (_, i) => `R[o + ${i}]`).join(' + ')};`);
    for (let j = 0; j < J; j++) body.push(`const p${j} = P[o + ${j}];`);
    for (let a = 1; a <= m; a++) body.push(`const v${a} = F[t * ${m} + ${a - 1}];`);
  }
  for (let a = 1; a <= m; a++) for (let b = 1; b <= a; b++) body.push(`const v${a}_${b} = v${a} * v${b};`);
  for (let j = 0; j < J; j++) body.push(`const c${j} = R[o + ${j}] - s * p${j};`);
  for (let j = 0; j < J; j++) {
    body.push(`const sp${j} = s * p${j};`);
    for (let l = 0; l <= j; l++) body.push(j === l ? `const w${j}_${l} = sp${j} * (1 - p${l});` : `const w${j}_${l} = -sp${j} * p${l};`);
  }
  // gradient accumulators
  for (let j = 0; j < J; j++) {
    for (let a = 0; a < q; a++) {
      decl.push(`g${j}_${a} = 0`);
      body.push(a === 0 ? `g${j}_0 += c${j};` : `g${j}_${a} += c${j} * ${v(a)};`);
      out.push(`g[${j * q + a}] = g${j}_${a};`);
    }
  }
  // Hessian accumulators: block (j, l), l ≤ j, entries (a, b) with a ≥ b (v_a v_b is symmetric)
  for (let j = 0; j < J; j++) {
    for (let l = 0; l <= j; l++) {
      for (let a = 0; a < q; a++) {
        for (let b = 0; b <= a; b++) {
          const name = `h${j}_${l}_${a}_${b}`;
          decl.push(`${name} = 0`);
          const prod = vv(a, b);
          body.push(prod === '1' ? `${name} += w${j}_${l};` : `${name} += w${j}_${l} * ${prod};`);
          // entries H[(j,a),(l,b)], H[(j,b),(l,a)] and their transposes
          const cells = new Set<string>();
          for (const [r, c] of [[j * q + a, l * q + b], [j * q + b, l * q + a]]) {
            cells.add(`${r * p + c}`);
            cells.add(`${c * p + r}`);
          }
          for (const cell of cells) out.push(`H[${cell}] = ${name};`);
        }
      }
    }
  }
  return { decl, body, out };
}

/**
 * Kernel: one pass at θ for the gate M-step's Newton iteration — Q = Σ R log π as the
 * probabilities kernel computes it, and g, −H as the Newton-system kernel does, from π computed
 * in the row instead of stored and read back (the same operations in the same order: the same
 * bits). Writes no per-row output. Returns Q.
 */
export type FusedNewtonKernel = (theta: Float64Array, F: Float64Array, R: Float64Array, n: number, g: Float64Array, H: Float64Array) => number;

/**
 * The fused kernel for (k, m), or null when either part is too large to unroll. For k = 2, m = 1
 * it follows the hand-written two-class path of LinearSoftmaxCore.probs (one exp per row).
 */
export function fusedNewtonKernel(k: number, m: number): FusedNewtonKernel | null {
  if (k < 2 || (k - 1) * (m + 1) > MAX_UNROLLED_PARAMS || accumulatorCount(k, m) > MAX_ACCUMULATORS) return null;
  return compileKernel<FusedNewtonKernel>(`softmax-fused-newton:${k}:${m}`, () => fusedSource(k, m));
}

/** (s − 1)·log(sum) of a row whose weight s is not 1, inline: LinearSoftmaxCore's `weightCorrection`, the same operations. */
const CORRECTION = 'if (s !== 1) { const ds = s - 1; corr += ds > -1e-14 && ds < 1e-14 ? (2 * ds * (sum - 1)) / (sum + 1) : ds * Math.log(sum); }';

function fusedSource(k: number, m: number): KernelSource {
  const q = m + 1;
  const J = k - 1;
  const pre: string[] = [];
  for (let j = 0; j < J; j++) for (let a = 0; a < q; a++) pre.push(`const th${j}_${a} = theta[${j * q + a}];`);
  const row: string[] = [`const o = t * ${k};`];
  for (let a = 1; a <= m; a++) row.push(`const v${a} = F[t * ${m} + ${a - 1}];`);
  if (k === 2 && m === 1) {
    // LinearSoftmaxCore.probs, two classes and a scalar feature: one logit, one exp
    row.push('const z = th0_0 + th0_1 * v1;', 'const r0 = R[o];', 'const r1 = R[o + 1];');
    row.push(expSource('e', '-Math.abs(z)'));
    row.push('const p0 = z > 0 ? 1 / (1 + e) : e / (1 + e);', 'const s = r0 + r1;');
    row.push('Q += r0 * z - s * (z > 0 ? z : 0);', 'const sum = 1 + e;', 'prod *= sum;', CORRECTION);
  } else {
    for (let j = 0; j < J; j++) {
      const terms = [`th${j}_0`];
      for (let a = 1; a <= m; a++) terms.push(`th${j}_${a} * v${a}`);
      row.push(`const z${j} = ${terms.join(' + ')};`);
    }
    row.push(maxOf('mx', names('z', J), '0'));
    const rs: string[] = [];
    const rz: string[] = [];
    for (let i = 0; i < k; i++) {
      row.push(`const r${i} = R[o + ${i}];`);
      rs.push(`r${i}`);
      if (i < J) rz.push(`r${i} * z${i}`);
    }
    row.push(`const s = ${rs.join(' + ')};`);
    for (let j = 0; j < J; j++) row.push(expSource(`e${j}`, `z${j} - mx`));
    row.push(expSource(`e${J}`, '-mx'));
    row.push(`const sum = ${names('e', k).join(' + ')};`);
    row.push('const inv = 1 / sum;');
    for (let j = 0; j < J; j++) row.push(`const p${j} = e${j} * inv;`);
    row.push(`Q += ${rz.join(' + ')} - s * mx;`, 'prod *= sum;', CORRECTION);
  }
  row.push(`if (++count === ${LOG_BLOCK}) { Q -= Math.log(prod); prod = 1; count = 0; }`);
  const { decl, body, out } = newtonParts(k, m, true);
  const src = [
    ...pre,
    `let Q = 0, prod = 1, count = 0, corr = 0, ${decl.join(', ')};`,
    'for (let t = 0; t < n; t++) {',
    ...[...row, ...body].map((l) => `  ${l}`),
    '}',
    ...out,
    'return Q - Math.log(prod) - corr;',
  ];
  return { name: 'fusedNewton', params: ['theta', 'F', 'R', 'n', 'g', 'H'], body: src, scope: { ...EXP_SCOPE } };
}

/**
 * Kernel: π (n×k) into P, s_t = Σ_i R_ti into S; returns Q = Σ_t Σ_i R_ti log π_ti for the linear
 * logits z_tj = θ_j0 + Σ_a θ_ja f_ta (j < k−1, z_t,k−1 = 0). The logs of the row sums are taken per
 * block of LOG_BLOCK rows as the log of their product, rows with s_t ≠ 1 corrected by `correction`.
 */
export type ProbabilitiesKernel = (theta: Float64Array, F: Float64Array, R: Float64Array, n: number, P: Float64Array, S: Float64Array) => number;

/** Largest (k−1)(m+1) for which the probabilities loop is unrolled. */
export const MAX_UNROLLED_PARAMS = 48;

/**
 * The unrolled probabilities kernel for (k, m), or null when too large. `correction(s, sum)` is
 * the (s − 1)·log(sum) term of a row whose weight s is not 1.
 */
export function probabilitiesKernel(k: number, m: number, correction: (s: number, sum: number) => number, withObjective = true, store = true): ProbabilitiesKernel | null {
  if (k < 2 || (k - 1) * (m + 1) > MAX_UNROLLED_PARAMS) return null;
  return compileKernel<ProbabilitiesKernel>(`softmax-probs:${k}:${m}:${withObjective}:${store}`, () => probsSource(k, m, correction, withObjective, store));
}

/**
 * Without the objective the kernel returns 0 and takes no logs (gradients need only π and s);
 * without `store` it writes neither π nor s and only returns Q (a line-search trial whose Newton
 * system is not needed).
 */
function probsSource(k: number, m: number, correction: (s: number, sum: number) => number, withObjective: boolean, store = true): KernelSource {
  const q = m + 1;
  const J = k - 1;
  const lines: string[] = [];
  for (let j = 0; j < J; j++) for (let a = 0; a < q; a++) lines.push(`const th${j}_${a} = theta[${j * q + a}];`);
  lines.push('let Q = 0, prod = 1, count = 0, corr = 0;');
  lines.push('for (let t = 0; t < n; t++) {');
  const body: string[] = [];
  body.push(`const o = t * ${k};`);
  for (let a = 1; a <= m; a++) body.push(`const f${a} = F[t * ${m} + ${a - 1}];`);
  for (let j = 0; j < J; j++) {
    const terms = [`th${j}_0`];
    for (let a = 1; a <= m; a++) terms.push(`th${j}_${a} * f${a}`);
    body.push(`const z${j} = ${terms.join(' + ')};`);
  }
  // max over the logits, the reference logit 0 included
  body.push(maxOf('mx', names('z', J), '0'));
  const rs: string[] = [];
  const rz: string[] = [];
  for (let i = 0; i < k; i++) {
    body.push(`const r${i} = R[o + ${i}];`);
    rs.push(`r${i}`);
    if (i < J) rz.push(`r${i} * z${i}`);
  }
  body.push(`const s = ${rs.join(' + ')};`);
  for (let j = 0; j < J; j++) body.push(expSource(`e${j}`, `z${j} - mx`));
  body.push(expSource(`e${J}`, '-mx'));
  body.push(`const sum = ${names('e', k).join(' + ')};`);
  body.push('const inv = 1 / sum;');
  if (store) {
    for (let i = 0; i < k; i++) body.push(`P[o + ${i}] = e${i} * inv;`);
    body.push('S[t] = s;');
  }
  if (withObjective) {
    body.push(`Q += ${rz.join(' + ')} - s * mx;`);
    body.push('prod *= sum;');
    body.push('if (s !== 1) corr += correction(s, sum);');
    body.push(`if (++count === ${LOG_BLOCK}) { Q -= Math.log(prod); prod = 1; count = 0; }`);
  }
  lines.push(...body.map((l) => `  ${l}`));
  lines.push('}');
  lines.push(withObjective ? 'return Q - Math.log(prod) - corr;' : 'return 0;');
  return { name: 'probabilities', params: ['theta', 'F', 'R', 'n', 'P', 'S'], body: lines, scope: { ...EXP_SCOPE, correction } };
}

/** Kernel: g_(j,a) = Σ_t (W_tj − π_tj Σ_i W_ti) v_ta for arbitrary real W, given π (n×k). */
export type GradientKernel = (P: Float64Array, W: Float64Array, F: Float64Array, n: number, g: Float64Array) => void;

/** The unrolled gradient kernel for (k, m), or null when too large. */
export function gradientKernel(k: number, m: number): GradientKernel | null {
  const q = m + 1;
  if (k < 2 || (k - 1) * q > MAX_ACCUMULATORS) return null;
  return compileKernel<GradientKernel>(`softmax-gradient:${k}:${m}`, (): KernelSource => {
    const decl: string[] = [];
    const out: string[] = [];
    const body = [`const o = t * ${k};`, `const s = ${Array.from({ length: k }, (_, i) => `W[o + ${i}]`).join(' + ')};`];
    for (let a = 1; a <= m; a++) body.push(`const v${a} = F[t * ${m} + ${a - 1}];`);
    for (let j = 0; j < k - 1; j++) {
      body.push(`const c${j} = W[o + ${j}] - s * P[o + ${j}];`);
      for (let a = 0; a < q; a++) {
        decl.push(`g${j}_${a} = 0`);
        body.push(a === 0 ? `g${j}_0 += c${j};` : `g${j}_${a} += c${j} * v${a};`);
        out.push(`g[${j * q + a}] = g${j}_${a};`);
      }
    }
    return { name: 'gradient', params: ['P', 'W', 'F', 'n', 'g'], body: [`let ${decl.join(', ')};`, 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}', ...out] };
  });
}

/** Kernel: linear logits z_tj = θ_j0 + Σ_a θ_ja f_ta (j < k−1) and z_t,k−1 = 0 into out (n×k), one pass. */
export type LogitsKernel = (theta: Float64Array, F: Float64Array, n: number, out: Float64Array) => void;

/** The unrolled logits kernel for (k, m), or null when too large. */
export function logitsKernel(k: number, m: number): LogitsKernel | null {
  const q = m + 1;
  if (k < 2 || (k - 1) * q > MAX_UNROLLED_PARAMS) return null;
  return compileKernel<LogitsKernel>(`softmax-logits:${k}:${m}`, (): KernelSource => {
    const pre: string[] = [];
    const body = [`const o = t * ${k};`];
    for (let a = 1; a <= m; a++) body.push(`const f${a} = F[t * ${m} + ${a - 1}];`);
    for (let j = 0; j < k - 1; j++) {
      for (let a = 0; a < q; a++) pre.push(`const th${j}_${a} = theta[${j * q + a}];`);
      const terms = [`th${j}_0`, ...Array.from({ length: m }, (_, u) => `th${j}_${u + 1} * f${u + 1}`)];
      body.push(`out[o + ${j}] = ${terms.join(' + ')};`);
    }
    body.push(`out[o + ${k - 1}] = 0;`);
    return { name: 'logits', params: ['theta', 'F', 'n', 'out'], body: [...pre, 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}'] };
  });
}
