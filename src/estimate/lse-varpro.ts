/**
 * Variable projection (separable nonlinear least squares; Golub & Pereyra, SIAM J. Numer. Anal. 10,
 * 1973; Kaufman, BIT 15, 1975) for the LSE of a regression MoE with experts linear in their
 * parameters (P3, arXiv 2402.02952; math-spec §5.1, §9.3):
 *
 *   S(θ_G, η) = Σ_t (y_t − Σᵢ π_ti(θ_G) (bᵢ + aᵢᵀx_t))² = ‖y − Φ(θ_G) η‖²,   Φ_t = [π_t1·u_t, …, π_tk·u_t],  u = (1, x),
 *
 * is linear in all expert parameters η = (bᵢ, aᵢ) for a fixed gate θ_G, so the experts are
 * eliminated: η*(θ_G) = argmin_η ‖y − Φη‖² (a k(d+1)-dimensional linear least squares) and the
 * reduced objective S_r(θ_G) = S(θ_G, η*(θ_G)) is minimised over the gate's working parameters only.
 * Since ∂S/∂η = 0 along η*, (envelope theorem / implicit function theorem, with A = ∇²(S/2) in blocks)
 *   ∇S_r = ∂S/∂θ_G at (θ_G, η*)                           (one gradient pass, exact),
 *   ∇²(S_r/2) = A_GG − A_GE A_EE⁻¹ A_EG                     (Schur complement of the full Hessian),
 * and with the Gauss–Newton matrix JᵀJ in place of A the Schur complement is Kaufman's approximation
 * J_rᵀJ_r, J_r = (I − P_Φ) ∂(Φη)/∂θ_G (A_EE = ΦᵀΦ exactly for linear experts). The reduced problem is
 * handed to the projected Levenberg–Marquardt of src/numeric/lm.ts (gate box, KKT test, Newton
 * phase with the exact reduced Hessian where lse-hessian.ts has the full one) as an ordinary
 * least-squares problem in dim θ_G = (k−1)(d+1) parameters. This removes the expert/gate coupling
 * that makes the slow curved valleys of over-specified linear fits (two atoms of one cell trading
 * intercepts against the gate): every gate step sees the best experts for it.
 *
 * The inner solve, anchored (a proximal term): in an over-specified fit two atoms of one cell start
 * with nearly proportional gate weights, so ΦᵀΦ is nearly singular, and the exact η*(θ_G) uses the
 * tiny difference of their gates: two huge experts of opposite sign (|η| ~ 1/δ for a gate difference
 * δ). From a near-truth start the plain reduced problem jumps there at once and stalls in that
 * ill-conditioned "derivative" configuration (measured: 5 of 9 study jobs not converged, 4 at a
 * higher SSE than Levenberg–Marquardt). So round r minimises
 *   F_r(θ_G) = min_η ‖y − Φ(θ_G)η‖² + λ_r Σ_j D_j (η_j − η_ref,j)²,   D = diag(ΦᵀΦ) at the round's start,
 * with η_ref the experts at the round's start: (ΦᵀΦ + λ_r D) η = Φᵀy + λ_r D η_ref. The term is on each
 * atom's own contribution π_i·h_i (D equilibrates), so it blocks the cancelling pairs (contributions
 * ~1/δ) but not a small-weight atom whose intercept grows as its weight falls (moderate contribution).
 * The envelope theorem holds for F_r (the term does not depend on θ_G) with A_EE = ΦᵀΦ + λ_r D in the
 * Schur complements. λ falls 100× per round from 1e-6 to 1e-12, then rounds continue at 1e-12 (a
 * proximal-point iteration) until the gradient test on the FULL parameter vector passes, the SSE stops
 * falling, or the budget is spent. Each round is monotone: SSE_new ≤ F_r(θ_new) ≤ F_r(θ_old) = SSE_old.
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { RegressionExperts } from '../experts/regression.js';
import { choleskyInPlace, choleskySolveInPlace } from '../numeric/linalg.js';
import { expNonPositive } from '../numeric/fastmath.js';
import { levenbergMarquardt, type LeastSquaresProblem, type LMResult } from '../numeric/lm.js';
import { atActiveBound } from '../numeric/box.js';
import { cacheHolds, lseNormalEquations, lseObjective, markCache, type LSEWorkspace } from './lse-objective.js';
import { hasAnalyticHessian, lseHessian, LSEHessianWorkspace } from './lse-hessian.js';
import { gateMomentsKernel, projectMomentsKernel, residualKernel, varproKernelShape } from './lse-varpro-kernels.js';

/** λ of the first round, the factor per round and the floor (file comment). */
const LAMBDA_START = 1e-6;
const LAMBDA_FACTOR = 0.01;
const LAMBDA_MIN = 1e-12;
/** Rounds at most (each a full reduced Levenberg–Marquardt run; most fits need 3–5). */
const MAX_ROUNDS = 40;

/** Whether every expert is linear in its parameters (regression:linear), so variable projection applies. */
export function isSeparable(model: MixtureOfExperts): boolean {
  const e = model.expert;
  return e instanceof RegressionExperts && e.activation === 'linear' && !e.outputWeight;
}

/**
 * The reduced problem min_θG S_r(θ_G) as a `LeastSquaresProblem` (parameters = the gate's working
 * parameters). `full(θ_G)` gives the full parameter vector [θ_G | η*(θ_G)].
 */
export class VarproProblem implements LeastSquaresProblem {
  readonly p: number;
  readonly n: number;
  private readonly pE: number;
  private readonly pFull: number;
  /** [θ_G | η*] of the last projection, and whether it is valid for `lastG`. */
  private readonly theta: Float64Array;
  private readonly lastG: Float64Array;
  private lastValid = false;
  private lastSSE = Infinity;
  /** ΦᵀΦ (+ ridge), its factor, Φᵀy, refinement buffers. */
  private readonly A: Float64Array;
  private readonly L: Float64Array;
  private readonly c: Float64Array;
  private readonly phi: Float64Array;
  private readonly z: Float64Array;
  /** d = 1 moments of the projection: Σ πᵢπ_l (1, x, x²) for l ≤ i, Σ πᵢ y (1, x). */
  private readonly mom1: Float64Array;
  private readonly c1: Float64Array;
  private readonly JtJ: Float64Array;
  private readonly Jte: Float64Array;
  private readonly grad: Float64Array;
  private readonly Z: Float64Array;
  private readonly hws: LSEHessianWorkspace | undefined;
  /** Softmax gate: the Jacobian/Hessian blocks from per-row moments (softmaxMoments). */
  private readonly softmax: boolean;
  private readonly nuu: number;
  private readonly uu: Float64Array;
  private readonly mom: Float64Array;
  private readonly momB: Float64Array;
  private readonly cg: Float64Array;
  /** Passes over the data: projections (one exp pass + one residual sweep each), Jacobian, gradient, Hessian passes. */
  readonly counts = { projections: 0, normals: 0, gradients: 0, hessians: 0 };
  readonly hessian?: (thetaG: Float64Array, H: Float64Array, b: Float64Array) => number;
  /** Anchor: λ·D_ref (per expert coordinate) and η_ref of the proximal term. */
  private readonly lamD: Float64Array;
  private readonly etaRef: Float64Array;

  /** The reduced problem F of one round: anchor η_ref = the experts of theta0, weight λ (file comment). */
  /** The compiled d = 1 passes (lse-varpro-kernels.ts) are used (false: the loops below). */
  private readonly compiled: boolean;

  /** `generic`: the Jacobian/Hessian passes of lse-objective.ts / lse-hessian.ts even for softmax (to test the moment pass against). */
  /** `loops`: the loop passes even where compiled ones exist (to test them against each other). */
  constructor(private readonly model: MixtureOfExperts, private readonly data: Dataset, private readonly ws: LSEWorkspace, theta0: Float64Array, lambda: number, generic = false, loops = false) {
    this.compiled = !loops && varproKernelShape(model.k, data.d);
    this.p = model.gate.nParams;
    this.n = data.n;
    this.pE = model.expert.nParams;
    this.pFull = this.p + this.pE;
    this.theta = Float64Array.from(theta0);
    this.lastG = new Float64Array(this.p);
    const pE = this.pE;
    this.A = new Float64Array(pE * pE);
    this.L = new Float64Array(pE * pE);
    this.c = new Float64Array(pE);
    this.phi = new Float64Array(pE);
    this.z = new Float64Array(pE);
    this.mom1 = new Float64Array(((model.k * (model.k + 1)) / 2) * 3);
    this.c1 = new Float64Array(2 * model.k);
    this.JtJ = new Float64Array(this.pFull * this.pFull);
    this.Jte = new Float64Array(this.pFull);
    this.grad = new Float64Array(this.pFull);
    this.Z = new Float64Array(pE * this.p);
    this.softmax = hasAnalyticHessian(model) && !generic;
    const q = data.d + 1;
    this.nuu = (q * (q + 1)) / 2;
    this.uu = new Float64Array(this.nuu);
    const k = model.k;
    this.mom = new Float64Array(((k - 1) * k / 2 + (k - 1) * k) * this.nuu);
    this.momB = new Float64Array((k - 1) * q);
    this.cg = new Float64Array(k);
    this.hws = !this.softmax && hasAnalyticHessian(model) ? new LSEHessianWorkspace(model, data.n) : undefined;
    if (this.softmax || this.hws) this.hessian = (thetaG, H, b) => this.reducedHessian(thetaG, H, b);
    this.etaRef = theta0.slice(this.p);
    // D_ref = diag(ΦᵀΦ) at the start (a zero column, an expert whose weight underflows: 1)
    this.lamD = new Float64Array(pE).fill(1);
    this.project(theta0.subarray(0, this.p));
    for (let a = 0; a < pE; a++) this.lamD[a] = lambda * (this.A[a * pE + a] > 0 ? this.A[a * pE + a] : 1);
    this.lastValid = false;
  }

  /** [θ_G | η*(θ_G)] (a view, overwritten by the next projection at another θ_G). */
  full(thetaG: Float64Array): Float64Array {
    this.project(thetaG);
    return this.theta;
  }

  value(thetaG: Float64Array): number {
    return this.project(thetaG);
  }

  /** Kaufman's reduced Gauss–Newton system: JtJ_r = Schur complement of the full JᵀJ, Jte_r = (Jᵀe)_G. */
  normal(thetaG: Float64Array, JtJr: Float64Array, Jter: Float64Array): number {
    const s = this.project(thetaG);
    if (!Number.isFinite(s)) return Infinity;
    this.counts.normals++;
    const f = this.softmax ? this.softmaxMoments(false) : lseNormalEquations(this.model, this.theta, this.data, this.ws, this.JtJ, this.Jte);
    if (!Number.isFinite(f)) return Infinity;
    this.schur(this.JtJ, JtJr);
    for (let a = 0; a < this.p; a++) Jter[a] = this.Jte[a];
    return s;
  }

  /** ∇S_r = (∂S/∂θ_G) at (θ_G, η*(θ_G)) (envelope theorem). */
  gradient(thetaG: Float64Array, g: Float64Array): number {
    const s = this.project(thetaG);
    if (!Number.isFinite(s)) return Infinity;
    const f = lseObjective(this.model, this.theta, this.data, this.ws, this.grad);
    this.counts.gradients++;
    if (!Number.isFinite(f)) return Infinity;
    for (let a = 0; a < this.p; a++) g[a] = this.grad[a];
    return s;
  }

  /** Exact ∇²(S_r/2) = A_GG − A_GE A_EE⁻¹ A_EG from the full exact Hessian (softmax gate), and (Jᵀe)_G. */
  private reducedHessian(thetaG: Float64Array, Hr: Float64Array, br: Float64Array): number {
    const s = this.project(thetaG);
    if (!Number.isFinite(s)) return Infinity;
    this.counts.hessians++;
    const f = this.softmax ? this.softmaxMoments(true) : this.hws ? lseHessian(this.model, this.theta, this.data, this.hws, this.JtJ, this.Jte) : Infinity;
    if (!Number.isFinite(f)) return Infinity;
    this.schur(this.JtJ, Hr);
    for (let a = 0; a < this.p; a++) br[a] = this.Jte[a];
    return s;
  }

  /**
   * Softmax gate × linear experts at the projected θ (π and h cached by the projection): the full
   * Gauss–Newton matrix JᵀJ (hessian = false) or the exact Hessian of S/2 (hessian = true; the
   * formulas of lse-hessian.ts with ∂²h = 0) into this.JtJ, and Jᵀe into this.Jte, in one pass without
   * exponentials. With u = (1, x), g_j = π_j (h_j − f) and e = y − f, every gate–gate and gate–expert
   * block is Σ_t c_t·u uᵀ for one scalar c_t per pair:
   *   (β_j, β_l):  c = g_j g_l − e (δ_jl g_j − π_j g_l − π_l g_j)   (Gauss–Newton: g_j g_l),
   *   (β_j, η_i):  c = g_j π_i − e π_j (δ_ij − π_i)                   (Gauss–Newton: g_j π_i),
   * so the pass accumulates (k−1)(3k)/2 scalars × the (d+1)(d+2)/2 entries of u uᵀ per row; the
   * expert–expert block ΦᵀΦ is the projection's. Returns S, Infinity if the cache does not hold.
   */
  private softmaxMoments(hessian: boolean): number {
    const { model, data, ws, theta, uu, mom, momB, cg, nuu, p, pE, pFull, JtJ, Jte, A } = this;
    if (!cacheHolds(ws, theta)) return Infinity;
    const { k } = model;
    const { X, y, n, d } = data;
    const q = d + 1;
    const P = ws.P;
    const H = ws.H;
    const km = k - 1;
    const nGG = (km * (km + 1)) / 2;
    mom.fill(0);
    momB.fill(0);
    let sse = 0;
    let comp = 0;
    if (this.compiled) sse = gateMomentsKernel(k, hessian)(P, H, X, y, n, mom, momB);
    else for (let t = 0; t < n; t++) {
      const o = t * k;
      const xo = t * d;
      let f = 0;
      for (let i = 0; i < k; i++) {
        const pi = P[o + i];
        if (pi > 0) f += pi * H[o + i];
      }
      const e = y[t] - f;
      const term = e * e - comp;
      const next = sse + term;
      comp = next - sse - term;
      sse = next;
      for (let j = 0; j < km; j++) cg[j] = P[o + j] * (H[o + j] - f);
      // lower triangle of u uᵀ, u = (1, x)
      let w = 0;
      for (let a = 0; a < q; a++) {
        const ua = a === 0 ? 1 : X[xo + a - 1];
        for (let c = 0; c <= a; c++) uu[w++] = ua * (c === 0 ? 1 : X[xo + c - 1]);
      }
      for (let j = 0; j < km; j++) {
        const ge = cg[j] * e;
        for (let a = 0; a < q; a++) momB[j * q + a] += ge * uu[(a * (a + 1)) / 2]; // u_a = (u uᵀ)_{a,0}
      }
      let pair = 0;
      for (let j = 0; j < km; j++) {
        const gj = cg[j];
        const pj = P[o + j];
        for (let l = 0; l <= j; l++) {
          let c = gj * cg[l];
          if (hessian) c -= e * ((j === l ? gj : 0) - pj * cg[l] - P[o + l] * gj);
          if (c !== 0) for (let m = 0, b = pair * nuu; m < nuu; m++) mom[b + m] += c * uu[m];
          pair++;
        }
      }
      for (let j = 0; j < km; j++) {
        const gj = cg[j];
        const pj = P[o + j];
        for (let i = 0; i < k; i++) {
          const pi = P[o + i];
          let c = gj * pi;
          if (hessian) c -= e * pj * ((i === j ? 1 : 0) - pi);
          const b = (nGG + j * k + i) * nuu;
          if (c !== 0) for (let m = 0; m < nuu; m++) mom[b + m] += c * uu[m];
        }
      }
    }
    // expand: gate index j·q + a, expert index p + i·q + m; (u uᵀ)_{a,c} at the lower-triangle slot
    const slot = (a: number, c: number): number => (a >= c ? (a * (a + 1)) / 2 + c : (c * (c + 1)) / 2 + a);
    JtJ.fill(0);
    Jte.fill(0);
    for (let j = 0; j < km; j++) for (let a = 0; a < q; a++) Jte[j * q + a] = momB[j * q + a];
    let pair = 0;
    for (let j = 0; j < km; j++) {
      for (let l = 0; l <= j; l++) {
        for (let a = 0; a < q; a++) {
          for (let c = 0; c < q; c++) {
            const v = mom[pair * nuu + slot(a, c)];
            JtJ[(j * q + a) * pFull + l * q + c] = v;
            JtJ[(l * q + c) * pFull + j * q + a] = v;
          }
        }
        pair++;
      }
    }
    for (let j = 0; j < km; j++) {
      for (let i = 0; i < k; i++) {
        const b = (nGG + j * k + i) * nuu;
        for (let a = 0; a < q; a++) {
          for (let m = 0; m < q; m++) {
            const v = mom[b + slot(a, m)];
            JtJ[(j * q + a) * pFull + p + i * q + m] = v;
            JtJ[(p + i * q + m) * pFull + j * q + a] = v;
          }
        }
      }
    }
    for (let a = 0; a < pE; a++) for (let b = 0; b < pE; b++) JtJ[(p + a) * pFull + p + b] = A[a * pE + b];
    return Number.isFinite(sse) ? sse : Infinity;
  }

  /** out (pG×pG) = M_GG − M_GE (M_EE + λD)⁻¹ M_EG for a full symmetric M ((pG+pE)², row-major). */
  private schur(M: Float64Array, out: Float64Array): void {
    const { p, pE, pFull, L, Z } = this;
    for (let i = 0; i < pE; i++) {
      for (let j = 0; j < pE; j++) L[i * pE + j] = M[(p + i) * pFull + p + j];
      L[i * pE + i] += this.lamD[i];
    }
    if (!choleskyInPlace(L, pE)) {
      // cannot happen for a Gram matrix plus λD unless it holds NaN: drop the coupling
      for (let a = 0; a < p; a++) for (let b = 0; b < p; b++) out[a * p + b] = M[a * pFull + b];
      return;
    }
    const z = this.z;
    for (let a = 0; a < p; a++) {
      for (let i = 0; i < pE; i++) z[i] = M[(p + i) * pFull + a];
      choleskySolveInPlace(L, pE, z);
      for (let i = 0; i < pE; i++) Z[i * p + a] = z[i];
    }
    for (let a = 0; a < p; a++) {
      for (let b = 0; b <= a; b++) {
        let v = M[a * pFull + b];
        for (let i = 0; i < pE; i++) v -= M[a * pFull + p + i] * Z[i * p + b];
        out[a * p + b] = v;
        out[b * p + a] = v;
      }
    }
  }

  /**
   * η*(θ_G) into this.theta and S_r(θ_G): one pass for π and (ΦᵀΦ, Φᵀy), the ridged solve with
   * refinement, one residual sweep (compensated sum). Leaves π and h in the workspace's cache for
   * the full θ, so a Jacobian pass at the same point does not recompute them.
   */
  private project(thetaG: Float64Array): number {
    const { p, pE } = this;
    if (this.lastValid) {
      let same = true;
      for (let a = 0; a < p; a++) if (thetaG[a] !== this.lastG[a]) { same = false; break; }
      if (same) return this.lastSSE;
    }
    this.lastValid = false;
    this.counts.projections++;
    const { model, data, ws, A, L, c, phi, theta } = this;
    const { gate, k } = model;
    const { X, y, n, d } = data;
    const q = d + 1;
    for (let a = 0; a < p; a++) if (!Number.isFinite(thetaG[a])) return Infinity;
    if (gate.feasible && !gate.feasible(thetaG)) return Infinity;
    const P = ws.P;
    ws.cacheValid = false;
    const logits = this.softmax ? (gate as unknown as { logits?: (th: Float64Array, X: Float64Array, n: number, out: Float64Array) => void }).logits : undefined;
    if (logits) logits.call(gate, thetaG, X, n, P); // softmax: π = exp(z − max)/Σ from the logits (k exponentials a row, not 2k + a log)
    else gate.logWeights(thetaG, X, n, P);
    A.fill(0);
    c.fill(0);
    const { mom1, c1 } = this;
    mom1.fill(0);
    c1.fill(0);
    if (logits && this.compiled) projectMomentsKernel(k)(P, X, y, n, mom1, c1);
    else for (let t = 0; t < n; t++) {
      const o = t * k;
      const xo = t * d;
      if (logits) {
        let mx = -Infinity;
        for (let i = 0; i < k; i++) if (P[o + i] > mx) mx = P[o + i];
        let sum = 0;
        for (let i = 0; i < k; i++) {
          const v = expNonPositive(P[o + i] - mx);
          P[o + i] = v;
          sum += v;
        }
        const inv = 1 / sum;
        for (let i = 0; i < k; i++) P[o + i] *= inv;
      }
      if (d === 1) {
        // d = 1: the blocks of ΦᵀΦ are Σ πᵢπ_l·(1, x, x²) and of Φᵀy Σ πᵢ y·(1, x) (fewer products than φφᵀ)
        const x = X[t];
        const x2 = x * x;
        const yt = y[t];
        for (let i = 0, m = 0; i < k; i++) {
          const pi = logits ? P[o + i] : expNonPositive(P[o + i]);
          P[o + i] = pi;
          const py = pi * yt;
          c1[2 * i] += py;
          c1[2 * i + 1] += py * x;
          for (let l = 0; l <= i; l++, m += 3) {
            const w = pi * P[o + l];
            mom1[m] += w;
            mom1[m + 1] += w * x;
            mom1[m + 2] += w * x2;
          }
        }
        continue;
      }
      for (let i = 0; i < k; i++) {
        const pi = logits ? P[o + i] : expNonPositive(P[o + i]);
        P[o + i] = pi;
        const b = i * q;
        phi[b] = pi;
        for (let u = 0; u < d; u++) phi[b + 1 + u] = pi * X[xo + u];
      }
      const yt = y[t];
      for (let a = 0; a < pE; a++) {
        const fa = phi[a];
        if (fa === 0) continue;
        c[a] += fa * yt;
        const row = a * pE;
        for (let b = 0; b <= a; b++) A[row + b] += fa * phi[b];
      }
    }
    if (d === 1) {
      for (let i = 0, m = 0; i < k; i++) {
        c[2 * i] = c1[2 * i];
        c[2 * i + 1] = c1[2 * i + 1];
        for (let l = 0; l <= i; l++, m += 3) {
          A[2 * i * pE + 2 * l] = mom1[m];
          A[2 * i * pE + 2 * l + 1] = mom1[m + 1];
          A[(2 * i + 1) * pE + 2 * l] = mom1[m + 1];
          A[(2 * i + 1) * pE + 2 * l + 1] = mom1[m + 2];
        }
      }
      for (let a = 0; a < pE; a++) for (let b = 0; b < a; b++) A[b * pE + a] = A[a * pE + b];
    } else {
      for (let a = 0; a < pE; a++) for (let b = 0; b < a; b++) A[b * pE + a] = A[a * pE + b];
    }
    // (ΦᵀΦ + λD) η = Φᵀy + λD η_ref (file comment)
    const eta = theta.subarray(p);
    const { lamD, etaRef } = this;
    L.set(A);
    for (let a = 0; a < pE; a++) {
      L[a * pE + a] += lamD[a];
      eta[a] = c[a] + lamD[a] * etaRef[a];
    }
    if (!choleskyInPlace(L, pE)) return Infinity;
    choleskySolveInPlace(L, pE, eta);
    for (let a = 0; a < p; a++) theta[a] = thetaG[a];
    // residual sweep: h_ti = bᵢ + aᵢᵀx_t into ws.H (the cache of the full θ), compensated SSE
    const H = ws.H;
    let sse = 0;
    let comp = 0;
    if (this.compiled) sse = residualKernel(k)(eta, P, X, y, n, H);
    else for (let t = 0; t < n; t++) {
      const o = t * k;
      const xo = t * d;
      let f = 0;
      for (let i = 0; i < k; i++) {
        const b = i * q;
        let h = eta[b];
        for (let u = 0; u < d; u++) h += eta[b + 1 + u] * X[xo + u];
        H[o + i] = h;
        const pi = P[o + i];
        if (pi > 0) f += pi * h;
      }
      const e = y[t] - f;
      const term = e * e - comp;
      const next = sse + term;
      comp = next - sse - term;
      sse = next;
    }
    if (!Number.isFinite(sse)) return Infinity;
    markCache(ws, theta);
    for (let a = 0; a < pE; a++) sse += lamD[a] * (eta[a] - etaRef[a]) ** 2; // F = SSE + the anchor term
    this.lastG.set(thetaG);
    this.lastValid = true;
    this.lastSSE = sse;
    return sse;
  }
}

/** S(θ) and ‖∇(S/n)‖∞ over the coordinates not held at an active bound of the box (the KKT test of lm.ts) at the full θ. */
export function fullGradientTest(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: LSEWorkspace, box: Float64Array | undefined): { sse: number; gInf: number } {
  const g = new Float64Array(theta.length);
  const sse = lseObjective(model, theta, data, ws, g);
  let gInf = 0;
  for (let i = 0; i < g.length; i++) {
    if (box && atActiveBound(theta[i], -g[i], box[i])) continue;
    gInf = Math.max(gInf, Math.abs(g[i]) / data.n);
  }
  return { sse, gInf };
}

export interface VarproOptions {
  maxIter: number;
  gtol: number;
  /** Box of the full parameter vector (only the gate block is used: the experts are solved unconstrained). */
  box?: Float64Array;
  deadline?: number;
  onIteration?: (iteration: number, f: number, gradNorm2: number) => void;
}

export interface VarproResult {
  /** Full parameters [θ_G | η]. */
  theta: Float64Array;
  sse: number;
  /** ‖∇(S/n)‖∞ at theta (KKT with the gate box), the full gradient test. */
  gradInf: number;
  converged: boolean;
  /** Accepted and all steps of the reduced Levenberg–Marquardt runs, summed over rounds. */
  iterations: number;
  steps: number;
  rounds: number;
  /** Stop reason of the last round's solver. */
  reason: LMResult['reason'];
  /** Passes over the data, summed over rounds. */
  counts: VarproProblem['counts'];
}

/**
 * Variable projection with anchored rounds (file comment) from the full θ0: returns the full
 * parameters, their SSE and the full gradient test. Stationarity: ‖∇(S/n)‖∞ ≤ gtol·max(1, S/n), as lm.ts.
 */
export function varproFit(model: MixtureOfExperts, theta0: Float64Array, data: Dataset, ws: LSEWorkspace, options: VarproOptions): VarproResult {
  const pG = model.gate.nParams;
  const boxG = options.box?.subarray(0, pG);
  const tol = (sse: number): number => options.gtol * Math.max(1, sse / data.n);
  let theta = theta0.slice();
  let test = fullGradientTest(model, theta, data, ws, options.box);
  const counts = { projections: 0, normals: 0, gradients: 0, hessians: 0 };
  let steps = 0;
  let iterations = 0;
  let rounds = 0;
  let reason: LMResult['reason'] = 'gtol';
  let lambda = LAMBDA_START;
  while (test.gInf > tol(test.sse) && steps < options.maxIter && rounds < MAX_ROUNDS) {
    rounds++;
    const problem = new VarproProblem(model, data, ws, theta, lambda);
    const done = iterations;
    const res = levenbergMarquardt(problem, theta.subarray(0, pG), {
      maxIter: options.maxIter - steps,
      gtol: options.gtol,
      bounds: boxG,
      deadline: options.deadline,
      onIteration: options.onIteration ? (it, f, g) => options.onIteration?.(done + it, f, g) : undefined,
    });
    for (const key of Object.keys(counts) as (keyof typeof counts)[]) counts[key] += problem.counts[key];
    steps += res.steps;
    iterations += res.iterations;
    reason = res.reason;
    const next = problem.full(res.x).slice();
    const t = fullGradientTest(model, next, data, ws, options.box);
    const progress = test.sse - t.sse;
    if (t.sse <= test.sse) {
      theta = next;
      test = t;
    }
    if (res.reason === 'timeLimit' || res.reason === 'nonFinite') break;
    // at the floor, a round that no longer lowers the SSE ends the rounds (the full LM finishes, lse.ts)
    if (lambda <= LAMBDA_MIN && !(progress > 1e-14 * test.sse)) break;
    lambda = Math.max(LAMBDA_MIN, lambda * LAMBDA_FACTOR);
  }
  const converged = test.gInf <= tol(test.sse);
  return { theta, sse: test.sse, gradInf: test.gInf, converged, iterations, steps, rounds, reason: converged ? 'gtol' : reason, counts };
}
