/**
 * A damped Newton maximiser for the smooth (or piecewise-smooth) gate M-step objectives
 * Q(θ) = Σ_t Σ_i R_ti log π_i(x_t; θ) whose Hessian is not always negative definite
 * (non-linear logits: activation gate; selection pieces: top-K gate).
 *
 * Each iteration solves (−∇²Q + λD) Δ = ∇Q by Cholesky, with λ = 0 (exact Newton) whenever −∇²Q is
 * positive definite and otherwise the smallest λ ∈ {1e-8, 1e-7, …} (D = diag(|−∇²Q|), Marquardt
 * scaling) that makes it so; then step-halving on Q itself: the first α ∈ {1, ½, ¼, …} with
 * Q(θ + αΔ) ≥ Q(θ) is taken, so Q never decreases. Stops when the Newton decrement
 * ½ ∇Qᵀ(−∇²Q + λD)⁻¹∇Q (the predicted remaining gain; λ ≤ 1e-6, i.e. at most a flat direction
 * regularised) is ≤ tol·max(1, |Q|), when no step along Δ
 * increases Q at machine precision, or after maxIter iterations (math-spec §9.1 "Newton on the
 * smooth objective").
 *
 * The trial points of the line search are evaluated with a full pass (value, gradient, Hessian):
 * the accepted trial already holds the next Newton system, and α = 1 is accepted almost always
 * near the optimum.
 */
import type { GateMStepInfo, GateMStepOptions } from './gate.js';
import { choleskyInPlace, choleskySolveInPlace } from '../numeric/linalg.js';
import { atActiveBound, clipToBox } from '../numeric/box.js';

export interface NewtonProblem {
  readonly nParams: number;
  /**
   * Q(θ) with its gradient into g and its NEGATIVE Hessian −∇²Q into NH (full symmetric p×p,
   * row-major). Returns −Infinity (g, NH unspecified) when θ is outside the domain.
   */
  pass(theta: Float64Array, g: Float64Array, NH: Float64Array): number;
}

export class NewtonMaximizer {
  readonly p: number;
  private g: Float64Array;
  private NH: Float64Array;
  private g2: Float64Array;
  private NH2: Float64Array;
  private readonly L: Float64Array;
  private readonly step: Float64Array;
  private readonly trial: Float64Array;

  constructor(p: number) {
    this.p = p;
    this.g = new Float64Array(p);
    this.g2 = new Float64Array(p);
    this.NH = new Float64Array(p * p);
    this.NH2 = new Float64Array(p * p);
    this.L = new Float64Array(p * p);
    this.step = new Float64Array(p);
    this.trial = new Float64Array(p);
  }

  /**
   * Solve (NH + λD) step = g with the smallest λ that makes the matrix positive definite.
   * Returns λ (0 = exact Newton), or −1 when no λ ≤ 1e8 worked (step = scaled gradient then).
   */
  private solve(g: Float64Array, NH: Float64Array): number {
    const { p, L, step } = this;
    let lambda = 0;
    for (let attempt = 0; attempt < 18; attempt++) {
      for (let i = 0; i < p * p; i++) L[i] = NH[i];
      if (lambda > 0) {
        for (let i = 0; i < p; i++) {
          const dii = Math.abs(NH[i * p + i]);
          L[i * p + i] += lambda * (dii > 1e-300 ? dii : 1) + 1e-300;
        }
      }
      if (choleskyInPlace(L, p)) {
        for (let i = 0; i < p; i++) step[i] = g[i];
        choleskySolveInPlace(L, p, step);
        let ok = true;
        for (let i = 0; i < p; i++) if (!Number.isFinite(step[i])) ok = false;
        if (ok) return lambda;
      }
      lambda = lambda === 0 ? 1e-8 : lambda * 10;
    }
    let scale = 0;
    for (let i = 0; i < p; i++) scale = Math.max(scale, Math.abs(NH[i * p + i]));
    for (let i = 0; i < p; i++) step[i] = g[i] / (scale > 0 ? scale : 1);
    return -1;
  }

  /** Hold the coordinates at an active bound of the box: zero gradient, identity row and column of −∇²Q (in place). */
  private holdActive(theta: Float64Array, g: Float64Array, NH: Float64Array, B: number): void {
    const p = this.p;
    for (let i = 0; i < p; i++) {
      if (!atActiveBound(theta[i], g[i], B)) continue;
      g[i] = 0;
      for (let j = 0; j < p; j++) {
        NH[i * p + j] = 0;
        NH[j * p + i] = 0;
      }
      NH[i * p + i] = 1;
    }
  }

  /** Maximise problem's Q from θ (updated in place; within the box |θ_i| ≤ options.bound when given). Never returns a lower Q than at the start. */
  run(problem: NewtonProblem, theta: Float64Array, options: GateMStepOptions): GateMStepInfo {
    const p = this.p;
    if (p === 0) return { iterations: 0, objective: problem.pass(theta, this.g, this.NH), converged: true };
    const { step, trial } = this;
    let g = this.g;
    let NH = this.NH;
    let g2 = this.g2;
    let NH2 = this.NH2;
    // with a box |θ_i| ≤ B (compact Θ, options.bound): projected Newton as in the softmax core —
    // start clipped into the box, coordinates at a bound whose gradient points outward held fixed
    // (identity row and column, zero right-hand side), trial points clipped
    const B = options.bound;
    const bounded = B !== undefined && Number.isFinite(B);
    if (bounded) clipToBox(theta, 0, p, B);
    let Q = problem.pass(theta, g, NH);
    let iterations = 0;
    let converged = false;
    if (!(Q > -Infinity)) return { iterations, objective: Q, converged: false };
    while (iterations < options.maxIter) {
      if (bounded) this.holdActive(theta, g, NH, B);
      const lambda = this.solve(g, NH);
      let decrement = 0;
      for (let i = 0; i < p; i++) decrement += g[i] * step[i];
      // converged: predicted gain below tol with (nearly) undamped Newton; a tiny λ only means a
      // flat direction (e.g. a top-K expert whose bias is seen only through a difference)
      const nearNewton = lambda >= 0 && lambda <= 1e-6;
      if (nearNewton && !(decrement > 2 * options.tol * Math.max(1, Math.abs(Q)))) { converged = true; break; }
      if (!(decrement > 0)) { converged = nearNewton; break; }
      iterations++;
      let alpha = 1;
      let accepted = false;
      for (let h = 0; h < 50; h++) {
        for (let i = 0; i < p; i++) trial[i] = theta[i] + alpha * step[i];
        if (bounded) clipToBox(trial, 0, p, B);
        const Qt = problem.pass(trial, g2, NH2);
        if (Qt >= Q) {
          Q = Qt;
          accepted = true;
          break;
        }
        alpha *= 0.5;
      }
      if (!accepted) { converged = nearNewton; break; } // no ascent along Δ at machine precision
      theta.set(trial);
      let tg = g; g = g2; g2 = tg;
      tg = NH; NH = NH2; NH2 = tg;
    }
    this.g = g; this.NH = NH; this.g2 = g2; this.NH2 = NH2;
    return { iterations, objective: Q, converged };
  }
}
