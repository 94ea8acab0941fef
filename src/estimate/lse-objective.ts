// The least-squares objective of a regression MoE (P3, arXiv 2402.02952: the LSE of math-spec §5),
// its gradient and the Gauss–Newton normal equations, over reusable Float64Array buffers.
// Kept apart from the solver (lse.ts) so the scale wrapper (standardize-lse.ts) can evaluate it
// without importing the solver that calls the wrapper.
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { isRegressionFamily, type RegressionExpertFamily } from '../experts/regression.js';
import { expNonPositive } from '../numeric/fastmath.js';
import type { MoeWarning } from '../warnings.js';
import { OptionError } from '../errors.js';

export type LSESolver = 'varpro' | 'lm' | 'lbfgs';

export interface LSEResult {
  /** Fitted model (canonical); its experts carry `noiseVariance` = SSE/n. */
  model: MixtureOfExperts;
  /** Σ_t (y_t − f_Ĝ(x_t))². */
  sse: number;
  /** SSE / n. */
  mse: number;
  /** SSE at the start and at the end of the best restart. */
  trace: number[];
  /** Solver iterations of the best restart. */
  iterations: number;
  /** The solver that ran: 'varpro' (variable projection, lse-varpro.ts), 'lm' (Levenberg–Marquardt) or 'lbfgs'. */
  solver: LSESolver;
  /** The solver stopped on its gradient criterion (L-BFGS: or its relative-decrease backstop). */
  converged: boolean;
  /**
   * Euclidean norm of ∇(SSE/n) with respect to the working parameters, at the returned model (with
   * `gateBound`: components at an active bound that point out of the box do not count, as in KKT;
   * fitLSE: of the standardised problem, scale-free).
   */
  gradientNorm: number;
  restarts: number;
  /** SSE reached by each restart (Infinity if it failed). */
  restartSSE: number[];
  seconds: number;
  /** Typed warnings (codes in src/warnings.ts): LSE_NOT_CONVERGED, LSE_TIME_LIMIT, RESTART_FAILED. */
  warnings: MoeWarning[];
}

/** Rows per block of the Jacobian pass (a block of J stays in cache while JᵀJ is accumulated). */
const ROWS_PER_BLOCK = 256;

/** Reusable buffers of the LSE objective (no allocation per evaluation). */
export class LSEWorkspace {
  readonly P: Float64Array;
  readonly H: Float64Array;
  readonly W: Float64Array;
  readonly V: Float64Array;
  readonly gradG: Float64Array;
  readonly gradE: Float64Array;
  /** Jacobian rows of one block (ROWS_PER_BLOCK × nParams of the gate and of the experts). */
  readonly JG: Float64Array;
  readonly JE: Float64Array;
  constructor(readonly model: MixtureOfExperts, readonly n: number) {
    const nk = n * model.k;
    const rows = Math.min(n, ROWS_PER_BLOCK);
    this.JG = new Float64Array(rows * model.gate.nParams);
    this.JE = new Float64Array(rows * model.expert.nParams);
    this.P = new Float64Array(nk);
    this.H = new Float64Array(nk);
    this.W = new Float64Array(nk);
    this.V = new Float64Array(nk);
    this.gradG = new Float64Array(model.gate.nParams);
    this.gradE = new Float64Array(model.expert.nParams);
    this.E = new Float64Array(n);
  }
  /** Residuals e_t = y_t − f_G(x_t) of the last `lseNormalEquations`. */
  readonly E: Float64Array;
  /** θ at which P holds π and H holds h (set by every finite evaluation), for reuse. */
  readonly cachedTheta = new Float64Array(0);
  cacheValid = false;
  /** One Jacobian row [gate | experts]. */
  jrow = new Float64Array(0);
}

/** Mark P = π(θ), H = h(θ) in ws as belonging to θ (π exponentiated; also used by lse-varpro.ts). */
export function markCache(ws: LSEWorkspace, theta: Float64Array): void {
  if (ws.cachedTheta.length !== theta.length) (ws as { cachedTheta: Float64Array }).cachedTheta = new Float64Array(theta.length);
  ws.cachedTheta.set(theta);
  ws.cacheValid = true;
}

/** Whether ws holds P = π(θ), H = h(θ) (exponentiated) for θ. */
export function cacheHolds(ws: LSEWorkspace, theta: Float64Array): boolean {
  if (!ws.cacheValid || ws.cachedTheta.length !== theta.length) return false;
  for (let i = 0; i < theta.length; i++) if (ws.cachedTheta[i] !== theta[i]) return false;
  return true;
}

export function regressionExperts(model: MixtureOfExperts): RegressionExpertFamily {
  const e = model.expert;
  if (!isRegressionFamily(e)) {
    throw new OptionError(`least squares needs regression experts (e.g. --expert regression:gelu); ${e.type} experts are fitted by maximum likelihood (--estimator mle)`);
  }
  return e;
}

/**
 * SSE(θ) = Σ_t (y_t − f_G(x_t))² and, when grad is given, ∇θ SSE written to grad (θ = [gate | experts]).
 * Returns Infinity when θ is infeasible (non-finite, or outside a gate's / expert's domain).
 */
export function lseObjective(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: LSEWorkspace, grad?: Float64Array): number {
  const { gate, k } = model;
  const expert = regressionExperts(model);
  const { X, y, n } = data;
  for (let i = 0; i < theta.length; i++) if (!Number.isFinite(theta[i])) return Infinity;
  const thG = theta.subarray(0, gate.nParams);
  const thE = theta.subarray(gate.nParams);
  if (gate.feasible && !gate.feasible(thG)) return Infinity;
  if (expert.feasible && !expert.feasible(thE)) return Infinity;
  const { P, H, W, V } = ws;
  ws.cacheValid = false;
  gate.logWeights(thG, X, n, P);
  expert.predict(thE, X, n, H);
  // compensated (Kahan) summation: near the optimum L-BFGS compares SSEs that differ by less than
  // the n·ε rounding of a plain sum, and its line search would stop early on the noise
  let sse = 0;
  let comp = 0;
  for (let t = 0; t < n; t++) {
    const o = t * k;
    let f = 0;
    for (let i = 0; i < k; i++) {
      const p = expNonPositive(P[o + i]); // log π ≤ 0; exp(−∞) = 0 for inactive experts
      P[o + i] = p;
      if (p > 0) f += p * H[o + i];
    }
    const e = y[t] - f;
    const term = e * e - comp;
    const next = sse + term;
    comp = next - sse - term;
    sse = next;
    if (grad) {
      const m2e = -2 * e;
      for (let i = 0; i < k; i++) {
        const p = P[o + i];
        // P3 (math-spec §9.3): W_ti = −2 e_t h_ti π_ti (gate), V_ti = −2 e_t π_ti (experts)
        W[o + i] = p > 0 ? m2e * H[o + i] * p : 0;
        V[o + i] = m2e * p;
      }
    }
  }
  if (!Number.isFinite(sse)) return Infinity;
  markCache(ws, theta);
  if (grad) {
    gate.gradQ(thG, X, n, W, ws.gradG);
    expert.gradPredict(thE, X, n, V, ws.gradE);
    grad.set(ws.gradG, 0);
    grad.set(ws.gradE, gate.nParams);
  }
  return sse;
}

/**
 * SSE(θ) and the Gauss–Newton normal equations JᵀJ (p×p, full) and Jᵀe (e = y − f_G) at θ, with
 * J_t = ∂f_G(x_t)/∂θ (θ = [gate | experts]); ∇SSE = −2·Jᵀe. Infinity when θ is infeasible.
 * Needs `gate.rowGradQ` and the experts' `rowGradPredict`.
 */
export function lseNormalEquations(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: LSEWorkspace, JtJ: Float64Array, Jte: Float64Array): number {
  const { gate, k } = model;
  const expert = regressionExperts(model);
  if (!gate.rowGradQ || !expert.rowGradPredict) throw new OptionError(`Levenberg–Marquardt needs per-row derivatives, which the ${gate.type}/${expert.type} families do not provide; use solver 'lbfgs'`);
  const { X, y, n, d } = data;
  for (let i = 0; i < theta.length; i++) if (!Number.isFinite(theta[i])) return Infinity;
  const pG = gate.nParams;
  const pE = expert.nParams;
  const p = pG + pE;
  const thG = theta.subarray(0, pG);
  const thE = theta.subarray(pG);
  if (gate.feasible && !gate.feasible(thG)) return Infinity;
  if (expert.feasible && !expert.feasible(thE)) return Infinity;
  const { P, H, W, E, JG, JE } = ws;
  // P = π, H = h at θ are reused from the value pass that accepted θ (the same numbers)
  const cached = cacheHolds(ws, theta);
  if (!cached) {
    ws.cacheValid = false;
    gate.logWeights(thG, X, n, P);
    expert.predict(thE, X, n, H);
  }
  let sse = 0;
  let comp = 0;
  for (let t = 0; t < n; t++) {
    const o = t * k;
    let f = 0;
    for (let i = 0; i < k; i++) {
      const pi = cached ? P[o + i] : expNonPositive(P[o + i]);
      P[o + i] = pi;
      const w = pi > 0 ? pi * H[o + i] : 0;
      W[o + i] = w; // ∂f/∂θ_G = Σᵢ h_ti π_ti ∂log π_ti
      f += w;
    }
    const e = y[t] - f;
    E[t] = e;
    const term = e * e - comp;
    const next = sse + term;
    comp = next - sse - term;
    sse = next;
  }
  if (!Number.isFinite(sse)) return Infinity;
  markCache(ws, theta);
  JtJ.fill(0, 0, p * p);
  Jte.fill(0, 0, p);
  if (ws.jrow.length !== p) ws.jrow = new Float64Array(p);
  const J = ws.jrow;
  for (let t0 = 0; t0 < n; t0 += ROWS_PER_BLOCK) {
    const len = Math.min(ROWS_PER_BLOCK, n - t0);
    const Xb = X.subarray(t0 * d, (t0 + len) * d);
    gate.rowGradQ(thG, Xb, len, W.subarray(t0 * k, (t0 + len) * k), JG);
    expert.rowGradPredict(thE, Xb, len, P.subarray(t0 * k, (t0 + len) * k), JE);
    for (let r = 0; r < len; r++) {
      const e = E[t0 + r];
      const og = r * pG;
      const oe = r * pE - pG;
      for (let a = 0; a < pG; a++) J[a] = JG[og + a];
      for (let a = pG; a < p; a++) J[a] = JE[oe + a];
      for (let a = 0; a < p; a++) {
        const ja = J[a];
        if (ja === 0) continue;
        Jte[a] += ja * e;
        const row = a * p;
        for (let b = 0; b <= a; b++) JtJ[row + b] += ja * J[b];
      }
    }
  }
  for (let a = 0; a < p; a++) for (let b = a + 1; b < p; b++) JtJ[a * p + b] = JtJ[b * p + a];
  return sse;
}

/** Whether the model's families give the per-row derivatives Levenberg–Marquardt needs. */
