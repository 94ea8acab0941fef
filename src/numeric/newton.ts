/**
 * The damped Newton maximiser of the M-steps (math-spec §9.1 "Newton on the smooth objective",
 * §8.1 IRLS): one loop for the softmax core (family/linear-softmax.ts: the softmax-type gates), the
 * multinomial experts (experts/multinomial-logistic.ts on its generated kernels) and the gates with
 * non-concave objectives (activation, top-K).
 *
 * Each iteration solves (−∇²Q + damping) Δ = ∇Q by Cholesky, then halves the step on Q itself:
 * the first α ∈ {1, ½, ¼, …} with Q(θ + αΔ) ≥ Q(θ) is taken, so Q never decreases. It stops when
 * the Newton decrement ½ ∇Qᵀ(−∇²Q + damping)⁻¹∇Q (the predicted remaining gain) is ≤
 * tol·max(1, |Q|) (the ridge variant then takes that last step, without a trial pass when it is
 * short: `NewtonMaximizer.finalStep`; with it, also once the quadratic convergence seen in this run,
 * r_next ≈ C·r² for the relative decrement r, predicts that step to leave a decrement below tol),
 * when no
 * step along Δ increases Q at machine precision, or after maxIter iterations. Two dampings:
 * - `marquardt` (objectives whose Hessian is not always negative definite: non-linear logits,
 *   selection pieces): λ = 0 (exact Newton) whenever −∇²Q is positive definite, otherwise the
 *   smallest λ ∈ {1e-8, 1e-7, …, 1e9} with D = diag(|−∇²Q|) that makes it so (fallback: the
 *   gradient scaled by the largest curvature); convergence is claimed only for λ ≤ 1e-6 (at most
 *   a flat direction regularised).
 * - `ridge` (concave objectives, the softmax core): `solveSPD`'s small ridge for a singular
 *   −∇²Q (fallback: the gradient); a ridge there only means a numerically flat direction, so
 *   the stopping rules always count as converged.
 * With a box |θ_i| ≤ bound (compact Θ, math-spec §1.2 A.3): projected Newton — the start is
 * clipped into the box, coordinates at a bound whose gradient points outward are held fixed
 * (identity row and column, zero right-hand side), trial points are clipped back into the box.
 *
 * The trial points of the line search are evaluated with a full pass (value, gradient, Hessian):
 * the accepted trial already holds the next Newton system, and α = 1 is accepted almost always
 * near the optimum. Problems with a cheaper value-and-gradient pass (`gradientPass`) use it for the
 * trial of a step whose decrement is already near tol (the last one), keeping −∇²Q of its start. Hand-written: the solver runs inside every EM iteration on small dense
 * systems, with its buffers reused across calls.
 */
import { choleskyInPlace, choleskySolveInPlace, solveSPD } from './linalg.js';
import { atActiveBound, clipToBox } from './box.js';

export interface NewtonProblem {
  readonly nParams: number;
  /**
   * Q(θ) with its gradient into g and its NEGATIVE Hessian −∇²Q into NH (full symmetric p×p,
   * row-major). Returns −Infinity (g, NH unspecified) when θ is outside the domain.
   */
  pass(theta: Float64Array, g: Float64Array, NH: Float64Array): number;
  /** The same at the start θ when the caller already knows part of it (e.g. the E-step's weights); default `pass`. */
  firstPass?(theta: Float64Array, g: Float64Array, NH: Float64Array): number;
  /**
   * Optional: Q(θ) and its gradient into g only (−Infinity outside the domain), cheaper than `pass`.
   * With it, a trial point whose step's decrement is already within √(2·tol·max(1, |Q|)) (the last
   * step, by quadratic convergence) is evaluated by this pass, and the next decrement is measured
   * with the −∇²Q of the step's start (a chord step if that one is not below tol yet).
   */
  gradientPass?(theta: Float64Array, g: Float64Array): number;
}

export interface NewtonOptions {
  /** Maximum Newton iterations. */
  maxIter: number;
  /** Stop when the Newton decrement is ≤ tol·max(1, |Q|). */
  tol: number;
  /** Optional box |θ_i| ≤ bound on every parameter. */
  bound?: number;
}

export interface NewtonResult {
  iterations: number;
  /** Q at the returned θ. */
  objective: number;
  converged: boolean;
}

export interface NewtonSettings {
  damping: 'marquardt' | 'ridge';
  /** Step halvings tried before the line search gives up. */
  maxHalvings: number;
  /**
   * Take the last solved step once the decrement is below tol, without a trial pass (concave Q
   * only: the step lies deep in Newton's quadratic region; its predicted gain is added to Q).
   * Without it EM stalls: at a warm start whose decrement is below tol the gate never moves, and
   * EM ends with ‖∇(ℓ/n)‖∞ ≈ √(tol·|Q|·λmax)/n above gtol (measured 1.4e-7 at n = 1e4, d = 2,
   * k = 3), leaving the rest to the L-BFGS finish.
   */
  finalStep: boolean;
  /**
   * Keep the quadratic-convergence constant C learnt by a run for the next run (a sequence of
   * M-steps on slowly changing weights): a one-step M-step can then stop on C·r² before its trial.
   */
  carryQuadratic?: boolean;
}

/** Largest final step taken without a trial pass, relative to 1 + |θᵢ| (see `NewtonMaximizer.finalStep`). */
const FINAL_STEP = 1e-3;

/** Relative rounding level of an objective summed over many rows (64 ulps): gains below it are not measurable. */
const ROUNDOFF = 64 * Number.EPSILON;

/**
 * The quadratic-convergence stop (ridge, finalStep): C is learnt only from steps that started at a
 * relative decrement below QUADRATIC_REGION (Newton's quadratic region), and the predicted
 * decrement C·r² after the final step must be below the tolerance with a factor QUADRATIC_SAFETY.
 */
const QUADRATIC_REGION = 1e-2;
const QUADRATIC_SAFETY = 16;

/** Whether some coordinate lies on the box |θᵢ| ≤ B (held there or clipped onto it). */
function touchesBox(theta: Float64Array, B: number): boolean {
  for (let i = 0; i < theta.length; i++) if (Math.abs(theta[i]) >= B) return true;
  return false;
}

export const MARQUARDT_NEWTON: NewtonSettings = { damping: 'marquardt', maxHalvings: 50, finalStep: false };
export const RIDGE_NEWTON: NewtonSettings = { damping: 'ridge', maxHalvings: 40, finalStep: true };
/** Ridge damping with the quadratic-convergence constant carried across runs (the hierarchical gate's levels). */
export const RIDGE_CARRY_NEWTON: NewtonSettings = { damping: 'ridge', maxHalvings: 40, finalStep: true, carryQuadratic: true };
/**
 * Marquardt damping with the final step and the quadratic-convergence stop carried across runs
 * (the activation gate): the stops need an undamped step (λ ≤ 1e-6, −∇²Q positive definite), where
 * a short step of decrement ≤ tol lies deep in Newton's quadratic region as for a concave Q.
 */
export const MARQUARDT_FINAL_NEWTON: NewtonSettings = { damping: 'marquardt', maxHalvings: 50, finalStep: true, carryQuadratic: true };

export class NewtonMaximizer {
  readonly p: number;
  private g: Float64Array;
  private NH: Float64Array;
  private g2: Float64Array;
  private NH2: Float64Array;
  private readonly L: Float64Array;
  private readonly step: Float64Array;
  private readonly trial: Float64Array;
  /** The quadratic-convergence constant of the last run that learnt one (`carryQuadratic`). */
  private carriedC = 0;

  constructor(p: number, private readonly settings: NewtonSettings = MARQUARDT_NEWTON) {
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
  private solveMarquardt(g: Float64Array, NH: Float64Array): number {
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

  /** The step into this.step; whether the stopping rules may claim convergence for it. */
  private solve(g: Float64Array, NH: Float64Array): boolean {
    if (this.settings.damping === 'marquardt') {
      const lambda = this.solveMarquardt(g, NH);
      return lambda >= 0 && lambda <= 1e-6;
    }
    const { p, step } = this;
    if (solveSPD(NH, g, p, step, this.L) < 0) {
      for (let i = 0; i < p; i++) step[i] = g[i]; // no curvature at all: gradient direction
    }
    return true;
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

  /** θ += the solved step (clipped into the box), unless the decrement or the step is not a finite gain. */
  private takeStep(theta: Float64Array, decrement: number, B: number): boolean {
    if (!(decrement > 0)) return false;
    const { p, step } = this;
    for (let i = 0; i < p; i++) if (!Number.isFinite(step[i])) return false;
    for (let i = 0; i < p; i++) theta[i] += step[i];
    if (Number.isFinite(B)) clipToBox(theta, 0, p, B);
    return true;
  }

  /**
   * The last solved step (`finalStep`), Q after it. A short step (every |Δᵢ| ≤ FINAL_STEP·(1 + |θᵢ|))
   * is taken without a trial pass, its predicted gain added to Q. A longer one is only a small
   * predicted gain along a flat direction, where the quadratic model need not hold: it is taken
   * only if a trial pass does not lower Q. (Taken blindly, such a step once moved a quasi-separated
   * multinomial expert coefficient from −4e3 to 2e7 and EM's ℓ fell from −297 to −1.5e6: the
   * pinned multinomial fit of test/numeric/newton.test.ts before this guard.)
   */
  private finalStep(problem: NewtonProblem, theta: Float64Array, Q: number, decrement: number, B: number): number {
    const { p, step, trial } = this;
    let short = true;
    for (let i = 0; i < p; i++) if (!(Math.abs(step[i]) <= FINAL_STEP * (1 + Math.abs(theta[i])))) short = false;
    if (short) return this.takeStep(theta, decrement, B) ? Q + decrement / 2 : Q;
    if (!(decrement > 0)) return Q;
    for (let i = 0; i < p; i++) trial[i] = theta[i] + step[i];
    if (Number.isFinite(B)) clipToBox(trial, 0, p, B);
    const Qt = problem.pass(trial, this.g2, this.NH2);
    if (!(Qt >= Q)) return Q;
    theta.set(trial);
    return Qt;
  }

  /**
   * One Newton step from θ without a trial pass when its predicted gain ½gᵀΔ exceeds
   * above·max(1, |Q|) (ridge damping: concave Q): θ += Δ (clipped into the box), returns Q + ½gᵀΔ,
   * the predicted Q after it. Returns NaN with θ unchanged when the gain is smaller or the step is
   * not finite. Q may fall: the caller checks (estimate/em-step.ts emMap checks ℓ).
   */
  uncheckedStep(problem: NewtonProblem, theta: Float64Array, options: NewtonOptions, above: number): number {
    const p = this.p;
    if (p === 0 || this.settings.damping !== 'ridge') return NaN;
    const { g, NH, step } = this;
    const B = options.bound;
    const bounded = B !== undefined && Number.isFinite(B);
    if (bounded) clipToBox(theta, 0, p, B);
    const Q = problem.firstPass ? problem.firstPass(theta, g, NH) : problem.pass(theta, g, NH);
    if (!(Q > -Infinity)) return NaN;
    if (bounded) this.holdActive(theta, g, NH, B);
    this.solve(g, NH);
    let decrement = 0;
    for (let i = 0; i < p; i++) decrement += g[i] * step[i];
    if (!(decrement > 2 * above * Math.max(1, Math.abs(Q)))) return NaN;
    return this.takeStep(theta, decrement, bounded ? B : Infinity) ? Q + decrement / 2 : NaN;
  }

  /** Maximise problem's Q from θ (updated in place; within the box |θ_i| ≤ options.bound when given). Never returns a lower Q than at the start. */
  run(problem: NewtonProblem, theta: Float64Array, options: NewtonOptions): NewtonResult {
    const p = this.p;
    if (p === 0) return { iterations: 0, objective: problem.pass(theta, this.g, this.NH), converged: true };
    const { step, trial } = this;
    const maxHalvings = this.settings.maxHalvings;
    let g = this.g;
    let NH = this.NH;
    let g2 = this.g2;
    let NH2 = this.NH2;
    const B = options.bound;
    const bounded = B !== undefined && Number.isFinite(B);
    if (bounded) clipToBox(theta, 0, p, B);
    let Q = problem.firstPass ? problem.firstPass(theta, g, NH) : problem.pass(theta, g, NH);
    // trials by Q and ∇Q alone near the end (`gradientPass`); not in a box, whose held coordinates change NH
    const gradientOnly = problem.gradientPass !== undefined && !bounded;
    let freshHessian = true;
    let iterations = 0;
    let converged = false;
    // the last step was a full Newton step (α = 1, fresh −∇²Q, off the box), its relative decrement, the largest C seen in this run
    let full = false;
    let rPrev = Infinity;
    let cRun = this.settings.carryQuadratic ? this.carriedC : 0;
    let cOwn = 0;
    if (!(Q > -Infinity)) return { iterations, objective: Q, converged: false };
    while (iterations < options.maxIter) {
      if (bounded) this.holdActive(theta, g, NH, B);
      // converged: predicted gain below tol with (nearly) undamped Newton; a tiny λ only means a
      // flat direction (e.g. a top-K expert whose bias is seen only through a difference)
      const nearNewton = this.solve(g, NH);
      let decrement = 0;
      for (let i = 0; i < p; i++) decrement += g[i] * step[i];
      const scale = Math.max(1, Math.abs(Q));
      // quadratic convergence (finalStep): r = decrement/scale of the step after an undamped one is
      // ≈ C·r²; learn C, and stop when the step to take leaves a predicted decrement ≤ the tolerance
      const r = decrement / scale;
      if (full && r > 0 && rPrev < QUADRATIC_REGION) {
        cOwn = Math.max(cOwn, r / (rPrev * rPrev));
        cRun = Math.max(cRun, cOwn);
      }
      const quadraticStop = this.settings.finalStep && cRun > 0 && QUADRATIC_SAFETY * cRun * r * r <= 2 * options.tol;
      if (nearNewton && (!(decrement > 2 * options.tol * scale) || quadraticStop)) {
        converged = true;
        if (this.settings.finalStep) Q = this.finalStep(problem, theta, Q, decrement, bounded ? B : Infinity);
        break;
      }
      if (!(decrement > 0)) { converged = nearNewton; break; }
      // ridge (concave Q): a gain below the rounding of Q cannot be seen; with a tiny tol the line
      // search would halve on rounding noise (gateTol 1e-20: 40 passes per M-step, fits of 12–140 s)
      const roundoff = this.settings.damping === 'ridge' ? ROUNDOFF * Math.max(1, Math.abs(Q)) : 0;
      if (decrement <= roundoff) {
        converged = nearNewton;
        if (nearNewton && this.settings.finalStep) Q = this.finalStep(problem, theta, Q, decrement, bounded ? B : Infinity);
        break;
      }
      iterations++;
      // an undamped Newton step from a fresh −∇²Q whose decrement is this close to tol (quadratic
      // convergence: the next one ≈ c·decrement²) is most likely the last: its trial needs Q and ∇Q
      // only, and −∇²Q stays the current one. Once only: a chord step from a stale −∇²Q can crawl
      // (kmeans++ start, n = 1e3: 50 chord steps, the decrement falling 2× per step).
      const cheap: boolean = gradientOnly && freshHessian && nearNewton && decrement <= Math.sqrt(2 * options.tol * Math.max(1, Math.abs(Q)));
      let alpha = 1;
      let accepted = false;
      rPrev = r;
      for (let h = 0; h < maxHalvings && alpha * decrement > roundoff; h++) {
        for (let i = 0; i < p; i++) trial[i] = theta[i] + alpha * step[i];
        if (bounded) clipToBox(trial, 0, p, B);
        const Qt = cheap ? problem.gradientPass!(trial, g2) : problem.pass(trial, g2, NH2);
        if (Qt >= Q) {
          Q = Qt;
          accepted = true;
          break;
        }
        alpha *= 0.5;
      }
      if (!accepted) { converged = nearNewton; break; } // no ascent along Δ at machine precision
      full = alpha === 1 && !cheap && !(bounded && touchesBox(trial, B));
      theta.set(trial);
      let tg = g; g = g2; g2 = tg;
      if (!cheap) { tg = NH; NH = NH2; NH2 = tg; }
      freshHessian = !cheap;
    }
    this.g = g; this.NH = NH; this.g2 = g2; this.NH2 = NH2;
    if (cOwn > 0) this.carriedC = cOwn;
    return { iterations, objective: Q, converged };
  }
}
