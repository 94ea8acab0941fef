/**
 * Fused one-pass kernels of the least-squares objective for a softmax gate with regression experts
 * without an output weight (h = σ(bᵢ + aᵢᵀx); P3, math-spec §5.1, §9.3): the SSE, the Gauss–Newton
 * normal equations JᵀJ, Jᵀe and the exact Hessian ∇²(S/2), for Levenberg–Marquardt (lm.ts).
 *
 * Why: the generic passes (lse-objective.ts, lse-hessian.ts) go through the Gate / expert
 * interfaces — log-weights, then exponentiation, then per-expert prediction loops, then per-row
 * Jacobian blocks or per-(row, expert) derivative calls — which cost 9.6 ms (value), 16 ms (normal)
 * and 29 ms (Hessian) a pass at n = 5e4, k = 3, GELU (measured, loaded). Here each pass is one loop
 * over the rows with the logits, the softmax and σ, σ′, σ″ inlined, and the p×p matrices are
 * accumulated as moments:
 *
 * with u = (1, x), g_j = π_j (h_j − f) and w = (g_0 … g_{k−2}, π_0σ′_0 … π_{k−1}σ′_{k−1}) (K = 2k − 1),
 * the Jacobian row is J_t = w ⊗ u (every parameter is a (w-index, u-index) pair: gate j's row
 * [β₀ⱼ, β₁ⱼ] and expert i's [bᵢ, aᵢ] both multiply u), so
 *
 *   JᵀJ = Σ_t (w wᵀ) ⊗ (u uᵀ),   ∇²(S/2) = Σ_t (w wᵀ − e_t C_t) ⊗ (u uᵀ),   Jᵀe = Σ_t e_t w ⊗ u,
 *
 * where C_t (K×K) holds the second derivatives of f_t in the w coordinates (lse-hessian.ts):
 * gate–gate δ_jl g_j − π_j g_l − π_l g_j, expert i – gate j π_j (δ_ij − πᵢ) σ′ᵢ, expert i – expert i
 * πᵢ σ″ᵢ (0 across experts). Per row: K(K+1)/2 entries times the (d+1)(d+2)/2 monomials u_a u_c.
 * Hand-written for the same reason as lm.ts (p ≤ ~30; one fused pass over Float64Arrays).
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { RegressionExperts } from '../experts/regression.js';
import { activationCode, activationDerivatives } from '../family/activations.js';
import { expNonPositive } from '../numeric/fastmath.js';
import { unrolledCurvature, unrolledShape, unrolledSSE, type UnrolledCurvature, type UnrolledSSE } from './lse-kernels-unrolled.js';

/** Whether the fused kernels apply: the plain softmax gate with regression experts without an output weight. */
export function hasFusedKernels(model: MixtureOfExperts): boolean {
  const e = model.expert;
  return model.gate.type === 'softmax' && e instanceof RegressionExperts && !e.outputWeight && activationCode(e.activation) >= 0;
}

/** Scratch of the fused kernels (allocated once per fit; no allocation per pass). */
export class LSEKernelWorkspace {
  readonly code: number;
  readonly K: number;
  /** Distinct monomials u_a u_c (a ≤ c) of u = (1, x). */
  readonly nMono: number;
  readonly monoA: Int32Array;
  readonly monoC: Int32Array;
  /** Lower-triangle entries of a K×K matrix. */
  readonly nTri: number;
  readonly pi: Float64Array;
  readonly hv: Float64Array;
  readonly d1: Float64Array;
  readonly d2: Float64Array;
  readonly w: Float64Array;
  readonly u: Float64Array;
  readonly uu: Float64Array;
  readonly M: Float64Array;
  /** Σ_t M_t u_a u_c per monomial (nMono × nTri) and Σ_t e_t w u_a (K × (d+1)). */
  readonly acc: Float64Array;
  readonly accB: Float64Array;
  readonly s = new Float64Array(3);
  /** A p×p scratch matrix (the gradient pass discards its JᵀJ). */
  readonly A: Float64Array;
  /** The compiled passes of this shape (lse-kernels-unrolled.ts), or undefined: the loops below. */
  readonly sseKernel: UnrolledSSE | undefined;
  readonly normalKernel: UnrolledCurvature | undefined;
  readonly hessianKernel: UnrolledCurvature | undefined;
  /** `loops`: the plain-loop passes even where a compiled one exists (to test them against each other). */
  constructor(model: MixtureOfExperts, loops = false) {
    this.A = new Float64Array(model.nParams * model.nParams);
    const { k, d } = model;
    const e = model.expert as RegressionExperts;
    this.code = activationCode(e.activation);
    this.K = 2 * k - 1;
    this.nTri = (this.K * (this.K + 1)) / 2;
    const q = d + 1;
    this.nMono = (q * (q + 1)) / 2;
    this.monoA = new Int32Array(this.nMono);
    this.monoC = new Int32Array(this.nMono);
    let m = 0;
    for (let a = 0; a < q; a++) for (let c = a; c < q; c++) { this.monoA[m] = a; this.monoC[m] = c; m++; }
    this.pi = new Float64Array(k);
    this.hv = new Float64Array(k);
    this.d1 = new Float64Array(k);
    this.d2 = new Float64Array(k);
    this.w = new Float64Array(this.K);
    this.u = new Float64Array(q);
    this.uu = new Float64Array(this.nMono);
    this.M = new Float64Array(this.nTri);
    this.acc = new Float64Array(this.nMono * this.nTri);
    this.accB = new Float64Array(this.K * q);
    const unrolled = !loops && unrolledShape(k, d);
    this.sseKernel = unrolled ? unrolledSSE(k, d, this.code) : undefined;
    this.normalKernel = unrolled ? unrolledCurvature(k, d, this.code, false) : undefined;
    this.hessianKernel = unrolled ? unrolledCurvature(k, d, this.code, true) : undefined;
  }
}

/**
 * One row: π (softmax of the logits, reference last), σ, σ′, σ″ of each expert into the workspace;
 * returns f_t = Σᵢ πᵢ hᵢ. θ must be finite.
 */
function row(theta: Float64Array, pG: number, k: number, d: number, X: Float64Array, t: number, ws: LSEKernelWorkspace): number {
  const { pi, hv, d1, d2, s, code } = ws;
  const q = d + 1;
  const xo = t * d;
  let mx = 0; // the reference logit is 0
  for (let j = 0; j < k - 1; j++) {
    let z = theta[j * q];
    for (let a = 0; a < d; a++) z += theta[j * q + 1 + a] * X[xo + a];
    pi[j] = z;
    if (z > mx) mx = z;
  }
  pi[k - 1] = 0;
  let sum = 0;
  for (let j = 0; j < k; j++) {
    const ez = expNonPositive(pi[j] - mx);
    pi[j] = ez;
    sum += ez;
  }
  const inv = 1 / sum;
  let f = 0;
  for (let i = 0; i < k; i++) {
    pi[i] *= inv;
    const o = pG + i * q;
    let v = theta[o];
    for (let a = 0; a < d; a++) v += theta[o + 1 + a] * X[xo + a];
    activationDerivatives(code, v, s);
    hv[i] = s[0];
    d1[i] = s[1];
    d2[i] = s[2];
    f += pi[i] * s[0];
  }
  return f;
}

function finite(theta: Float64Array): boolean {
  for (let i = 0; i < theta.length; i++) if (!Number.isFinite(theta[i])) return false;
  return true;
}

/** SSE(θ) = Σ_t (y_t − f_G(x_t))² (compensated sum); Infinity when θ is not finite. */
export function fusedSSE(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: LSEKernelWorkspace): number {
  if (!finite(theta)) return Infinity;
  const { k, d } = model;
  const pG = model.gate.nParams;
  const { X, y, n } = data;
  if (ws.sseKernel) {
    const v = ws.sseKernel(theta, X, y, n);
    return Number.isFinite(v) ? v : Infinity;
  }
  let sse = 0;
  let comp = 0;
  for (let t = 0; t < n; t++) {
    const e = y[t] - row(theta, pG, k, d, X, t, ws);
    const term = e * e - comp;
    const next = sse + term;
    comp = next - sse - term;
    sse = next;
  }
  return Number.isFinite(sse) ? sse : Infinity;
}

/**
 * S(θ) and the normal equations A = JᵀJ (exact = false) or the exact Hessian A = ∇²(S/2)
 * (exact = true), p×p full, and b = Jᵀe = −∇(S/2). Infinity when θ is not finite.
 */
export function fusedCurvature(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: LSEKernelWorkspace, A: Float64Array, b: Float64Array, exact: boolean): number {
  if (!finite(theta)) return Infinity;
  const { k, d } = model;
  const pG = model.gate.nParams;
  const q = d + 1;
  const p = theta.length;
  const { X, y, n } = data;
  const { acc, accB, K, nTri, nMono, monoA, monoC } = ws;
  const kernel = exact ? ws.hessianKernel : ws.normalKernel;
  const sse = kernel ? kernel(theta, X, y, n, acc, accB) : loopCurvature(theta, pG, k, d, data, ws, exact);
  if (!Number.isFinite(sse)) return Infinity;
  // parameter (α, a) ↦ α·q + a (gate j: α = j; expert i: α = k − 1 + i; pG = (k − 1)q)
  for (let m = 0; m < nMono; m++) {
    const a = monoA[m];
    const c = monoC[m];
    const off = m * nTri;
    for (let al = 0; al < K; al++) {
      for (let be = 0; be <= al; be++) {
        const v = acc[off + (al * (al + 1)) / 2 + be];
        const r1 = al * q + a, c1 = be * q + c;
        const r2 = al * q + c, c2 = be * q + a;
        A[r1 * p + c1] = v; A[c1 * p + r1] = v;
        A[r2 * p + c2] = v; A[c2 * p + r2] = v;
      }
    }
  }
  for (let i = 0; i < K * q; i++) b[i] = accB[i];
  return sse;
}

/** The moments of fusedCurvature into ws.acc, ws.accB by plain loops; returns S (shapes not unrolled). */
function loopCurvature(theta: Float64Array, pG: number, k: number, d: number, data: Dataset, ws: LSEKernelWorkspace, exact: boolean): number {
  const q = d + 1;
  const { X, y, n } = data;
  const { pi, hv, d1, d2, w, u, uu, M, acc, accB, K, nTri, nMono, monoA, monoC } = ws;
  acc.fill(0);
  accB.fill(0);
  let sse = 0;
  let comp = 0;
  u[0] = 1;
  for (let t = 0; t < n; t++) {
    const f = row(theta, pG, k, d, X, t, ws);
    const e = y[t] - f;
    const term = e * e - comp;
    const next = sse + term;
    comp = next - sse - term;
    sse = next;
    for (let a = 0; a < d; a++) u[a + 1] = X[t * d + a];
    for (let m = 0; m < nMono; m++) uu[m] = u[monoA[m]] * u[monoC[m]];
    // w = (g_0 … g_{k−2}, π_0σ′_0 … π_{k−1}σ′_{k−1})
    for (let j = 0; j < k - 1; j++) w[j] = pi[j] * (hv[j] - f);
    for (let i = 0; i < k; i++) w[k - 1 + i] = pi[i] * d1[i];
    // M = w wᵀ (− e C), lower triangle row-major: entry (α, β ≤ α) at α(α+1)/2 + β
    let o = 0;
    for (let al = 0; al < K; al++) {
      const wa = w[al];
      for (let be = 0; be <= al; be++) M[o++] = wa * w[be];
    }
    if (exact && e !== 0) {
      // gate–gate (α = j, β = l ≤ j)
      for (let j = 0; j < k - 1; j++) {
        const r = (j * (j + 1)) / 2;
        for (let l = 0; l <= j; l++) M[r + l] -= e * ((j === l ? w[j] : 0) - pi[j] * w[l] - pi[l] * w[j]);
      }
      // expert i (α = k − 1 + i) – gate j (β = j), and expert i – expert i
      for (let i = 0; i < k; i++) {
        const al = k - 1 + i;
        const r = (al * (al + 1)) / 2;
        for (let j = 0; j < k - 1; j++) M[r + j] -= e * pi[j] * ((i === j ? 1 : 0) - pi[i]) * d1[i];
        M[r + al] -= e * pi[i] * d2[i];
      }
    }
    for (let m = 0; m < nMono; m++) {
      const um = uu[m];
      const off = m * nTri;
      for (let c = 0; c < nTri; c++) acc[off + c] += M[c] * um;
    }
    for (let al = 0; al < K; al++) {
      const ew = e * w[al];
      for (let a = 0; a < q; a++) accB[al * q + a] += ew * u[a];
    }
  }
  return sse;
}
