/**
 * Maximum-likelihood estimation by EM (math-spec §9.1), accelerated and finished so that fits
 * actually reach the maximum:
 *
 *  1. EM map F(θ): E-step in log space, then each family's own weighted M-step (experts closed
 *     form / IRLS, gate exact Newton warm-started).
 *  2. SQUAREM (Varadhan & Roland 2008, scheme S3 with the step-length adaptation of the SQUAREM
 *     package) on the working-parameter vector θ, with a monotonicity safeguard: an extrapolated
 *     point is kept only if its log-likelihood is ≥ that of the last EM iterate, so the sequence of
 *     log-likelihoods never decreases.
 *  3. A finish that makes the fit reach the maximum, not just a small relative change: the
 *     relative-change rule stops far from the maximum in over-specified fits, where EM crawls
 *     along flat ridges (measured: 4.75 log-likelihood units short at n = 1e5, k = 3 over k* = 2).
 *     After that stop, up to `finishMaxIter` more accelerated iterations run while
 *     ‖∇(ℓ/n)‖∞ > gtol (the gradient comes from Fisher's identity, ∇ℓ(θ) = ∇_θ Q(θ | θ), at no
 *     extra E-step); then L-BFGS in the BHHH metric (the outer product of the per-row scores,
 *     recomputed every `polishRound` iterations so the metric follows the local curvature) with
 *     a trust radius, until ‖∇(ℓ/n)‖∞ ≤ gtol. It only ever accepts points with a higher
 *     likelihood, so the result is never below the EM iterate it started from.
 *
 * Restarts keep the best log-likelihood (as scikit-learn's mixture base class does).
 */
import { validateDataset } from './validate.js';
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelSpec } from '../model/model.js';
import type { GateState } from '../gates/gate.js';
import { Rng } from '../numeric/rng.js';
import { lbfgs } from '../numeric/lbfgs.js';
import { choleskyInPlace } from '../numeric/linalg.js';
import { initialise, type InitSpec } from './init.js';
import { OptionError } from '../errors.js';
import { expNonPositive, LOG_BLOCK } from '../numeric/fastmath.js';
import { combineKernel, type CombineKernel } from './e-step-kernel.js';
import { atActiveBound, clipToBox } from '../numeric/box.js';

export interface EMOptions {
  /** Stop when |ℓ_new − ℓ_old| ≤ tol·|ℓ_old| between successive accelerated cycles. Default 1e-8. */
  tol?: number;
  /** Maximum EM map evaluations per restart. Default 2000. */
  maxIter?: number;
  /** Number of starts; the best log-likelihood is kept. Default 1. */
  restarts?: number;
  /** Initialisation. Default kmeans++. */
  init?: InitSpec;
  /** Seed of the initialisations (restart r uses stream split('restart', r)). Default 1. */
  seed?: number | bigint;
  /** 'squarem' (default) or 'none' (plain EM). */
  accelerate?: 'squarem' | 'none';
  /**
   * Finish (default true): after the relative-change stop, keep iterating until ‖∇(ℓ/n)‖∞ ≤ gtol
   * (or EM stalls), then, if still above gtol, a trust-limited L-BFGS in the BHHH metric.
   */
  polish?: boolean;
  /** Gradient tolerance of the finish: ‖∇(ℓ/n)‖∞ ≤ gtol. Default 1e-7. */
  gtol?: number;
  /**
   * Budget of the accelerated-EM part of the finish, in EM map evaluations beyond the
   * relative-change stop. Default 10; then the L-BFGS part takes over.
   */
  finishMaxIter?: number;
  /** Maximum L-BFGS iterations of the finish. Default 300. */
  polishMaxIter?: number;
  /** L-BFGS iterations per round of the finish before the BHHH metric is recomputed. Default 10. */
  polishRound?: number;
  /**
   * Trust radius of the finish, in log-likelihood units: each L-BFGS step is capped so that the
   * quadratic model in the BHHH metric predicts a change of at most this much. It keeps the finish
   * in the basin EM was converging to; over-specified likelihoods have degenerate directions
   * (a component collapsing onto a few points) that an unconstrained quasi-Newton step can jump
   * into. Default 1.
   */
  polishTrust?: number;
  /**
   * Compact Θ for the gate (math-spec §1.2 A.3): every gate working parameter (for the softmax
   * gate β₀ⱼ and β₁ⱼ relative to the reference expert) is kept in [−gateBound, gateBound]. The gate
   * M-step becomes projected Newton, starts and extrapolations are clipped into the box, and the
   * gradient tests (and the reported gradient norm) ignore components that point out of the box at
   * an active bound (the KKT conditions). Default: no bound. Softmax and modified gates only.
   */
  gateBound?: number;
  /** Inner iterations / tolerance of the gate M-step (Newton). Defaults 50 / 1e-12. */
  gateMaxIter?: number;
  gateTol?: number;
  /** Inner iterations / tolerance of iterative expert M-steps (IRLS). Defaults 50 / 1e-12. */
  expertMaxIter?: number;
  expertTol?: number;
  /** Called after every accepted cycle with (iteration count, log-likelihood). */
  onProgress?: (iterations: number, logLikelihood: number) => void;
}

export interface FitResult {
  model: MixtureOfExperts;
  /** Σ_t log p(y_t | x_t) at the returned model. */
  logLikelihood: number;
  /** Log-likelihood after each accepted cycle of the best restart (then the finish). */
  trace: number[];
  /** EM map evaluations of the best restart (plus L-BFGS iterations of its finish). */
  iterations: number;
  /** The relative-change criterion was met and the gradient norm is below gtol (or no finish). */
  converged: boolean;
  /** Euclidean norm of ∇(ℓ/n) with respect to the working parameters, at the returned model. */
  gradientNorm: number;
  restarts: number;
  /** Log-likelihood reached by each restart. */
  restartLogLikelihoods: number[];
  /** Wall time of the fit (all restarts), in seconds. */
  seconds: number;
  warnings: string[];
}

/** Reusable per-fit buffers: no allocation inside iterations. */
export class EMWorkspace {
  readonly R: Float64Array;
  readonly S: Float64Array;
  readonly gradG: Float64Array;
  readonly gradE: Float64Array;
  /** Gate weights π at the θ of the last E-step (logit gates only), and its gate objective. */
  readonly G: Float64Array;
  readonly gateInfo = new Float64Array(1);
  /** Gate part of the θ of the last E-step, and whether G / gateInfo describe it. */
  readonly gateTheta: Float64Array;
  gateValid = false;
  /** Box on the gate parameters (EMOptions.gateBound); points outside are infeasible. */
  gateBound = Infinity;
  /** The compiled E-step combine for this model (two experts use a hand-written path instead). */
  readonly combine: CombineKernel;
  constructor(readonly model: MixtureOfExperts, readonly n: number) {
    const logits = model.gate.logits !== undefined;
    this.combine = combineKernel(model.k, !logits, logits);
    this.R = new Float64Array(n * model.k);
    this.S = new Float64Array(n * model.k);
    this.gradG = new Float64Array(model.gate.nParams);
    this.gradE = new Float64Array(model.expert.nParams);
    this.G = new Float64Array(model.gate.logits ? n * model.k : 0);
    this.gateTheta = new Float64Array(model.gate.nParams);
  }

  /** The E-step's `GateState` if it was computed at this gate θ, else undefined. */
  gateState(thetaGate: Float64Array): GateState | undefined {
    if (!this.gateValid) return undefined;
    for (let i = 0; i < thetaGate.length; i++) if (thetaGate[i] !== this.gateTheta[i]) return undefined;
    return { weights: this.G, objective: this.gateInfo[0] };
  }
}

function feasible(model: MixtureOfExperts, theta: Float64Array, gateBound: number): boolean {
  for (let i = 0; i < theta.length; i++) if (!Number.isFinite(theta[i])) return false;
  const g = model.gate;
  const e = model.expert;
  for (let i = 0; i < g.nParams; i++) if (Math.abs(theta[i]) > gateBound) return false;
  if (g.feasible && !g.feasible(theta.subarray(0, g.nParams))) return false;
  if (e.feasible && !e.feasible(theta.subarray(g.nParams))) return false;
  return true;
}

/**
 * E-step at θ: responsibilities into ws.R, returns ℓ(θ). Non-finite (−Infinity) if some row has
 * zero likelihood or θ is infeasible.
 *
 * With a gate that supplies logits z (log π = z − lse z) and a_ti = z_ti + log f_ti, the row's
 * log-likelihood is lse(a) − lse(z) and its posteriors are softmax(a). The logs of the row sums
 * are taken once per LOG_BLOCK rows as the log of their product (each ratio lies in [1/k, k]),
 * and exps use `expNonPositive`: the E-step runs in every EM map and every finish evaluation.
 */
export function eStep(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace): number {
  const { gate, expert, k } = model;
  const { X, y, n } = data;
  ws.gateValid = false;
  if (!feasible(model, theta, ws.gateBound)) return -Infinity;
  const R = ws.R;
  const S = ws.S;
  const G = ws.G;
  const thetaGate = theta.subarray(0, gate.nParams);
  const normalised = gate.logits === undefined;
  if (gate.logits) gate.logits(thetaGate, X, n, R);
  else gate.logWeights(thetaGate, X, n, R);
  expert.logDensity(theta.subarray(gate.nParams), X, y, n, S);
  let ll = 0;
  let prod = 1;
  let count = 0;
  if (k === 2) {
    // two experts: R_t0 = 1/(1 + e^{a1−a0}) with one exp per row (two with logits, and then the
    // gate state too: π and Σ R log π = Σ r0(z0 − mz) + r1(z1 − mz) − log(1 + e^{−|z0−z1|}))
    let qg = 0;
    let prodz = 1;
    for (let t = 0; t < n; t++) {
      const z0 = R[2 * t];
      const z1 = R[2 * t + 1];
      const a0 = z0 + S[2 * t];
      const a1 = z1 + S[2 * t + 1];
      const ma = a0 > a1 ? a0 : a1;
      if (!(ma > -Infinity)) return -Infinity;
      const e = expNonPositive(-Math.abs(a0 - a1)); // in [0, 1]; NaN propagates
      const r0 = a0 >= a1 ? 1 / (1 + e) : e / (1 + e);
      R[2 * t] = r0;
      R[2 * t + 1] = 1 - r0;
      if (normalised) {
        ll += ma;
        prod *= 1 + e;
      } else {
        const mz = z0 > z1 ? z0 : z1;
        const ez = expNonPositive(-Math.abs(z0 - z1));
        ll += ma - mz;
        prod *= (1 + e) / (1 + ez);
        const pz0 = z0 >= z1 ? 1 / (1 + ez) : ez / (1 + ez);
        G[2 * t] = pz0;
        G[2 * t + 1] = 1 - pz0;
        qg += r0 * (z0 - mz) + (1 - r0) * (z1 - mz);
        prodz *= 1 + ez;
      }
      if (++count === LOG_BLOCK) {
        ll += Math.log(prod);
        prod = 1;
        if (!normalised) {
          qg -= Math.log(prodz);
          prodz = 1;
        }
        count = 0;
      }
    }
    ll += Math.log(prod);
    if (!normalised) setGateState(ws, thetaGate, qg - Math.log(prodz));
    return ll === ll ? ll : -Infinity;
  }
  const combined = ws.combine(R, S, n, G, ws.gateInfo);
  if (!normalised) setGateState(ws, thetaGate, ws.gateInfo[0]);
  return combined === combined ? combined : -Infinity;
}

function setGateState(ws: EMWorkspace, thetaGate: Float64Array, objective: number): void {
  ws.gateInfo[0] = objective;
  ws.gateTheta.set(thetaGate);
  ws.gateValid = Number.isFinite(objective);
}

interface MStepSettings {
  gate: { maxIter: number; tol: number; bound?: number };
  expert: { maxIter: number; tol: number };
}

/** M-step in place on θ given ws.R. */
function mStep(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, s: MStepSettings): void {
  const { gate, expert } = model;
  expert.mStep(theta.subarray(gate.nParams), data.X, data.y, data.n, ws.R, s.expert);
  const thetaGate = theta.subarray(0, gate.nParams);
  gate.mStep(thetaGate, data.X, data.n, ws.R, s.gate, ws.gateState(thetaGate));
}

/**
 * ∇ℓ(θ) (not divided by n) into grad, via Fisher's identity; returns ℓ(θ). Leaves posteriors in ws.R.
 */
export function logLikelihoodGradient(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, grad: Float64Array): number {
  const ll = eStep(model, theta, data, ws);
  if (!Number.isFinite(ll)) return ll;
  gradientFromPosteriors(model, theta, data, ws, grad);
  return ll;
}

/** ∇ℓ(θ) into grad given that ws.R already holds the posteriors at θ (no E-step). */
function gradientFromPosteriors(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, grad: Float64Array): void {
  const { gate, expert } = model;
  const thetaGate = theta.subarray(0, gate.nParams);
  gate.gradQ(thetaGate, data.X, data.n, ws.R, ws.gradG, ws.gateState(thetaGate)?.weights);
  expert.gradQ(theta.subarray(gate.nParams), data.X, data.y, data.n, ws.R, ws.gradE);
  grad.set(ws.gradG, 0);
  grad.set(ws.gradE, gate.nParams);
}

/**
 * Σ_t g_t g_tᵀ (lower triangle of a p×p row-major matrix) of the per-row scores at θ, from the
 * posteriors in ws.R; undefined when a family has no `rowGradQ`. By blocks of rows: the families
 * write a block's per-row scores, the block is transposed into contiguous columns and every entry
 * is a dot product of two columns (long inner loops; a per-row p×p update is 3× slower), with no
 * n×p arrays allocated.
 */
export function scoreOuterProduct(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace): Float64Array | undefined {
  const { gate, expert } = model;
  if (!gate.rowGradQ || !expert.rowGradQ) return undefined;
  const n = data.n;
  const pg = gate.nParams;
  const pe = expert.nParams;
  const p = pg + pe;
  const B = new Float64Array(p * p);
  const BLOCK = 512;
  const { X, y } = data;
  const d = data.d;
  const k = model.k;
  const G = new Float64Array(BLOCK * pg);
  const E = new Float64Array(BLOCK * pe);
  const cols = new Float64Array(p * BLOCK);
  const thetaGate = theta.subarray(0, pg);
  const thetaExpert = theta.subarray(pg);
  for (let t0 = 0; t0 < n; t0 += BLOCK) {
    const len = Math.min(BLOCK, n - t0);
    const Xb = X.subarray(t0 * d, (t0 + len) * d);
    const Rb = ws.R.subarray(t0 * k, (t0 + len) * k);
    gate.rowGradQ(thetaGate, Xb, len, Rb, G);
    expert.rowGradQ(thetaExpert, Xb, y.subarray(t0, t0 + len), len, Rb, E);
    for (let u = 0; u < len; u++) {
      for (let i = 0; i < pg; i++) cols[i * BLOCK + u] = G[u * pg + i];
      for (let i = 0; i < pe; i++) cols[(pg + i) * BLOCK + u] = E[u * pe + i];
    }
    for (let i = 0; i < p; i++) {
      const oi = i * BLOCK;
      for (let j = 0; j <= i; j++) {
        const oj = j * BLOCK;
        let s0 = 0;
        let s1 = 0;
        let u = 0;
        for (; u + 1 < len; u += 2) {
          s0 += cols[oi + u] * cols[oj + u];
          s1 += cols[oi + u + 1] * cols[oj + u + 1];
        }
        if (u < len) s0 += cols[oi + u] * cols[oj + u];
        B[i * p + j] += s0 + s1;
      }
    }
  }
  return B;
}

/**
 * Cholesky factor L of the BHHH matrix B = (1/n) Σ_t g_t g_tᵀ (g_t the per-row scores at θ, from
 * ws.R), or undefined when a family has no `rowGradQ`. B estimates the Fisher information per
 * observation, the Hessian of −ℓ/n at the maximum; L-BFGS in z = Lᵀ(θ − θ₀) then starts from a
 * Fisher-scoring step and sees a well-scaled problem. A small ridge keeps B positive definite in
 * the flat directions of over-specified fits.
 */
function bhhhFactor(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, held?: Uint8Array): Float64Array | undefined {
  const B = scoreOuterProduct(model, theta, data, ws);
  if (!B) return undefined;
  const n = data.n;
  const p = model.gate.nParams + model.expert.nParams;
  let tr = 0;
  for (let i = 0; i < p; i++) tr += B[i * p + i];
  for (let i = 0; i < p; i++) for (let j = 0; j <= i; j++) B[i * p + j] /= n;
  tr /= n * p;
  if (!(tr > 0)) return undefined;
  if (held) {
    // coordinates held at a bound of the gate box: decoupled, unit-scale rows (their z stays 0)
    for (let i = 0; i < p; i++) {
      if (!held[i]) continue;
      for (let j = 0; j < p; j++) {
        if (j < i) B[i * p + j] = 0;
        else if (j > i) B[j * p + i] = 0;
      }
      B[i * p + i] = tr;
    }
  }
  for (let ridge = 1e-10; ridge <= 1e-2; ridge *= 100) {
    const L = new Float64Array(p * p);
    for (let i = 0; i < p; i++) for (let j = 0; j <= i; j++) L[i * p + j] = B[i * p + j] + (i === j ? ridge * tr : 0);
    if (choleskyInPlace(L, p)) {
      for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) L[i * p + j] = 0;
      return L;
    }
  }
  return undefined;
}

interface RunResult {
  theta: Float64Array;
  ll: number;
  trace: number[];
  iterations: number;
  emConverged: boolean;
  gradientNorm: number;
  gradConverged: boolean;
  /** The finish ended above gtol: the likelihood still rises along a flat direction. */
  ridge: boolean;
}

/**
 * ‖∇ℓ‖∞ without the gate components that point out of the box at an active bound (the KKT
 * conditions of the box-constrained maximum; the plain ‖∇ℓ‖∞ when B = ∞).
 */
function stationarity(grad: Float64Array, theta: Float64Array, pg: number, B: number): number {
  let m = 0;
  for (let i = 0; i < grad.length; i++) {
    if (i < pg && atActiveBound(theta[i], grad[i], B)) continue;
    m = Math.max(m, Math.abs(grad[i]));
  }
  return m;
}

function norm2(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** One EM run from θ0 (copied). */
export function runEM(model: MixtureOfExperts, theta0: Float64Array, data: Dataset, options: EMOptions = {}): RunResult {
  const tol = options.tol ?? 1e-8;
  const maxIter = options.maxIter ?? 2000;
  const accelerate = options.accelerate ?? 'squarem';
  const settings: MStepSettings = {
    gate: { maxIter: options.gateMaxIter ?? 50, tol: options.gateTol ?? 1e-12, ...(options.gateBound !== undefined ? { bound: options.gateBound } : {}) },
    expert: { maxIter: options.expertMaxIter ?? 50, tol: options.expertTol ?? 1e-12 },
  };
  const ws = new EMWorkspace(model, data.n);
  const B = options.gateBound ?? Infinity;
  const pg = model.gate.nParams;
  ws.gateBound = B;
  const p = theta0.length;
  const th0 = theta0.slice();
  clipToBox(th0, 0, pg, B); // a start outside the box is moved onto it
  const th1 = new Float64Array(p);
  const th2 = new Float64Array(p);
  const thx = new Float64Array(p);
  const trace: number[] = [];
  let iterations = 0;
  let ll0 = eStep(model, th0, data, ws);
  if (!Number.isFinite(ll0)) throw new OptionError('initial model gives zero likelihood to some rows (log-likelihood −∞); choose another initialisation');
  trace.push(ll0);
  let emConverged = false;
  const finish = options.polish ?? true;
  const gtol = options.gtol ?? 1e-7;
  const n = data.n;
  const grad = new Float64Array(p);
  let stalled = 0;
  let convergedAt = 0;
  let gradFresh = false;
  const finishMaxIter = options.finishMaxIter ?? 10;
  let stepMax = 1; // SQUAREM step.max0 = 1, mstep = 4
  const stepMin = 1;
  while (iterations < maxIter) {
    // θ1 = F(θ0) (ws.R holds the posteriors at θ0)
    th1.set(th0);
    mStep(model, th1, data, ws, settings);
    iterations++;
    let llNew: number;
    if (accelerate === 'none') {
      llNew = eStep(model, th1, data, ws);
      th0.set(th1);
    } else {
      const ll1 = eStep(model, th1, data, ws);
      if (!Number.isFinite(ll1)) throw new Error('EM produced an infeasible iterate (log-likelihood −∞)');
      th2.set(th1);
      mStep(model, th2, data, ws, settings);
      iterations++;
      // SQUAREM S3: r = θ1 − θ0, v = (θ2 − θ1) − r, α = ‖r‖/‖v‖ clamped to [stepMin, stepMax]
      let sr = 0;
      let sv = 0;
      for (let i = 0; i < p; i++) {
        const r = th1[i] - th0[i];
        const v = th2[i] - th1[i] - r;
        sr += r * r;
        sv += v * v;
      }
      let alpha = sv > 0 ? Math.sqrt(sr / sv) : 1;
      alpha = Math.max(stepMin, Math.min(stepMax, alpha));
      let accepted = false;
      if (alpha > 1) {
        for (let i = 0; i < p; i++) {
          const r = th1[i] - th0[i];
          const v = th2[i] - th1[i] - r;
          thx[i] = th0[i] + 2 * alpha * r + alpha * alpha * v;
        }
        clipToBox(thx, 0, pg, B); // an extrapolation past the box is cut back onto it
        const llx = eStep(model, thx, data, ws);
        if (Number.isFinite(llx) && llx >= ll1) {
          // stabilisation step: θ ← F(θx), ℓ(F(θx)) ≥ ℓ(θx) ≥ ℓ(θ1) ≥ ℓ(θ0)
          mStep(model, thx, data, ws, settings);
          iterations++;
          th0.set(thx);
          accepted = true;
          if (alpha === stepMax) stepMax *= 4;
        } else if (alpha === stepMax) {
          stepMax = Math.max(1, stepMax / 4);
        }
      } else if (alpha === stepMax) {
        stepMax *= 4;
      }
      if (!accepted) th0.set(th2);
      llNew = eStep(model, th0, data, ws);
    }
    if (!Number.isFinite(llNew)) throw new Error('EM produced an infeasible iterate (log-likelihood −∞)');
    const change = llNew - ll0;
    ll0 = llNew;
    trace.push(llNew);
    options.onProgress?.(iterations, llNew);
    gradFresh = false;
    if (!emConverged && Math.abs(change) <= tol * Math.abs(llNew)) {
      emConverged = true;
      convergedAt = iterations;
      if (!finish) break;
    }
    // Near convergence (or in the finish) test the gradient (ws.R holds the posteriors at th0, so it
    // costs no E-step): a stationary point is the goal, whatever the relative change says.
    if (emConverged || (finish && Math.abs(change) <= 1e-6 * Math.abs(llNew))) {
      gradientFromPosteriors(model, th0, data, ws, grad);
      gradFresh = true;
      if (stationarity(grad, th0, pg, B) / n <= gtol) {
        emConverged = true;
        break;
      }
      if (emConverged) {
        stalled = change <= 1e-15 * Math.abs(llNew) ? stalled + 1 : 0;
        if (stalled >= 3) break;
        if (iterations - convergedAt >= finishMaxIter) break;
      }
    }
  }
  // gradient at the EM result (ws.R holds the posteriors at th0)
  if (!gradFresh) gradientFromPosteriors(model, th0, data, ws, grad);
  let ll = ll0;
  const gradInf = stationarity(grad, th0, pg, B) / n;
  let theta: Float64Array = th0;
  if (finish && emConverged && gradInf > gtol) {
    // EM is slow here: a trust-limited quasi-Newton finish in the BHHH metric (kept only if ℓ increases)
    const polished = polish(model, th0, ll0, data, ws, { gtol, maxIter: options.polishMaxIter ?? 300, trust: options.polishTrust ?? 1, round: options.polishRound ?? 10 });
    iterations += polished.iterations;
    if (polished.ll > ll) {
      theta = polished.theta;
      ll = logLikelihoodGradient(model, theta, data, ws, grad);
      trace.push(ll);
    } else {
      eStep(model, th0, data, ws);
    }
  }
  for (let i = 0; i < p; i++) grad[i] /= n;
  // with a gate box: the components held at an active bound are not part of the stationarity test
  for (let i = 0; i < pg; i++) if (atActiveBound(theta[i], grad[i], B)) grad[i] = 0;
  const gradientNorm = norm2(grad);
  let gInf = 0;
  for (let i = 0; i < p; i++) gInf = Math.max(gInf, Math.abs(grad[i]));
  const ridge = finish && emConverged && gInf > gtol;
  return { theta, ll, trace, iterations, emConverged, gradientNorm, gradConverged: gInf <= gtol, ridge };
}

/**
 * L-BFGS on f(θ) = −ℓ(θ)/n from θ₀, in the BHHH metric when the families provide per-row scores
 * (θ = θ₀ + L⁻ᵀz, ∇_z f = L⁻¹∇_θ f), else in θ directly. Returns the best point (ℓ never below ℓ(θ₀)).
 */
function polish(model: MixtureOfExperts, theta0: Float64Array, ll0: number, data: Dataset, ws: EMWorkspace, opts: { gtol: number; maxIter: number; trust: number; round: number }): { theta: Float64Array; ll: number; iterations: number } {
  const p = theta0.length;
  const n = data.n;
  const base = theta0.slice(); // the centre of the current round
  const theta = new Float64Array(p);
  const gth = new Float64Array(p);
  let L: Float64Array | undefined;
  let best = ll0;
  const bestTheta = theta0.slice();
  const signal = { aborted: false };
  // gate box (EMOptions.gateBound): coordinates at an active bound are held for the round, trial
  // points are clipped into the box, and a clipped coordinate pushing outward gets zero gradient
  const B = ws.gateBound;
  const pg = model.gate.nParams;
  const bounded = Number.isFinite(B);
  const held = new Uint8Array(p);
  const gproj = new Float64Array(p);
  const toTheta = (z: Float64Array): void => {
    // θ = base + L⁻ᵀ z: back substitution with Lᵀ (upper triangular)
    if (!L) {
      for (let i = 0; i < p; i++) theta[i] = base[i] + z[i];
      return;
    }
    for (let i = p - 1; i >= 0; i--) {
      let s = z[i];
      for (let j = i + 1; j < p; j++) s -= L[j * p + i] * theta[j];
      theta[i] = s / L[i * p + i];
    }
    for (let i = 0; i < p; i++) theta[i] += base[i];
  };
  // ℓ and ∇ℓ at the round's centre, computed with its BHHH matrix: L-BFGS starts by evaluating there
  let centreLL = NaN;
  const centreGrad = new Float64Array(p);
  const fg = (z: Float64Array, g: Float64Array): number => {
    let atCentre = Number.isFinite(centreLL);
    for (let i = 0; i < p && atCentre; i++) if (z[i] !== 0) atCentre = false;
    toTheta(z);
    if (bounded) clipToBox(theta, 0, pg, B);
    let v: number;
    if (atCentre) {
      v = centreLL;
      gth.set(centreGrad);
    } else {
      v = logLikelihoodGradient(model, theta, data, ws, gth);
    }
    if (!Number.isFinite(v)) return Infinity;
    if (v > best) {
      best = v;
      bestTheta.set(theta);
      if (stationarity(gth, theta, model.gate.nParams, ws.gateBound) / n <= opts.gtol) signal.aborted = true; // converged in θ: stop the round
    }
    gproj.set(gth);
    if (bounded) for (let i = 0; i < pg; i++) if (held[i] || atActiveBound(theta[i], gth[i], B)) gproj[i] = 0;
    if (!L) {
      for (let i = 0; i < p; i++) g[i] = -gproj[i] / n;
    } else {
      // ∇_z f = L⁻¹ ∇_θ f: forward substitution
      for (let i = 0; i < p; i++) {
        let s = -gproj[i] / n;
        for (let j = 0; j < i; j++) s -= L[i * p + j] * g[j];
        g[i] = s / L[i * p + i];
      }
    }
    return -v / n;
  };
  let iterations = 0;
  // Rounds of L-BFGS, each in the BHHH metric of its starting point (re-preconditioning keeps the
  // metric close to the local curvature as the fit moves along flat directions).
  while (iterations < opts.maxIter && !signal.aborted) {
    base.set(bestTheta);
    centreLL = eStep(model, base, data, ws);
    if (Number.isFinite(centreLL)) gradientFromPosteriors(model, base, data, ws, centreGrad);
    if (bounded) for (let i = 0; i < pg; i++) held[i] = atActiveBound(base[i], centreGrad[i], B) ? 1 : 0;
    L = bhhhFactor(model, base, data, ws, bounded ? held : undefined);
    // ½‖Δz‖²·n ≈ change of ℓ in the BHHH metric ⇒ ‖Δz‖ ≤ √(2·trust/n)
    const maxStep = L ? Math.sqrt((2 * opts.trust) / n) : Infinity;
    const before = best;
    const res = lbfgs(fg, new Float64Array(p), { maxIter: Math.min(opts.round, opts.maxIter - iterations), gtol: 0, ftol: 0, maxStep, signal });
    iterations += res.iterations;
    if (!(best > before) || res.reason === 'lineSearch' || res.reason === 'nonFinite') break;
  }
  return { theta: bestTheta, ll: best, iterations };
}


/** Fit a mixture of experts of the given structure by maximum likelihood. */
export function fitEM(spec: ModelSpec, data: Dataset, options: EMOptions = {}): FitResult {
  const start = performance.now();
  const model = MixtureOfExperts.fromSpec(spec);
  validateDataset(spec, model, data);
  model.expert.prepare?.(data.X, data.y, data.n);
  if (options.gateBound !== undefined) {
    if (!(options.gateBound > 0) || !Number.isFinite(options.gateBound)) throw new OptionError(`gateBound: must be a finite number > 0, got ${options.gateBound}`);
    if (!model.gate.supportsBound) throw new OptionError(`gateBound: the ${model.gate.type} gate does not support a parameter box (softmax and modified gates do)`);
  }
  const restarts = options.restarts ?? 1;
  if (!Number.isInteger(restarts) || restarts < 1) throw new OptionError(`restarts: must be an integer ≥ 1, got ${restarts}`);
  const rng = new Rng(options.seed ?? 1);
  const init = options.init ?? { type: 'kmeans++' };
  let best: RunResult | undefined;
  const lls: number[] = [];
  const warnings: string[] = [];
  for (let r = 0; r < restarts; r++) {
    const theta0 = initialise(model, data, init, rng.split('restart', r), options);
    let run: RunResult;
    try {
      run = runEM(model, theta0, data, options);
    } catch (e) {
      if (restarts === 1 || !(e instanceof Error)) throw e;
      warnings.push(`restart ${r + 1}: ${e.message}`);
      lls.push(-Infinity);
      continue;
    }
    lls.push(run.ll);
    if (!best || run.ll > best.ll) best = run;
  }
  if (!best) throw new OptionError(`every restart failed: ${warnings.join('; ')}`);
  const fitted = model.withTheta(best.theta);
  fitted.canonicalize();
  const converged = best.emConverged && (options.polish === false || best.gradConverged);
  if (!best.emConverged) warnings.push(`EM reached maxIter=${options.maxIter ?? 2000} before the relative change fell below tol`);
  else if (best.ridge) warnings.push(`gradient norm ${best.gradientNorm.toExponential(2)} after the finish: the log-likelihood still rises slowly along a flat direction (typical of over-specified fits); the fit is returned where the finish stopped`);
  else if (!converged) warnings.push(`gradient norm ${best.gradientNorm.toExponential(2)} is above gtol after the finish`);
  return {
    model: fitted,
    logLikelihood: best.ll,
    trace: best.trace,
    iterations: best.iterations,
    converged,
    gradientNorm: best.gradientNorm,
    restarts,
    restartLogLikelihoods: lls,
    seconds: (performance.now() - start) / 1000,
    warnings,
  };
}
