/**
 * The fused least-squares kernels of lse-kernels.ts (softmax gate × regression experts without an
 * output weight; P3, math-spec §5.1, §9.3) compiled per shape (k, d, activation) with every inner
 * loop unrolled (numeric/codegen.ts): θ in locals, the per-row π, σ, σ′, σ″, w and M in locals,
 * the Σ_t M_t u_a u_c and Σ_t e_t w u_a moments in local accumulators, exp and Φ/φ inlined
 * (expSource, phiSource). The value pass evaluates σ only (GELU: Φ without φ).
 *
 * Same operations in the same order as the loop kernels (lse-kernels.ts), hence the same bits:
 * the solvers follow the same path (test/estimate/lse-kernels.test.ts checks equality).
 * Why: the loop kernels cost 9.3 ms (value) and 18.6 ms (Hessian) a pass at n = 5e4, k = 3, GELU
 * (CPU, loaded machine), several times the arithmetic; a Levenberg–Marquardt fit of an
 * over-specified model takes one value pass per step and one curvature pass per accepted step.
 */
import { compileKernel, type KernelSource } from '../numeric/codegen.js';
import { EXP_SCOPE, expSource } from '../numeric/fastmath.js';
import { PHI_SCOPE, phiSource } from '../numeric/special.js';
import { GELU, LINEAR, RELU, SIGMOID, TANH } from '../family/activations.js';

/** SSE(θ) over the rows (θ finite). */
export type UnrolledSSE = (theta: Float64Array, X: Float64Array, y: Float64Array, n: number) => number;
/**
 * S(θ), with the moment accumulators written to acc (nMono × nTri, lse-kernels.ts layout) and
 * accB (K × q); exact: the Hessian's second-order term.
 */
export type UnrolledCurvature = (theta: Float64Array, X: Float64Array, y: Float64Array, n: number, acc: Float64Array, accB: Float64Array) => number;

/** Shapes up to this many moment accumulators (nMono·nTri) are unrolled; larger ones run the loop kernels. */
const MAX_ACCUMULATORS = 200;

/** Whether the shape (k experts, d features) is unrolled. */
export function unrolledShape(k: number, d: number): boolean {
  const K = 2 * k - 1;
  const q = d + 1;
  return k <= 6 && d <= 4 && ((q * (q + 1)) / 2) * ((K * (K + 1)) / 2) <= MAX_ACCUMULATORS;
}

/** Source of σ (and σ′, σ″ when `derivatives`) of the pre-activation `v` into h, d1, d2 (activations.ts formulas). */
function activationSource(code: number, v: string, h: string, d1: string, d2: string, derivatives: boolean): string {
  switch (code) {
    case LINEAR:
      return derivatives ? `const ${h} = ${v}; const ${d1} = 1; const ${d2} = 0;` : `const ${h} = ${v};`;
    case SIGMOID: {
      const e = `${h}_e`;
      const base = `${expSource(e, `-Math.abs(${v})`)} const ${h} = ${v} >= 0 ? 1 / (1 + ${e}) : ${e} / (1 + ${e});`;
      return derivatives ? `${base} const ${d1} = ${h} * (1 - ${h}); const ${d2} = ${d1} * (1 - 2 * ${h});` : base;
    }
    case TANH:
      return derivatives ? `const ${h} = Math.tanh(${v}); const ${d1} = 1 - ${h} * ${h}; const ${d2} = -2 * ${h} * ${d1};` : `const ${h} = Math.tanh(${v});`;
    case GELU: {
      const P = `${h}_P`;
      const p = `${h}_p`;
      if (!derivatives) return `${phiSource(P, null, v)} const ${h} = ${v} * ${P};`;
      return `${phiSource(P, p, v)} const ${h} = ${v} * ${P}; const ${d1} = ${P} + ${v} * ${p}; const ${d2} = ${p} * (2 - ${v} * ${v});`;
    }
    case RELU:
      return derivatives ? `const ${h} = ${v} > 0 ? ${v} : 0; const ${d1} = ${v} > 0 ? 1 : 0; const ${d2} = 0;` : `const ${h} = ${v} > 0 ? ${v} : 0;`;
    default:
      throw new Error(`unrolled LSE kernels: unknown activation code ${code}`);
  }
}

/** Body lines: θ into locals (gate th_j_a, expert et_i_a). */
function thetaLocals(k: number, d: number): string[] {
  const q = d + 1;
  const pG = (k - 1) * q;
  const out: string[] = [];
  for (let j = 0; j < k - 1; j++) for (let a = 0; a < q; a++) out.push(`const th${j}_${a} = theta[${j * q + a}];`);
  for (let i = 0; i < k; i++) for (let a = 0; a < q; a++) out.push(`const et${i}_${a} = theta[${pG + i * q + a}];`);
  return out;
}

/**
 * Body lines of one row t: x_a, the softmax π_j (reference last, as lse-kernels.ts `row`), each
 * expert's σ (σ′, σ″) and f = Σ πᵢ σᵢ, then e = y_t − f and the compensated SSE update.
 */
function rowSource(k: number, d: number, code: number, derivatives: boolean): string[] {
  const out: string[] = [];
  for (let a = 0; a < d; a++) out.push(`const x${a} = X[t * ${d} + ${a}];`);
  out.push('let mx = 0;');
  for (let j = 0; j < k - 1; j++) {
    let z = `th${j}_0`;
    for (let a = 0; a < d; a++) z += ` + th${j}_${a + 1} * x${a}`;
    out.push(`const z${j} = ${z};`, `if (z${j} > mx) mx = z${j};`);
  }
  out.push('let sum = 0;');
  for (let j = 0; j < k; j++) out.push(expSource(`ez${j}`, j < k - 1 ? `z${j} - mx` : '0 - mx'), `sum += ez${j};`);
  out.push('const inv = 1 / sum;', 'let f = 0;');
  for (let i = 0; i < k; i++) {
    let v = `et${i}_0`;
    for (let a = 0; a < d; a++) v += ` + et${i}_${a + 1} * x${a}`;
    out.push(`const pi${i} = ez${i} * inv;`, `const v${i} = ${v};`, activationSource(code, `v${i}`, `h${i}`, `s${i}`, `c${i}`, derivatives), `f += pi${i} * h${i};`);
  }
  out.push('const e = y[t] - f;', 'const term = e * e - comp;', 'const next = sse + term;', 'comp = next - sse - term;', 'sse = next;');
  return out;
}

/** The compiled value pass for the shape. */
export function unrolledSSE(k: number, d: number, code: number): UnrolledSSE {
  return compileKernel<UnrolledSSE>(`lse-sse:${k}:${d}:${code}`, (): KernelSource => ({
    name: 'lseSSE',
    params: ['theta', 'X', 'y', 'n'],
    body: [...thetaLocals(k, d), 'let sse = 0;', 'let comp = 0;', 'for (let t = 0; t < n; t++) {', ...rowSource(k, d, code, false), '}', 'return sse;'],
    scope: { ...EXP_SCOPE, ...PHI_SCOPE },
  }));
}

/** The compiled curvature pass for the shape: Gauss–Newton (exact = false) or the exact Hessian's moments. */
export function unrolledCurvature(k: number, d: number, code: number, exact: boolean): UnrolledCurvature {
  return compileKernel<UnrolledCurvature>(`lse-curv:${k}:${d}:${code}:${exact ? 1 : 0}`, (): KernelSource => {
    const q = d + 1;
    const K = 2 * k - 1;
    const nTri = (K * (K + 1)) / 2;
    const monos: [number, number][] = [];
    for (let a = 0; a < q; a++) for (let c = a; c < q; c++) monos.push([a, c]);
    const u = (a: number): string => (a === 0 ? '1' : `x${a - 1}`);
    const body = [...thetaLocals(k, d), 'let sse = 0;', 'let comp = 0;'];
    for (let m = 0; m < monos.length; m++) for (let c = 0; c < nTri; c++) body.push(`let A${m}_${c} = 0;`);
    for (let al = 0; al < K; al++) for (let a = 0; a < q; a++) body.push(`let B${al}_${a} = 0;`);
    body.push('for (let t = 0; t < n; t++) {', ...rowSource(k, d, code, true));
    // u u^T monomials (u_0 = 1), w = (g_0 … g_{k−2}, π_0σ′_0 … π_{k−1}σ′_{k−1})
    monos.forEach(([a, c], m) => body.push(`const uu${m} = ${u(a)} * ${u(c)};`));
    for (let j = 0; j < k - 1; j++) body.push(`const w${j} = pi${j} * (h${j} - f);`);
    for (let i = 0; i < k; i++) body.push(`const w${k - 1 + i} = pi${i} * s${i};`);
    // M = w wᵀ (− e C), lower triangle: entry (α, β ≤ α) at α(α+1)/2 + β
    const tri = (al: number, be: number): number => (al * (al + 1)) / 2 + be;
    for (let al = 0; al < K; al++) for (let be = 0; be <= al; be++) body.push(`let M${tri(al, be)} = w${al} * w${be};`);
    if (exact) {
      body.push('if (e !== 0) {');
      for (let j = 0; j < k - 1; j++) for (let l = 0; l <= j; l++) body.push(`M${tri(j, l)} -= e * (${j === l ? `w${j}` : '0'} - pi${j} * w${l} - pi${l} * w${j});`);
      for (let i = 0; i < k; i++) {
        const al = k - 1 + i;
        for (let j = 0; j < k - 1; j++) body.push(`M${tri(al, j)} -= e * pi${j} * (${i === j ? 1 : 0} - pi${i}) * s${i};`);
        body.push(`M${tri(al, al)} -= e * pi${i} * c${i};`);
      }
      body.push('}');
    }
    for (let m = 0; m < monos.length; m++) for (let c = 0; c < nTri; c++) body.push(`A${m}_${c} += M${c} * uu${m};`);
    for (let al = 0; al < K; al++) {
      body.push(`const ew${al} = e * w${al};`);
      for (let a = 0; a < q; a++) body.push(`B${al}_${a} += ew${al} * ${u(a)};`);
    }
    body.push('}');
    for (let m = 0; m < monos.length; m++) for (let c = 0; c < nTri; c++) body.push(`acc[${m * nTri + c}] = A${m}_${c};`);
    for (let al = 0; al < K; al++) for (let a = 0; a < q; a++) body.push(`accB[${al * q + a}] = B${al}_${a};`);
    body.push('return sse;');
    return { name: exact ? 'lseHessian' : 'lseNormal', params: ['theta', 'X', 'y', 'n', 'acc', 'accB'], body, scope: { ...EXP_SCOPE, ...PHI_SCOPE } };
  });
}
