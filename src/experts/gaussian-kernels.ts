/**
 * Unrolled kernels of the Gaussian linear experts (compiled per (k, d), see numeric/codegen.ts
 * for why): the sufficient statistics of all k weighted least-squares fits in one pass, the
 * weighted residual sums of squares, and the log-densities.
 *
 * v_t = (1, x_t) ∈ R^q, q = d + 1; coefficients per expert are [b, a_1..a_d] (θ layout without
 * the log-variance).
 */
import { compileKernel, type KernelSource } from '../numeric/codegen.js';

/**
 * Σ_t R_ti v_t v_tᵀ (full q×q) and Σ_t R_ti y_t v_t for every expert i, into out at offset
 * i·(q² + q): the q×q Gram matrix row-major, then the right-hand side.
 */
export type MomentsKernel = (X: Float64Array, y: Float64Array, R: Float64Array, n: number, out: Float64Array) => void;
/** ss_i = Σ_t R_ti (y_t − coefᵢ·v_t)² for every expert, coef (k×q) row-major, into ss (k). */
export type ResidualKernel = (X: Float64Array, y: Float64Array, R: Float64Array, n: number, coef: Float64Array, ss: Float64Array) => void;
/** out_ti = −½log(2π) − ½ log νᵢ − (y_t − μ_ti)²/(2νᵢ) from θ (k×(d+2): b, a, log ν). */
export type LogDensityKernel = (theta: Float64Array, X: Float64Array, y: Float64Array, n: number, out: Float64Array) => void;

/** Largest number of sums unrolled (see MAX_ACCUMULATORS of the softmax kernels); beyond it callers loop. */
export const MAX_MOMENT_ACCUMULATORS = 384;

const v = (a: number): string => (a === 0 ? '1' : `x${a}`);

function rowInputs(d: number): string[] {
  const lines = ['const yt = y[t];'];
  for (let a = 1; a <= d; a++) lines.push(`const x${a} = X[t * ${d} + ${a - 1}];`);
  return lines;
}

export function momentsKernel(k: number, d: number): MomentsKernel | null {
  const q = d + 1;
  if (k * ((q * (q + 1)) / 2 + q) > MAX_MOMENT_ACCUMULATORS) return null;
  return compileKernel<MomentsKernel>(`gaussian-moments:${k}:${d}`, (): KernelSource => {
    const decl: string[] = [];
    const body = [`const o = t * ${k};`, ...rowInputs(d)];
    for (let a = 1; a <= d; a++) for (let b = 1; b <= a; b++) body.push(`const x${a}_${b} = x${a} * x${b};`);
    const out: string[] = [];
    const size = q * q + q;
    for (let i = 0; i < k; i++) {
      body.push(`const w${i} = R[o + ${i}];`, `const wy${i} = w${i} * yt;`);
      for (let a = 0; a < q; a++) {
        for (let b = 0; b <= a; b++) {
          const name = `G${i}_${a}_${b}`;
          decl.push(`${name} = 0`);
          const prod = a === 0 && b === 0 ? '' : b === 0 ? ` * ${v(a)}` : ` * x${a}_${b}`;
          body.push(`${name} += w${i}${prod};`);
          out.push(`out[${i * size + a * q + b}] = ${name};`);
          if (a !== b) out.push(`out[${i * size + b * q + a}] = ${name};`);
        }
      }
      for (let a = 0; a < q; a++) {
        const name = `r${i}_${a}`;
        decl.push(`${name} = 0`);
        body.push(a === 0 ? `${name} += wy${i};` : `${name} += wy${i} * x${a};`);
        out.push(`out[${i * size + q * q + a}] = ${name};`);
      }
    }
    return { name: 'moments', params: ['X', 'y', 'R', 'n', 'out'], body: [`let ${decl.join(', ')};`, 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}', ...out] };
  });
}

export function residualKernel(k: number, d: number): ResidualKernel {
  const q = d + 1;
  return compileKernel<ResidualKernel>(`gaussian-residual:${k}:${d}`, (): KernelSource => {
    const pre: string[] = [];
    const body = [`const o = t * ${k};`, ...rowInputs(d)];
    const decl: string[] = [];
    const out: string[] = [];
    for (let i = 0; i < k; i++) {
      for (let a = 0; a < q; a++) pre.push(`const c${i}_${a} = coef[${i * q + a}];`);
      const mu = [`c${i}_0`, ...Array.from({ length: d }, (_, u) => `c${i}_${u + 1} * x${u + 1}`)].join(' + ');
      body.push(`const e${i} = yt - (${mu});`, `ss${i} += R[o + ${i}] * e${i} * e${i};`);
      decl.push(`ss${i} = 0`);
      out.push(`ss[${i}] = ss${i};`);
    }
    return { name: 'residuals', params: ['X', 'y', 'R', 'n', 'coef', 'ss'], body: [...pre, `let ${decl.join(', ')};`, 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}', ...out] };
  });
}

export function logDensityKernel(k: number, d: number): LogDensityKernel {
  const q = d + 2;
  return compileKernel<LogDensityKernel>(`gaussian-logdensity:${k}:${d}`, (): KernelSource => {
    const pre: string[] = [];
    const body = [`const o = t * ${k};`, ...rowInputs(d)];
    for (let i = 0; i < k; i++) {
      for (let a = 0; a <= d; a++) pre.push(`const c${i}_${a} = theta[${i * q + a}];`);
      // −½log(2π) − ½ log ν and 1/(2ν) (math-spec §2.1)
      pre.push(`const lv${i} = theta[${i * q + d + 1}];`, `const k${i} = HALF_LOG_2PI_NEG - 0.5 * lv${i};`, `const h${i} = 0.5 * Math.exp(-lv${i});`);
      const mu = [`c${i}_0`, ...Array.from({ length: d }, (_, u) => `c${i}_${u + 1} * x${u + 1}`)].join(' + ');
      body.push(`const e${i} = yt - (${mu});`, `out[o + ${i}] = k${i} - e${i} * e${i} * h${i};`);
    }
    return {
      name: 'logDensity',
      params: ['theta', 'X', 'y', 'n', 'out'],
      body: [...pre, 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}'],
      scope: { HALF_LOG_2PI_NEG: -0.5 * Math.log(2 * Math.PI) },
    };
  });
}

/**
 * ∇θ Σ_t Σ_i W_ti log f_i(y_t) for arbitrary real W into grad (k×(d+2): b, a, log ν):
 * ∂/∂(b, a) = Σ W r v / ν, ∂/∂log ν = Σ W (r²/(2ν) − ½), r = y − μ (math-spec §2.1).
 */
export type GradientKernel = (theta: Float64Array, X: Float64Array, y: Float64Array, n: number, W: Float64Array, grad: Float64Array) => void;

export function gradientKernel(k: number, d: number): GradientKernel | null {
  const q = d + 2;
  if (k * q > MAX_MOMENT_ACCUMULATORS) return null;
  return compileKernel<GradientKernel>(`gaussian-gradient:${k}:${d}`, (): KernelSource => {
    const pre: string[] = [];
    const decl: string[] = [];
    const out: string[] = [];
    const body = [`const o = t * ${k};`, ...rowInputs(d)];
    for (let i = 0; i < k; i++) {
      for (let a = 0; a <= d; a++) pre.push(`const c${i}_${a} = theta[${i * q + a}];`);
      pre.push(`const iv${i} = Math.exp(-theta[${i * q + d + 1}]);`);
      const mu = [`c${i}_0`, ...Array.from({ length: d }, (_, u) => `c${i}_${u + 1} * x${u + 1}`)].join(' + ');
      body.push(`const w${i} = W[o + ${i}];`, `const e${i} = yt - (${mu});`, `const we${i} = w${i} * e${i};`);
      for (let a = 0; a <= d; a++) {
        decl.push(`g${i}_${a} = 0`);
        body.push(a === 0 ? `g${i}_0 += we${i};` : `g${i}_${a} += we${i} * x${a};`);
        out.push(`grad[${i * q + a}] = g${i}_${a} * iv${i};`);
      }
      decl.push(`gv${i} = 0`, `gw${i} = 0`);
      body.push(`gv${i} += we${i} * e${i};`, `gw${i} += w${i};`);
      out.push(`grad[${i * q + d + 1}] = 0.5 * gv${i} * iv${i} - 0.5 * gw${i};`);
    }
    return { name: 'gradient', params: ['theta', 'X', 'y', 'n', 'W', 'grad'], body: [...pre, `let ${decl.join(', ')};`, 'for (let t = 0; t < n; t++) {', ...body.map((l) => `  ${l}`), '}', ...out] };
  });
}
