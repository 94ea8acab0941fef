/**
 * The finish of an EM run: the relative-change rule stops far from the maximum in over-specified
 * fits, where EM crawls along flat ridges (measured: 4.75 log-likelihood units short at n = 1e5,
 * k = 3 over k* = 2). After the accelerated-EM part of the finish (in em.ts), a trust-limited
 * L-BFGS in the BHHH metric (bhhh.ts, recomputed every `polishRound` iterations so the metric
 * follows the local curvature) runs until ‖∇(ℓ/n)‖∞ ≤ gtol. It only ever accepts points with a
 * higher likelihood, so the result is never below the EM iterate it started from.
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import { lbfgs } from '../numeric/lbfgs.js';
import { atActiveBound, blockBound, clipToBox } from '../numeric/box.js';
import { eStep, gradientFromPosteriors, logLikelihoodGradient, type EMWorkspace } from './em-step.js';
import { bhhhFactor } from './bhhh.js';
import { observedInformation, usesStructuredInformation } from './observed-information.js';
import { choleskyInPlace, choleskySolveInPlace } from '../numeric/linalg.js';

/**
 * ‖∇ℓ‖∞ without the components that point out of the box at an active bound (the KKT conditions
 * of the box-constrained maximum; gate block [0, pg) in gateBound, expert block in expertBound;
 * the plain ‖∇ℓ‖∞ when both are ∞).
 */
export function stationarity(grad: Float64Array, theta: Float64Array, pg: number, gateBound: number, expertBound = Infinity): number {
  let m = 0;
  for (let i = 0; i < grad.length; i++) {
    if (atActiveBound(theta[i], grad[i], blockBound(i, pg, gateBound, expertBound))) continue;
    m = Math.max(m, Math.abs(grad[i]));
  }
  return m;
}

export function norm2(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** Settings of the L-BFGS finish (EMOptions gtol, polishMaxIter, polishTrust, polishRound). */
export interface LbfgsFinishSettings {
  gtol: number;
  maxIter: number;
  trust: number;
  round: number;
}

/**
 * L-BFGS on f(θ) = −ℓ(θ)/n from θ₀, in the BHHH metric when the families provide per-row scores
 * (θ = θ₀ + L⁻ᵀz, ∇_z f = L⁻¹∇_θ f), else in θ directly. Returns the best point (ℓ never below ℓ(θ₀)).
 */
export function lbfgsFinish(model: MixtureOfExperts, theta0: Float64Array, ll0: number, data: Dataset, ws: EMWorkspace, opts: LbfgsFinishSettings): { theta: Float64Array; ll: number; iterations: number } {
  const p = theta0.length;
  const n = data.n;
  const base = theta0.slice(); // the centre of the current round
  const theta = new Float64Array(p);
  const gth = new Float64Array(p);
  let L: Float64Array | undefined;
  let best = ll0;
  const bestTheta = theta0.slice();
  const signal = { aborted: false };
  // box (EMOptions.gateBound on the gate block, expertBound on the expert block): coordinates at an
  // active bound are held for the round, trial points are clipped into the box, and a clipped
  // coordinate pushing outward gets zero gradient
  const bound = ws.gateBound;
  const eBound = ws.expertBound;
  const pg = model.gate.nParams;
  const bounded = Number.isFinite(bound) || Number.isFinite(eBound);
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
    if (bounded) {
      clipToBox(theta, 0, pg, bound);
      clipToBox(theta, pg, p, eBound);
    }
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
      if (stationarity(gth, theta, pg, bound, eBound) / n <= opts.gtol) signal.aborted = true; // converged in θ: stop the round
    }
    gproj.set(gth);
    if (bounded) for (let i = 0; i < p; i++) if (held[i] || atActiveBound(theta[i], gth[i], blockBound(i, pg, bound, eBound))) gproj[i] = 0;
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
    if (bounded) for (let i = 0; i < p; i++) held[i] = atActiveBound(base[i], centreGrad[i], blockBound(i, pg, bound, eBound)) ? 1 : 0;
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

/** Settings of the Newton finish (EMOptions finish: 'newton'). */
export interface NewtonFinishSettings {
  gtol: number;
  /** Budget in counted evaluations (a Hessian or an ℓ/∇ℓ evaluation of the full data each count one). */
  maxEvaluations: number;
}

/** The result of `newtonFinish`: `theta` is θ₀ (same array, updated in place) at the best point. */
export interface NewtonFinishResult {
  ll: number;
  /** Counted evaluations of the full data: each observed-information pass and each ℓ/∇ℓ (E-step) evaluation. */
  evaluations: number;
  /** ‖∇(ℓ/n)‖∞ ≤ gtol reached. */
  converged: boolean;
  /** The first observed information was not positive definite: nothing moved (only its pass was spent). */
  indefinite: boolean;
  /**
   * A trial point left the gate/expert box (its step would need a bound): Newton stopped there and
   * the box-honouring paths (SQUAREM, the L-BFGS finish) take over; no pass was spent on that trial.
   */
  leftBox: boolean;
  /** ℓ after each accepted step. */
  trace: number[];
}

/**
 * `finish: 'auto'` takes the Newton finish from this many rows on (EMOptions.finish): below, the
 * start-up cost of the information pass in a fresh process (≈ 40 ms CPU, loaded) exceeds the EM
 * iterations it saves (measured cold, d = 2, k = 3: n = 1e4 +26 ms, 2e4 ±12, 3e4 +29, 1e5 −90).
 */
export const NEWTON_AUTO_MIN_ROWS = 50_000;

/**
 * Under a gate/expert box the Newton finish is tried only when every boxed coordinate lies at least
 * this fraction of its bound away from it at the hand-over (|θᵢ| < (1 − margin)·B): Newton knows no
 * active set, so a fit at or near a bound keeps SQUAREM and the L-BFGS finish, which honour the box.
 */
export const NEWTON_BOX_MARGIN = 0.01;

/** Whether every coordinate is clear of its box by `NEWTON_BOX_MARGIN` (gate block [0, pg) in gateBound, the rest in expertBound). */
export function clearOfBox(theta: Float64Array, pg: number, gateBound: number, expertBound: number): boolean {
  for (let i = 0; i < theta.length; i++) {
    const B = i < pg ? gateBound : expertBound;
    if (Number.isFinite(B) && !(Math.abs(theta[i]) < (1 - NEWTON_BOX_MARGIN) * B)) return false;
  }
  return true;
}

/** Whether every coordinate lies in its box |θᵢ| ≤ B. */
function insideBox(theta: Float64Array, pg: number, gateBound: number, expertBound: number): boolean {
  for (let i = 0; i < theta.length; i++) if (Math.abs(theta[i]) > (i < pg ? gateBound : expertBound)) return false;
  return true;
}

/**
 * Whether `finish: 'auto'` takes the Newton finish for this model and data: from
 * `NEWTON_AUTO_MIN_ROWS` rows, and only where the structured information pass exists (softmax gate
 * × Gaussian linear experts, the measured case). Other families that give `negHessianQ`
 * (multinomial experts) assemble it generically, O(n·k·p²) per pass, and were not measured here:
 * they keep the L-BFGS finish unless `finish: 'newton'` is asked for.
 */
export function autoNewton(model: MixtureOfExperts, data: Dataset): boolean {
  return data.n >= NEWTON_AUTO_MIN_ROWS && usesStructuredInformation(model, data.d);
}

/**
 * Newton's method on ℓ with the exact observed information (observed-information.ts, the missing-information
 * identity) from θ (updated in place; ws.R holds the posteriors at θ, grad = ∇ℓ at θ, both kept
 * current). Each step θ + αΔ, Δ = (−∇²ℓ)⁻¹∇ℓ, starts at α = 1 and is halved until ℓ does not
 * decrease, so ℓ never falls (but for a full step whose predicted gain is below the rounding noise
 * of ℓ, ≈ 4ε|ℓ|√n, judged by ‖∇ℓ‖∞ instead; see below). Trial points below the variance floor are
 * halved without a pass; a trial outside the gate/expert box ends the finish (`leftBox`, no pass), so
 * every point Newton evaluates or accepts is inside the box. The KKT test is `stationarity` with both bounds. It stops at ‖∇(ℓ/n)‖∞ ≤ gtol, when −∇²ℓ is not positive definite
 * (over-specified fits: singular information), when no halving increases ℓ, or at the budget.
 */
export function newtonFinish(model: MixtureOfExperts, theta: Float64Array, ll0: number, grad: Float64Array, data: Dataset, ws: EMWorkspace, opts: NewtonFinishSettings): NewtonFinishResult {
  const p = theta.length;
  const n = data.n;
  const pg = model.gate.nParams;
  let ll = ll0;
  let evaluations = 0;
  const trial = new Float64Array(p);
  const tgrad = new Float64Array(p);
  const step = new Float64Array(p);
  let first = true;
  const trace: number[] = [];
  // The factor of −∇²ℓ is reused (a chord step, no information pass) after a full step that cut
  // ‖∇ℓ‖∞ at least tenfold: near the maximum the information barely changes between steps.
  let factor: Float64Array | undefined;
  let reuse = false;
  while (evaluations < opts.maxEvaluations) {
    const g0 = stationarity(grad, theta, pg, ws.gateBound, ws.expertBound) / n;
    if (g0 <= opts.gtol) return { ll, evaluations, converged: true, indefinite: false, leftBox: false, trace };
    const fresh = !reuse || !factor;
    if (fresh) {
      if (evaluations + 2 > opts.maxEvaluations) break;
      const H = observedInformation(model, theta, data, ws);
      evaluations++;
      if (!H || !choleskyPD(H, p)) return { ll, evaluations, converged: false, indefinite: first, leftBox: false, trace };
      first = false;
      factor = H;
    }
    step.set(grad);
    choleskySolveInPlace(factor!, p, step);
    // Near the maximum the predicted gain ½∇ℓᵀΔ falls below the rounding noise of ℓ's sum over n rows
    // (≈ ε·|ℓ|·√n; measured: full steps "losing" 2e-9 at ℓ = −7.7e4, n = 1e5): there a full step is
    // judged by the gradient instead — accepted when ℓ stays within that noise and ‖∇ℓ‖∞ falls.
    const noise = 4 * Number.EPSILON * Math.abs(ll) * Math.sqrt(n);
    let predicted = 0;
    for (let i = 0; i < p; i++) predicted += 0.5 * grad[i] * step[i];
    const gNow = stationarity(grad, theta, pg, ws.gateBound, ws.expertBound);
    let accepted = false;
    let fullStep = false;
    let tried = false;
    for (let alpha = 1, h = 0; h < 6 && evaluations < opts.maxEvaluations; h++, alpha /= 2) {
      for (let i = 0; i < p; i++) trial[i] = theta[i] + alpha * step[i];
      // a trial outside a box: the constrained maximum may lie on the bound, which Newton does not
      // handle; hand back (no pass spent) to the paths that honour the box
      if (!insideBox(trial, pg, ws.gateBound, ws.expertBound)) return { ll, evaluations, converged: false, indefinite: false, leftBox: true, trace };
      if (!feasibleTrial(model, trial, ws)) continue; // outside the variance floor: no pass spent, halve
      const v = logLikelihoodGradient(model, trial, data, ws, tgrad);
      evaluations++;
      tried = true;
      const withinNoise = h === 0 && predicted <= noise && v >= ll - noise && stationarity(tgrad, trial, pg, ws.gateBound, ws.expertBound) < gNow;
      if (Number.isFinite(v) && (v >= ll || withinNoise)) {
        theta.set(trial);
        grad.set(tgrad);
        ll = v;
        trace.push(v);
        accepted = true;
        fullStep = h === 0;
        break;
      }
    }
    if (!accepted) {
      // restore the posteriors at θ (the caller and the next information pass read ws.R)
      if (tried) {
        eStep(model, theta, data, ws);
        evaluations++;
      }
      if (fresh) break;
      reuse = false;
      continue;
    }
    reuse = fullStep && stationarity(grad, theta, pg, ws.gateBound, ws.expertBound) / n <= 0.1 * g0;
  }
  return { ll, evaluations, converged: stationarity(grad, theta, pg, ws.gateBound, ws.expertBound) / n <= opts.gtol, indefinite: false, leftBox: false, trace };
}

/**
 * Whether a Newton trial point lies in the domain the E-step accepts (finite, the families' `feasible`
 * — e.g. every variance at or above its floor — and the gate/expert boxes), checked before a pass is spent.
 */
function feasibleTrial(model: MixtureOfExperts, theta: Float64Array, ws: EMWorkspace): boolean {
  const { gate, expert } = model;
  const pg = gate.nParams;
  for (let i = 0; i < theta.length; i++) {
    const v = theta[i];
    if (!Number.isFinite(v)) return false;
    if (Math.abs(v) > (i < pg ? ws.gateBound : ws.expertBound)) return false;
  }
  if (gate.feasible && !gate.feasible(theta.subarray(0, pg))) return false;
  if (expert.feasible && !expert.feasible(theta.subarray(pg))) return false;
  return true;
}

/**
 * Cholesky of the symmetric H in place, refusing a matrix that is positive definite only by
 * rounding: every pivot must exceed 1e-10 of the largest diagonal entry (a near-singular
 * information, e.g. over-specified fits, stays on the L-BFGS/SQUAREM path).
 */
function choleskyPD(H: Float64Array, p: number): boolean {
  let dmax = 0;
  for (let i = 0; i < p; i++) dmax = Math.max(dmax, H[i * p + i]);
  if (!(dmax > 0)) return false;
  if (!choleskyInPlace(H, p)) return false;
  for (let i = 0; i < p; i++) {
    const l = H[i * p + i];
    if (!(l * l > 1e-10 * dmax)) return false;
  }
  return true;
}
