/**
 * Levenberg–Marquardt for nonlinear least squares, min S(θ) = Σ_t (y_t − f_t(θ))², with a
 * second-order (Newton) phase for large-residual, ill-conditioned problems.
 *
 * Hand-written: the npm least-squares packages (ml-levenberg-marquardt, …) take the model as a
 * per-point callback with finite-difference Jacobians and plain arrays; here the p×p normal
 * equations come from one fused pass over Float64Arrays (see lse.ts), and p ≤ ~30.
 *
 * References: Madsen, Nielsen & Tingleff, "Methods for non-linear least squares problems" (IMM,
 * 2004), Alg. 3.16 (damping update μ ← μ·max(1/3, 1 − (2ρ − 1)³), ν doubling on rejection) with
 * Marquardt's diagonal scaling D = diag(JᵀJ) kept at its running maximum (Moré 1978, §4);
 * gain ratio ρ = (S(θ) − S(θ + h)) / (L(0) − L(h)), L the Gauss–Newton model.
 *
 * The curvature model A of S/2 in the damped system (A + μD) h = Jᵀe, in three stages:
 *  1. Gauss–Newton, A = JᵀJ (the classic method; one Jacobian pass per accepted step).
 *  2. Structured quasi-Newton, A = JᵀJ + R, where R learns the residual curvature −Σ_t e_t ∇²f_t
 *     that Gauss–Newton drops, by symmetric rank-one updates from successive gradients
 *     (R s = y − JᵀJ_new s, y the change of ∇(S/2); Dennis, Gay & Welsch 1981 / NL2SOL use the same
 *     structure with another update). R starts at 0 and is reset to 0 after 3 rejected steps in a row.
 *     Why: in an over-specified mixture two atoms share a cell and JᵀJ is nearly singular along the
 *     directions that separate them, where the dropped term is as large as JᵀJ: Gauss–Newton alone
 *     converges linearly at a rate near 1 there.
 *  3. Newton on the exact Hessian per accepted step: with `problem.hessian` one pass at each trial
 *     point gives both its gradient and its Hessian (taken over when the step is accepted); otherwise
 *     the gradient at the trial point and, on acceptance, the Hessian column by column from forward
 *     differences of the analytic gradient (p more gradient passes), when ‖∇S‖∞ fell by less than 10× over
 *     `newtonWindow` iterations (only if the problem supplies `gradient`). An indefinite A raises μ
 *     until A + μD is positive definite. If the gradient does not fall 10× over a window of Newton
 *     steps either while ‖θ‖∞ grows by more than 10 % (a valley running off to infinity, as
 *     over-specified LSE fits have when no finite minimiser exists), the solver
 *     returns to stage 2 for good: the exact Hessian costs p passes per step and does not pay there.
 * With `trustRegion` the Newton phase sets the step length by a trust radius and solves for μ
 * (lm-trust.ts) instead of the μ update above. With `problem.trialNormal` the Gauss–Newton phase
 * evaluates trial points with the normal pass (same S), so an accepted step costs one pass.
 * Below the rounding noise of S (|ΔS| and the predicted decrease ≤ 1e-12·S) values cannot rank two
 * points; a step is then accepted when it lowers ‖∇S‖∞, so a fit is not stopped by rounding short of the gradient test.
 *
 * Box (compact Θ, math-spec §1.2 A.3; `options.box`: |θ_i| ≤ B for the first `count` coordinates):
 * projected Levenberg–Marquardt with an active set (Kanzow, Yamashita & Fukushima 2004 use the
 * projected LM step; here with the hold-active rule of the projected Newton in src/gates/newton.ts):
 * the start is clipped into the box; a coordinate on the bound whose descent direction (Jᵀe)_i
 * points out of the box is held (identity row and column of A + μD, zero right-hand side); the
 * step of the others is clipped onto the box, and the gain ratio uses the clipped step. Stationarity
 * is the KKT test: held coordinates do not count in ‖∇S‖∞ (reported gradNormInf too).
 *
 * Stopping: 'gtol' ‖∇(S/n)‖∞ ≤ gtol·max(1, S/n) (the L-BFGS rule of lbfgs.ts, so both solvers stop
 * on the same test), 'xtol' (an accepted step below xtol·(‖θ‖ + xtol)), 'maxIter', 'stalled' (no
 * acceptable step at any damping), 'nonFinite', 'timeLimit' (options.deadline passed). Accepted iterates have S_new < S_old, except for the
 * in-noise acceptances above (|ΔS| ≤ 1e-12·S).
 */
import { choleskyInPlace, choleskySolveInPlace } from './linalg.js';
import { atActiveBound } from './box.js';
import { scaledNorm, trustRegionStep, updateRadius, type DampedSystem } from './lm-trust.js';

/** The least-squares problem, as the solver sees it. */
export interface LeastSquaresProblem {
  /** Number of parameters. */
  readonly p: number;
  /** Number of residuals (for the gradient scale S/n). */
  readonly n: number;
  /** S(θ); Infinity when θ is infeasible. */
  value(theta: Float64Array): number;
  /**
   * S(θ), and the Gauss–Newton normal equations at θ: JtJ = JᵀJ (p×p, full, row-major) and
   * Jte = Jᵀe (length p), J_t = ∂f_t/∂θ, e_t = y_t − f_t, so ∇S = −2·Jte. Infinity when infeasible.
   */
  normal(theta: Float64Array, JtJ: Float64Array, Jte: Float64Array): number;
  /** Optional: ∇S(θ) into grad; returns S(θ). Enables the Newton phase. */
  gradient?(theta: Float64Array, grad: Float64Array): number;
  /**
   * Optional: the exact Hessian ∇²(S/2) (p×p, full) into H and Jᵀe into b at θ, in one pass;
   * returns S(θ). The Newton phase then uses it instead of p forward differences of `gradient`.
   */
  hessian?(theta: Float64Array, H: Float64Array, b: Float64Array): number;
  /**
   * Optional: `normal` costs little more than `value` and returns the same S bits (the fused LSE
   * kernels). Trial points of the Gauss–Newton phase are then evaluated with `normal`, so an accepted
   * step needs no second pass at the new point; the path is the same.
   */
  readonly trialNormal?: boolean;
}

export interface LMOptions {
  /** Maximum steps (accepted and rejected). Default 500. */
  maxIter?: number;
  /** Stop when ‖∇(S/n)‖∞ ≤ gtol·max(1, S/n). Default 1e-10. */
  gtol?: number;
  /** Stop when an accepted step is below xtol·(‖θ‖₂ + xtol). Default 1e-15. */
  xtol?: number;
  /**
   * Learn the residual curvature term by symmetric rank-one updates (structured quasi-Newton,
   * see the file comment). Default true; false gives plain Levenberg–Marquardt.
   */
  secondOrder?: boolean;
  /**
   * Switch to Newton steps on the exact Hessian (needs `problem.gradient`) when ‖∇S‖∞ fell by less
   * than 10× over this many iterations. Default 25; 0 never switches.
   */
  newtonWindow?: number;
  /**
   * In the Newton phase, control the step's scaled length ‖D^½ h‖ by a trust radius and solve for μ
   * (lm-trust.ts) instead of updating μ from the gain ratio. Default false.
   */
  trustRegion?: boolean;
  /** performance.now() after which the solver stops with reason 'timeLimit' (checked once per step). Default none. */
  deadline?: number;
  /** Box |θ_i| ≤ bound on the coordinates 0 … count−1 (compact Θ); none by default. */
  box?: { count: number; bound: number };
  /** Per-coordinate box |θ_i| ≤ bounds[i] (Infinity: free); replaces `box` when given. */
  bounds?: Float64Array;
  /** Called after every accepted step with (iteration, S, ‖∇(S/n)‖₂). */
  onIteration?: (iteration: number, f: number, gradNorm2: number) => void;
}

export interface LMResult {
  x: Float64Array;
  /** S at x. */
  f: number;
  /** ‖∇(S/n)‖∞ at x (with a box: over the coordinates not held at an active bound). */
  gradNormInf: number;
  /** Accepted steps (what `onIteration` counts). */
  iterations: number;
  /** All steps, accepted and rejected (what `maxIter` bounds). */
  steps: number;
  /** Steps of the Newton phase. */
  newtonIterations: number;
  /** Normal-equation (Jacobian) passes, value-only passes and gradient passes. */
  jacobians: number;
  values: number;
  gradients: number;
  converged: boolean;
  reason: 'gtol' | 'xtol' | 'maxIter' | 'stalled' | 'nonFinite' | 'timeLimit';
}

/**
 * Relative size of the rounding noise of S (a compensated sum of n squares, each with a few ulps
 * of error): changes of S below NOISE·S are not resolved.
 */
const NOISE = 1e-12;

function normInf(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

type Reason = LMResult['reason'];

/** The solver's state: the options resolved, the work buffers and the iteration's scalars. */
interface LMState {
  readonly problem: LeastSquaresProblem;
  readonly options: LMOptions;
  readonly p: number;
  readonly n: number;
  readonly secondOrder: boolean;
  readonly newtonWindow: number;
  readonly trustRegion: boolean;
  readonly gradient: ((theta: Float64Array, grad: Float64Array) => number) | undefined;
  readonly hessian: ((theta: Float64Array, H: Float64Array, b: Float64Array) => number) | undefined;
  /** Per-coordinate bounds |θ_i| ≤ Bv[i] (Infinity: free); nb = p when any is finite, else 0. */
  readonly Bv: Float64Array;
  readonly nb: number;
  /** Coordinates held at an active bound in this step. */
  readonly held: Uint8Array;
  readonly x: Float64Array;
  /** The trial point x + h (clipped onto the box). */
  readonly xt: Float64Array;
  readonly JtJ: Float64Array;
  /** Learnt residual curvature: ∇²(S/2) ≈ JᵀJ + Sr. */
  readonly Sr: Float64Array;
  /** The curvature model: JᵀJ + Sr, or the exact Hessian in the Newton phase. */
  readonly A: Float64Array;
  /** Exact Hessian at the trial point (Newton phase with problem.hessian). */
  readonly A2: Float64Array;
  /** A + μD, factored. */
  readonly M: Float64Array;
  /** Jᵀe = −∇(S/2). */
  readonly b: Float64Array;
  readonly bOld: Float64Array;
  readonly JtJOld: Float64Array;
  readonly h: Float64Array;
  /** Marquardt scaling, running maximum of diag(JᵀJ). */
  readonly D: Float64Array;
  readonly r: Float64Array;
  readonly g0: Float64Array;
  readonly g1: Float64Array;
  readonly xs: Float64Array;
  /** Jᵀe of the analytic Hessian pass (b is kept from the gradient). */
  readonly bH: Float64Array;
  /** JᵀJ and Jᵀe at the trial point (problem.trialNormal), and whether they hold for it. */
  readonly JtJt: Float64Array;
  readonly bt: Float64Array;
  trialNormal: boolean;
  /** The trial point's value came from its Hessian pass (A2, bH hold its curvature). */
  trialHessian: boolean;
  /** Trust radius of the Newton phase (trustRegion; NaN until its first step), the last step's ‖D^½ h‖. */
  delta: number;
  stepNorm: number;
  f: number;
  mu: number;
  nu: number;
  iter: number;
  accepted: number;
  failures: number;
  newton: boolean;
  newtonOff: boolean;
  windowX: number;
  windowStart: number;
  windowG: number;
  gradients: number;
  newtonIterations: number;
  jacobians: number;
  values: number;
}

/** The trial step just taken: ‖h‖², ‖x‖², the model's decrease L(0) − L(h) and the gain ratio ρ. */
interface Trial {
  hx: number;
  xn: number;
  pred: number;
  rho: number;
}

export function levenbergMarquardt(problem: LeastSquaresProblem, x0: Float64Array, options: LMOptions = {}): LMResult {
  const s = createState(problem, x0, options);
  const maxIter = options.maxIter ?? 500;
  const gtol = options.gtol ?? 1e-10;
  const xtol = options.xtol ?? 1e-15;
  const deadline = options.deadline;
  s.f = problem.normal(s.x, s.JtJ, s.b);
  if (!Number.isFinite(s.f)) return result(s, Infinity, 0, 0, 'nonFinite');
  updateScale(s);
  s.mu = 1e-3 * Math.max(...s.D);
  if (!(s.mu > 0)) s.mu = 1e-3;
  let reason: Reason = 'maxIter';
  while (s.iter < maxIter) {
    if (gradTest(s, s.f, s.b) <= gtol) { reason = 'gtol'; break; }
    if (deadline !== undefined && performance.now() > deadline) { reason = 'timeLimit'; break; }
    s.iter++;
    if (s.newton) s.newtonIterations++;
    else for (let i = 0; i < s.p * s.p; i++) s.A[i] = s.JtJ[i] + s.Sr[i];
    if (!dampedStep(s)) { reason = 'stalled'; break; }
    const trial = takeTrialStep(s);
    const accept = acceptOrReject(s, trial);
    if (accept === 'nonFinite') { reason = 'nonFinite'; break; }
    if (accept) {
      onAccepted(s, trial);
      if (Math.sqrt(trial.hx) <= xtol * (Math.sqrt(trial.xn) + xtol)) { reason = gradTest(s, s.f, s.b) <= gtol ? 'gtol' : 'xtol'; break; }
    } else if (!onRejected(s)) { reason = 'stalled'; break; }
  }
  return result(s, (2 * freeNormInf(s, s.x, s.b)) / s.n, s.accepted, s.iter, reason);
}

/** Options resolved, the start clipped into the box, the buffers allocated. */
function createState(problem: LeastSquaresProblem, x0: Float64Array, options: LMOptions): LMState {
  const { p, n } = problem;
  const x = Float64Array.from(x0);
  const Bv = new Float64Array(p).fill(Infinity);
  if (options.bounds) for (let i = 0; i < p; i++) Bv[i] = options.bounds[i] ?? Infinity;
  else if (options.box) for (let i = 0; i < Math.min(p, options.box.count); i++) Bv[i] = options.box.bound;
  const nb = Bv.some(Number.isFinite) ? p : 0;
  for (let i = 0; i < nb; i++) x[i] = Math.min(Bv[i], Math.max(-Bv[i], x[i])); // a start outside the box is moved onto it
  const vec = (): Float64Array => new Float64Array(p);
  const mat = (): Float64Array => new Float64Array(p * p);
  return {
    problem, options, p, n,
    secondOrder: options.secondOrder ?? true,
    newtonWindow: options.newtonWindow ?? 25,
    trustRegion: options.trustRegion ?? false,
    gradient: problem.gradient?.bind(problem),
    hessian: problem.hessian?.bind(problem),
    Bv, nb, held: new Uint8Array(p), x, xt: vec(),
    JtJ: mat(), Sr: mat(), A: mat(), A2: mat(), M: mat(),
    b: vec(), bOld: vec(), JtJOld: mat(), h: vec(), D: vec(), r: vec(), g0: vec(), g1: vec(), xs: vec(), bH: vec(), JtJt: mat(), bt: vec(), trialNormal: false,
    trialHessian: false, delta: NaN, stepNorm: 0, f: NaN, mu: 0, nu: 2, iter: 0, accepted: 0, failures: 0,
    newton: false, newtonOff: false, windowX: 0, windowStart: 0, windowG: Infinity,
    gradients: 0, newtonIterations: 0, jacobians: 1, values: 0,
  };
}

function result(s: LMState, gradNormInf: number, iterations: number, steps: number, reason: Reason): LMResult {
  const { x, f, newtonIterations, jacobians, values, gradients } = s;
  return { x, f, gradNormInf, iterations, steps, newtonIterations, jacobians, values, gradients, converged: reason === 'gtol', reason };
}

/** ‖v‖∞ over the coordinates not at an active bound of the box at xv (v = Jᵀe, a descent direction). */
function freeNormInf(s: LMState, xv: Float64Array, v: Float64Array): number {
  let m = 0;
  for (let i = 0; i < s.p; i++) if (!(i < s.nb && atActiveBound(xv[i], v[i], s.Bv[i]))) m = Math.max(m, Math.abs(v[i]));
  return m;
}

/** The KKT gradient test ‖∇(S/n)‖∞ / max(1, S/n) at x, b = Jᵀe. */
function gradTest(s: LMState, fv: number, bv: Float64Array): number {
  return (2 * freeNormInf(s, s.x, bv)) / s.n / Math.max(1, fv / s.n);
}

function updateScale(s: LMState): void {
  const { p, D, JtJ } = s;
  for (let i = 0; i < p; i++) D[i] = Math.max(D[i], JtJ[i * p + i]);
}

/**
 * The damped step (A + μD) h = b with the held set of the box; an indefinite A raises μ until the
 * factorisation succeeds (false: no damping gave a factorisation). h is then clipped onto the box.
 */
function dampedStep(s: LMState): boolean {
  const { p, nb, x, b, Bv, held, A, M, D, h } = s;
  let anyHeld = false;
  for (let i = 0; i < nb; i++) {
    held[i] = atActiveBound(x[i], b[i], Bv[i]) ? 1 : 0;
    if (held[i]) anyHeld = true;
  }
  const trust = s.trustRegion && s.newton;
  if (trust && s.delta > 0) {
    const sys: DampedSystem = { p, nb, held, anyHeld, A, D, b, M, h };
    const mu = trustRegionStep(sys, s.delta);
    if (!Number.isFinite(mu)) return false;
    s.mu = mu;
    clipStep(s);
    return true;
  }
  let solved = false;
  for (let tries = 0; tries < 60; tries++) {
    M.set(A);
    for (let i = 0; i < p; i++) M[i * p + i] += s.mu * (D[i] > 0 ? D[i] : 1);
    if (anyHeld) {
      // projected step: held coordinates get an identity row and column (and h_i = 0 below)
      for (let i = 0; i < nb; i++) {
        if (!held[i]) continue;
        for (let j = 0; j < p; j++) { M[i * p + j] = 0; M[j * p + i] = 0; }
        M[i * p + i] = 1;
      }
    }
    if (choleskyInPlace(M, p)) { solved = true; break; }
    s.mu *= s.nu;
    s.nu *= 2;
  }
  if (!solved) return false;
  h.set(b);
  if (anyHeld) for (let i = 0; i < nb; i++) if (held[i]) h[i] = 0;
  choleskySolveInPlace(M, p, h);
  if (trust) s.delta = scaledNorm(D, h); // the first Newton step's length is the first radius
  clipStep(s);
  return true;
}

/** The trial point clipped onto the box: h becomes the step actually taken. */
function clipStep(s: LMState): void {
  const { nb, x, Bv, h } = s;
  for (let i = 0; i < nb; i++) {
    const v = x[i] + h[i];
    if (v > Bv[i]) h[i] = Bv[i] - x[i];
    else if (v < -Bv[i]) h[i] = -Bv[i] - x[i];
  }
  if (s.trustRegion) s.stepNorm = scaledNorm(s.D, h);
}

/** The trial point xt = x + h (on the box), its value and the gain ratio ρ = (S(x) − S(xt)) / (L(0) − L(h)). */
function takeTrialStep(s: LMState): Trial & { ft: number } {
  const { p, nb, x, xt, h, A, b, Bv } = s;
  let hx = 0;
  let xn = 0;
  let pred = 0; // L(0) − L(h) = hᵀ(2b − A h), the model's decrease of S
  for (let i = 0; i < p; i++) {
    xt[i] = i < nb ? Math.min(Bv[i], Math.max(-Bv[i], x[i] + h[i])) : x[i] + h[i];
    hx += h[i] * h[i];
    xn += x[i] * x[i];
    let ah = 0;
    for (let j = 0; j < p; j++) ah += A[i * p + j] * h[j];
    pred += h[i] * (2 * b[i] - ah);
  }
  // Newton phase with `problem.hessian`: the trial point's curvature pass gives its value (the same S)
  // and, if the step is taken, its gradient and Hessian, so no separate value pass (acceptNewton)
  let ft: number;
  s.trialHessian = s.newton && s.hessian !== undefined && s.gradient !== undefined;
  s.trialNormal = false;
  if (s.trialHessian && s.hessian) {
    ft = s.hessian(xt, s.A2, s.bH);
    s.gradients++;
  } else if (s.problem.trialNormal && !s.newton) {
    // the trial point's Gauss–Newton pass gives its value (the same S): taken over on acceptance
    ft = s.problem.normal(xt, s.JtJt, s.bt);
    s.jacobians++;
    s.trialNormal = Number.isFinite(ft);
    if (!s.trialNormal) { ft = s.problem.value(xt); s.values++; }
  } else {
    ft = s.problem.value(xt);
    s.values++;
  }
  const rho = Number.isFinite(ft) && pred > 0 ? (s.f - ft) / pred : -1;
  return { hx, xn, pred, rho, ft };
}

/**
 * Accept the trial point (x, f, b, JtJ and in the Newton phase A move there) or keep x: on the gain
 * ratio, and below the rounding noise of S on a smaller gradient. 'nonFinite': the accepted point's
 * Jacobian pass was not finite.
 */
function acceptOrReject(s: LMState, t: Trial & { ft: number }): boolean | 'nonFinite' {
  const { ft, pred, rho } = t;
  const { x, xt, b, bOld, JtJ } = s;
  const f = s.f;
  const accept = rho > 0 && ft < f;
  bOld.set(b);
  const inNoise = !accept && Number.isFinite(ft) && Math.abs(ft - f) <= NOISE * f && pred <= NOISE * f;
  if (s.newton && s.gradient && (accept || inNoise)) return acceptNewton(s, ft, accept);
  if (inNoise && s.trialNormal) {
    // below the rounding noise of S the values cannot rank the points: accept on a smaller gradient
    if (!(freeNormInf(s, xt, s.bt) < freeNormInf(s, x, bOld))) return false;
    x.set(xt);
    s.f = ft;
    JtJ.set(s.JtJt);
    b.set(s.bt);
    return true;
  }
  if (inNoise) {
    // below the rounding noise of S the values cannot rank the points: accept on a smaller gradient
    s.JtJOld.set(JtJ);
    const fn = s.problem.normal(xt, JtJ, b);
    s.jacobians++;
    if (Number.isFinite(fn) && freeNormInf(s, xt, b) < freeNormInf(s, x, bOld)) {
      x.set(xt);
      s.f = fn;
      return true;
    }
    JtJ.set(s.JtJOld);
    b.set(bOld);
    return false;
  }
  if (accept && s.trialNormal) {
    x.set(xt);
    s.f = ft;
    JtJ.set(s.JtJt);
    b.set(s.bt);
  } else if (accept) {
    x.set(xt);
    s.f = s.problem.normal(x, JtJ, b);
    s.jacobians++;
    if (!Number.isFinite(s.f)) return 'nonFinite';
  }
  return accept;
}

/**
 * Newton phase: the gradient at the trial point, then (if taken) the exact Hessian there; with
 * `problem.hessian` both come from one pass at the trial point (A2, taken over on acceptance).
 */
function acceptNewton(s: LMState, ft: number, acceptOnValue: boolean): boolean {
  const { p, nb, x, xt, b, bOld, g0, g1, bH, Bv } = s;
  const gradient = s.gradient as NonNullable<LMState['gradient']>;
  const fused = s.hessian !== undefined;
  const fn = s.trialHessian ? ft : s.hessian ? s.hessian(xt, s.A2, bH) : gradient(xt, g1);
  if (fused) for (let i = 0; i < p; i++) g1[i] = -2 * bH[i];
  if (!s.trialHessian) s.gradients++;
  if (!Number.isFinite(fn)) return false;
  let gn = 0;
  for (let i = 0; i < p; i++) if (!(i < nb && atActiveBound(xt[i], -g1[i], Bv[i]))) gn = Math.max(gn, Math.abs(g1[i]));
  const accept = acceptOnValue || gn < 2 * freeNormInf(s, x, bOld);
  if (accept) {
    x.set(xt);
    s.f = ft < s.f ? ft : fn;
    g0.set(g1);
    for (let i = 0; i < p; i++) b[i] = -0.5 * g0[i];
    if (fused) s.A.set(s.A2);
    else if (!exactHessian(s)) { s.newton = false; s.f = s.problem.normal(x, s.JtJ, b); s.jacobians++; }
  }
  return accept;
}

/**
 * The exact Hessian of S/2 at x into A, by forward differences of the analytic gradient g0 at x
 * (already evaluated), column by column, symmetrised (or from `problem.hessian` in one pass).
 */
function exactHessian(s: LMState): boolean {
  const { problem, p, x, A, xs, g0, g1 } = s;
  const gradient = s.gradient;
  if (!gradient) return false;
  if (problem.hessian) {
    s.gradients++;
    return Number.isFinite(problem.hessian(x, A, s.bH));
  }
  for (let j = 0; j < p; j++) {
    const step = 1e-6 * Math.max(Math.abs(x[j]), 1e-2);
    xs.set(x);
    xs[j] += step;
    const fs = gradient(xs, g1);
    s.gradients++;
    if (!Number.isFinite(fs)) return false;
    for (let i = 0; i < p; i++) A[i * p + j] = (g1[i] - g0[i]) / (2 * step);
  }
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < i; j++) {
      const v = 0.5 * (A[i * p + j] + A[j * p + i]);
      A[i * p + j] = v;
      A[j * p + i] = v;
    }
  }
  return true;
}

/** After an accepted step: report it, the μ update of Alg. 3.16, the learnt curvature, the Newton window. */
function onAccepted(s: LMState, t: Trial): void {
  const { p, b, options } = s;
  s.accepted++;
  if (options.onIteration) {
    let g2 = 0;
    for (let i = 0; i < p; i++) g2 += b[i] * b[i];
    options.onIteration(s.accepted, s.f, (2 * Math.sqrt(g2)) / s.n);
  }
  updateScale(s);
  if (s.trustRegion && s.newton && s.delta > 0) s.delta = updateRadius(s.delta, s.stepNorm, t.rho, true);
  s.mu *= t.rho > 0 ? Math.max(1 / 3, 1 - (2 * t.rho - 1) ** 3) : 1;
  s.nu = 2;
  s.failures = 0;
  if (s.secondOrder && !s.newton) sr1Update(s, t.hx);
  if (s.gradient && s.newtonWindow > 0 && !s.newtonOff) newtonWindowTest(s, s.gradient);
}

/**
 * Structured SR1: y = ∇(S/2)_new − ∇(S/2)_old = bOld − b; y# = y − JᵀJ_new h is what the residual
 * term must explain; r = y# − Sr h; Sr += r rᵀ / (rᵀh) when well defined.
 */
function sr1Update(s: LMState, hx: number): void {
  const { p, b, bOld, JtJ, Sr, h, r } = s;
  let rh = 0;
  let rr = 0;
  for (let i = 0; i < p; i++) {
    let v = bOld[i] - b[i];
    for (let j = 0; j < p; j++) v -= (JtJ[i * p + j] + Sr[i * p + j]) * h[j];
    r[i] = v;
    rh += v * h[i];
    rr += v * v;
  }
  if (Math.abs(rh) > 1e-8 * Math.sqrt(rr * hx)) {
    for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) Sr[i * p + j] += (r[i] * r[j]) / rh;
  }
}

/**
 * Every `newtonWindow` steps: if the gradient fell less than 10×, Gauss–Newton (with the learnt
 * term) is crawling → Newton; if Newton crawls too while ‖θ‖∞ grows by > 10 %, the iterate runs
 * along a valley to infinity, where exact curvature does not pay its p passes per step → back to
 * stage 2 for good.
 */
function newtonWindowTest(s: LMState, gradient: NonNullable<LMState['gradient']>): void {
  const { p, x, b } = s;
  const gn = freeNormInf(s, x, b);
  if (s.iter - s.windowStart >= s.newtonWindow) {
    const xGrowth = normInf(x) / Math.max(s.windowX, 1e-300);
    s.windowX = normInf(x);
    if (gn > 0.1 * s.windowG) {
      if (s.newton && xGrowth <= 1.1) {
        // slow but bounded: stay with Newton
      } else if (s.newton) {
        s.newton = false;
        s.newtonOff = true;
        s.f = s.problem.normal(x, s.JtJ, b);
        s.jacobians++;
        s.Sr.fill(0);
      } else {
        const fn = gradient(x, s.g0);
        s.gradients++;
        if (Number.isFinite(fn) && exactHessian(s)) {
          s.newton = true;
          for (let i = 0; i < p; i++) b[i] = -0.5 * s.g0[i];
        }
      }
    }
    s.windowStart = s.iter;
    s.windowG = freeNormInf(s, x, b);
  } else if (s.windowG === Infinity) {
    s.windowG = gn;
    s.windowX = normInf(x);
  }
}

/** After a rejected step: raise μ (ν doubling); false when μ overflowed (stalled). */
function onRejected(s: LMState): boolean {
  if (s.trustRegion && s.newton && s.delta > 0) {
    s.delta = updateRadius(s.delta, s.stepNorm, -1, false);
    return s.delta > 0;
  }
  s.mu *= s.nu;
  s.nu *= 2;
  // a learnt term that keeps predicting badly is dropped (back to Gauss–Newton)
  if (++s.failures >= 3 && s.secondOrder && !s.newton) { s.Sr.fill(0); s.failures = 0; }
  return Number.isFinite(s.mu) && !(s.mu > 1e300);
}
