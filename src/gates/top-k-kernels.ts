/**
 * The per-row pass of the top-K gate (paper P1, math-spec §3.1), compiled unrolled for each
 * (k, d, K) (see numeric/codegen.ts for why): the selection of the K largest v = β₁ᵀx (ties to the
 * lower index; the bias does not enter the selection), the logits z = v + β₀ on the selection,
 * log π into L (−Infinity off the selection), π into P and, with weights W, s_t = Σ_{selected} W_ti
 * into S and Q = Σ_t Σ_i W_ti log π_ti. In strict mode a weight on a non-selected expert makes
 * Q = −Infinity; otherwise such weights are skipped.
 *
 * Measured on the gates bench (k = 3, K = 2, n = 1e5): the pass took 5 ms with loops over k.
 */
import { compileKernel, maxOf, names, type KernelSource } from '../numeric/codegen.js';
import { EXP_SCOPE, expSource } from '../numeric/fastmath.js';

export type TopKKernel = (theta: Float64Array, X: Float64Array, n: number, W: Float64Array | null, L: Float64Array, P: Float64Array, S: Float64Array) => number;

/** Largest k unrolled (the selection costs k² comparisons per row) and largest (k−1)(d+1). */
const MAX_K = 8;
const MAX_PARAMS = 48;

export function topKKernel(k: number, d: number, K: number, strict: boolean): TopKKernel | null {
  if (k < 2 || k > MAX_K || (k - 1) * (d + 1) > MAX_PARAMS) return null;
  return compileKernel<TopKKernel>(`topk:${k}:${d}:${K}:${strict}`, () => topKSource(k, d, K, strict));
}

function topKSource(k: number, d: number, K: number, strict: boolean): KernelSource {
  const q = d + 1;
  const pre: string[] = [];
  for (let j = 0; j < k - 1; j++) for (let a = 0; a < q; a++) pre.push(`const th${j}_${a} = theta[${j * q + a}];`);
  const row: string[] = [`const o = t * ${k};`];
  for (let a = 1; a <= d; a++) row.push(`const x${a} = X[t * ${d} + ${a - 1}];`);
  for (let j = 0; j < k - 1; j++) row.push(`const v${j} = ${Array.from({ length: d }, (_, u) => `th${j}_${u + 1} * x${u + 1}`).join(' + ')};`);
  row.push(`const v${k - 1} = 0;`);
  // rank_i = #{j : v_j > v_i} + #{j < i : v_j = v_i}; selected iff rank_i < K
  for (let i = 0; i < k; i++) {
    const terms: string[] = [];
    for (let j = 0; j < k; j++) if (j !== i) terms.push(`(v${j} ${j < i ? '>=' : '>'} v${i} ? 1 : 0)`);
    row.push(`const sel${i} = ${terms.length ? terms.join(' + ') : '0'} < ${K};`);
    row.push(`const z${i} = sel${i} ? v${i}${i < k - 1 ? ` + th${i}_0` : ''} : -Infinity;`);
  }
  row.push(maxOf('mx', names('z', k)));
  for (let i = 0; i < k; i++) row.push(expSource(`e${i}`, `z${i} - mx`));
  row.push(`const sum = ${names('e', k).join(' + ')};`, 'const inv = 1 / sum;', 'const lse = mx + Math.log(sum);');
  for (let i = 0; i < k; i++) row.push(`P[o + ${i}] = e${i} * inv;`, `const l${i} = z${i} - lse;`, `L[o + ${i}] = l${i};`);
  row.push('if (W !== null) {', '  let s = 0;');
  for (let i = 0; i < k; i++) {
    row.push(`  const w${i} = W[o + ${i}];`);
    row.push(`  if (w${i} !== 0) { if (sel${i}) { Q += w${i} * l${i}; s += w${i}; }${strict ? ' else return -Infinity;' : ''} }`);
  }
  row.push('  S[t] = s;', '}');
  return {
    name: 'topKPass',
    params: ['theta', 'X', 'n', 'W', 'L', 'P', 'S'],
    body: [...pre, 'let Q = 0;', 'for (let t = 0; t < n; t++) {', ...row.map((l) => `  ${l}`), '}', 'return Q;'],
    scope: { ...EXP_SCOPE },
  };
}
