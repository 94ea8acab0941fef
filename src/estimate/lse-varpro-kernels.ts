/**
 * The passes of variable projection (lse-varpro.ts; Golub & Pereyra 1973, Kaufman 1975; P3,
 * math-spec §5.1) for one feature (d = 1), compiled per k with every inner loop unrolled
 * (numeric/codegen.ts), as lse-kernels-unrolled.ts does for the full least-squares problem:
 *   - projectMoments: the softmax of the logits in P (in place, → π) and the moments of the
 *     projection Σ πᵢπ_l (1, x, x²) (l ≤ i) and Σ πᵢ y (1, x) (softmax gate);
 *   - residual: h_ti = bᵢ + aᵢ x_t into H and the compensated SSE (any gate);
 *   - gateMoments: the Gauss–Newton matrix or exact Hessian blocks Σ_t c_t (1, x, x²) and Σ_t g_j e (1, x)
 *     of VarproProblem.softmaxMoments (softmax gate).
 * Same operations in the same order as the loops of lse-varpro.ts, hence the same bits (tested):
 * the reduced Levenberg–Marquardt follows the same path.
 * Why: the loops cost about 7.8 ms a pass each (projection and moments) at n = 5e4, k = 3 (CPU,
 * loaded machine), 80 % of a plain variable-projection fit of the over-specified linear truth; the
 * warm start's guard runs that plain fit (lse.ts runVarpro).
 */
import { compileKernel, type KernelSource } from '../numeric/codegen.js';
import { EXP_SCOPE, expSource } from '../numeric/fastmath.js';

/** Softmax of the logits in P (in place) and the projection moments: mom1 (k(k+1)/2 × 3), c1 (2k). */
export type ProjectMoments = (P: Float64Array, X: Float64Array, y: Float64Array, n: number, mom1: Float64Array, c1: Float64Array) => void;
/** h_ti = eta[2i] + eta[2i+1]·x_t into H, returns Σ (y − Σ π h)² (compensated). */
export type Residual = (eta: Float64Array, P: Float64Array, X: Float64Array, y: Float64Array, n: number, H: Float64Array) => number;
/** The moment pass of softmaxMoments into mom and momB; returns the compensated SSE. */
export type GateMoments = (P: Float64Array, H: Float64Array, X: Float64Array, y: Float64Array, n: number, mom: Float64Array, momB: Float64Array) => number;

/** Whether the compiled passes exist for this shape (d = 1, k ≤ 8). */
export function varproKernelShape(k: number, d: number): boolean {
  return d === 1 && k >= 2 && k <= 8;
}

export function projectMomentsKernel(k: number): ProjectMoments {
  return compileKernel<ProjectMoments>(`varpro-project:${k}`, (): KernelSource => {
    const body: string[] = [];
    const nm = (k * (k + 1)) / 2;
    for (let m = 0; m < nm * 3; m++) body.push(`let m${m} = 0;`);
    for (let i = 0; i < 2 * k; i++) body.push(`let q${i} = 0;`);
    body.push('for (let t = 0; t < n; t++) {', `const o = t * ${k};`, 'let mx = -Infinity;');
    for (let i = 0; i < k; i++) body.push(`const z${i} = P[o + ${i}];`, `if (z${i} > mx) mx = z${i};`);
    body.push('let sum = 0;');
    for (let i = 0; i < k; i++) body.push(expSource(`v${i}`, `z${i} - mx`), `sum += v${i};`);
    body.push('const inv = 1 / sum;');
    for (let i = 0; i < k; i++) body.push(`const p${i} = v${i} * inv;`, `P[o + ${i}] = p${i};`);
    body.push('const x = X[t];', 'const x2 = x * x;', 'const yt = y[t];');
    for (let i = 0, m = 0; i < k; i++) {
      body.push(`{ const py = p${i} * yt;`, `q${2 * i} += py;`, `q${2 * i + 1} += py * x; }`);
      for (let l = 0; l <= i; l++, m += 3) body.push(`{ const w = p${i} * p${l};`, `m${m} += w;`, `m${m + 1} += w * x;`, `m${m + 2} += w * x2; }`);
    }
    body.push('}');
    for (let m = 0; m < nm * 3; m++) body.push(`mom1[${m}] = m${m};`);
    for (let i = 0; i < 2 * k; i++) body.push(`c1[${i}] = q${i};`);
    return { name: 'varproProjectMoments', params: ['P', 'X', 'y', 'n', 'mom1', 'c1'], body, scope: EXP_SCOPE };
  });
}

export function residualKernel(k: number): Residual {
  return compileKernel<Residual>(`varpro-residual:${k}`, (): KernelSource => {
    const body: string[] = [];
    for (let i = 0; i < k; i++) body.push(`const b${i} = eta[${2 * i}];`, `const a${i} = eta[${2 * i + 1}];`);
    body.push('let sse = 0;', 'let comp = 0;', 'for (let t = 0; t < n; t++) {', `const o = t * ${k};`, 'const x = X[t];', 'let f = 0;');
    for (let i = 0; i < k; i++) {
      body.push(`{ let h = b${i};`, `h += a${i} * x;`, `H[o + ${i}] = h;`, `const pi = P[o + ${i}];`, 'if (pi > 0) f += pi * h; }');
    }
    body.push('const e = y[t] - f;', 'const term = e * e - comp;', 'const next = sse + term;', 'comp = next - sse - term;', 'sse = next;', '}', 'return sse;');
    return { name: 'varproResidual', params: ['eta', 'P', 'X', 'y', 'n', 'H'], body };
  });
}

export function gateMomentsKernel(k: number, hessian: boolean): GateMoments {
  return compileKernel<GateMoments>(`varpro-moments:${k}:${hessian ? 1 : 0}`, (): KernelSource => {
    const km = k - 1;
    const nGG = (km * (km + 1)) / 2;
    const nuu = 3;
    const nMom = (nGG + km * k) * nuu;
    const body: string[] = [];
    for (let m = 0; m < nMom; m++) body.push(`let M${m} = 0;`);
    for (let m = 0; m < km * 2; m++) body.push(`let B${m} = 0;`);
    body.push('let sse = 0;', 'let comp = 0;', 'for (let t = 0; t < n; t++) {', `const o = t * ${k};`, 'let f = 0;');
    for (let i = 0; i < k; i++) body.push(`const p${i} = P[o + ${i}];`, `const h${i} = H[o + ${i}];`, `if (p${i} > 0) f += p${i} * h${i};`);
    body.push('const e = y[t] - f;', 'const term = e * e - comp;', 'const next = sse + term;', 'comp = next - sse - term;', 'sse = next;');
    for (let j = 0; j < km; j++) body.push(`const g${j} = p${j} * (h${j} - f);`);
    body.push('const x = X[t];', 'const u0 = 1 * 1;', 'const u1 = x * 1;', 'const u2 = x * x;');
    for (let j = 0; j < km; j++) body.push(`{ const ge = g${j} * e;`, `B${j * 2} += ge * u0;`, `B${j * 2 + 1} += ge * u1; }`);
    const acc = (b: number): string => `if (c !== 0) { M${b} += c * u0; M${b + 1} += c * u1; M${b + 2} += c * u2; }`;
    let pair = 0;
    for (let j = 0; j < km; j++) {
      for (let l = 0; l <= j; l++) {
        body.push(`{ let c = g${j} * g${l};`);
        if (hessian) body.push(`c -= e * (${j === l ? `g${j}` : '0'} - p${j} * g${l} - p${l} * g${j});`);
        body.push(`${acc(pair * nuu)} }`);
        pair++;
      }
    }
    for (let j = 0; j < km; j++) {
      for (let i = 0; i < k; i++) {
        body.push(`{ let c = g${j} * p${i};`);
        if (hessian) body.push(`c -= e * p${j} * (${i === j ? 1 : 0} - p${i});`);
        body.push(`${acc((nGG + j * k + i) * nuu)} }`);
      }
    }
    body.push('}');
    for (let m = 0; m < nMom; m++) body.push(`mom[${m}] = M${m};`);
    for (let m = 0; m < km * 2; m++) body.push(`momB[${m}] = B${m};`);
    body.push('return sse;');
    return { name: hessian ? 'varproHessianMoments' : 'varproNormalMoments', params: ['P', 'H', 'X', 'y', 'n', 'mom', 'momB'], body };
  });
}
