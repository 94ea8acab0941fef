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

export function levenbergMarquardt(problem: LeastSquaresProblem, x0: Float64Array, options: LMOptions = {}): LMResult {
  const { p, n } = problem;
  const maxIter = options.maxIter ?? 500;
  const gtol = options.gtol ?? 1e-10;
  const xtol = options.xtol ?? 1e-15;
  const deadline = options.deadline;
  const secondOrder = options.secondOrder ?? true;
  const x = Float64Array.from(x0);
  // per-coordinate bounds |θ_i| ≤ Bv[i] (Infinity: free); nb = p when any is finite, else 0
  const Bv = new Float64Array(p).fill(Infinity);
  if (options.bounds) for (let i = 0; i < p; i++) Bv[i] = options.bounds[i] ?? Infinity;
  else if (options.box) for (let i = 0; i < Math.min(p, options.box.count); i++) Bv[i] = options.box.bound;
  const nb = Bv.some(Number.isFinite) ? p : 0;
  for (let i = 0; i < nb; i++) x[i] = Math.min(Bv[i], Math.max(-Bv[i], x[i])); // a start outside the box is moved onto it
  const held = new Uint8Array(p); // coordinates held at an active bound in this step
  /** ‖v‖∞ over the coordinates not at an active bound of the box at xv (v = Jᵀe, a descent direction). */
  const freeNormInf = (xv: Float64Array, v: Float64Array): number => {
    let m = 0;
    for (let i = 0; i < p; i++) if (!(i < nb && atActiveBound(xv[i], v[i], Bv[i]))) m = Math.max(m, Math.abs(v[i]));
    return m;
  };
  const xt = new Float64Array(p);
  const JtJ = new Float64Array(p * p);
  const Sr = new Float64Array(p * p); // learnt residual curvature: ∇²(S/2) ≈ JᵀJ + Sr
  const A = new Float64Array(p * p); // JᵀJ + Sr
  const A2 = new Float64Array(p * p); // exact Hessian at the trial point (Newton phase with problem.hessian)
  const M = new Float64Array(p * p); // A + μD, factored
  const b = new Float64Array(p); // Jᵀe = −∇(S/2)
  const bOld = new Float64Array(p);
  const JtJOld = new Float64Array(p * p);
  const h = new Float64Array(p);
  const D = new Float64Array(p); // Marquardt scaling, running maximum of diag(JᵀJ)
  const r = new Float64Array(p);
  const g0 = new Float64Array(p);
  const g1 = new Float64Array(p);
  const xs = new Float64Array(p);
  const bH = new Float64Array(p); // Jᵀe of the analytic Hessian pass (b is kept from the gradient)
  const gradient = problem.gradient?.bind(problem);
  const hessian = problem.hessian?.bind(problem);
  const newtonWindow = options.newtonWindow ?? 25;
  let newton = false;
  let newtonOff = false;
  let windowX = 0;
  let windowStart = 0;
  let windowG = Infinity;
  let gradients = 0;
  let newtonIterations = 0;
  let jacobians = 1;
  let values = 0;

  let f = problem.normal(x, JtJ, b);
  if (!Number.isFinite(f)) return { x, f, gradNormInf: Infinity, iterations: 0, steps: 0, newtonIterations, jacobians, values, gradients, converged: false, reason: 'nonFinite' };
  const gradTest = (fv: number, bv: Float64Array): number => (2 * freeNormInf(x, bv)) / n / Math.max(1, fv / n);
  const updateScale = (): void => {
    for (let i = 0; i < p; i++) D[i] = Math.max(D[i], JtJ[i * p + i]);
  };
  updateScale();
  let mu = 1e-3 * Math.max(...D);
  if (!(mu > 0)) mu = 1e-3;
  let nu = 2;
  let iter = 0;
  let accepted = 0;
  let failures = 0;
  let reason: LMResult['reason'] = 'maxIter';

  /**
   * The exact Hessian of S/2 at x into A, by forward differences of the analytic gradient g0 at x
   * (already evaluated), column by column, symmetrised.
   */
  const exactHessian = (): boolean => {
    if (!gradient) return false;
    if (problem.hessian) {
      gradients++;
      return Number.isFinite(problem.hessian(x, A, bH));
    }
    for (let j = 0; j < p; j++) {
      const step = 1e-6 * Math.max(Math.abs(x[j]), 1e-2);
      xs.set(x);
      xs[j] += step;
      const fs = gradient(xs, g1);
      gradients++;
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
  };

  while (iter < maxIter) {
    if (gradTest(f, b) <= gtol) { reason = 'gtol'; break; }
    if (deadline !== undefined && performance.now() > deadline) { reason = 'timeLimit'; break; }
    iter++;
    if (newton) newtonIterations++;
    else for (let i = 0; i < p * p; i++) A[i] = JtJ[i] + Sr[i];
    // damped step (A + μD) h = b; an indefinite A raises μ until the factorisation succeeds
    let anyHeld = false;
    for (let i = 0; i < nb; i++) {
      held[i] = atActiveBound(x[i], b[i], Bv[i]) ? 1 : 0;
      if (held[i]) anyHeld = true;
    }
    let solved = false;
    for (let tries = 0; tries < 60; tries++) {
      M.set(A);
      for (let i = 0; i < p; i++) M[i * p + i] += mu * (D[i] > 0 ? D[i] : 1);
      if (anyHeld) {
        // projected step: held coordinates get an identity row and column (and h_i = 0 below)
        for (let i = 0; i < nb; i++) {
          if (!held[i]) continue;
          for (let j = 0; j < p; j++) { M[i * p + j] = 0; M[j * p + i] = 0; }
          M[i * p + i] = 1;
        }
      }
      if (choleskyInPlace(M, p)) { solved = true; break; }
      mu *= nu;
      nu *= 2;
    }
    if (!solved) { reason = 'stalled'; break; }
    h.set(b);
    if (anyHeld) for (let i = 0; i < nb; i++) if (held[i]) h[i] = 0;
    choleskySolveInPlace(M, p, h);
    // the trial point clipped onto the box; h becomes the step actually taken
    for (let i = 0; i < nb; i++) {
      const v = x[i] + h[i];
      if (v > Bv[i]) h[i] = Bv[i] - x[i];
      else if (v < -Bv[i]) h[i] = -Bv[i] - x[i];
    }
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
    const ft = problem.value(xt);
    values++;
    const rho = Number.isFinite(ft) && pred > 0 ? (f - ft) / pred : -1;
    let accept = rho > 0 && ft < f;
    bOld.set(b);
    const inNoise = !accept && Number.isFinite(ft) && Math.abs(ft - f) <= NOISE * f && pred <= NOISE * f;
    if (newton && gradient && (accept || inNoise)) {
      // Newton phase: the gradient at the trial point, then (if taken) the exact Hessian there; with
      // `problem.hessian` both come from one pass at the trial point (A2, taken over on acceptance)
      const fused = hessian !== undefined;
      const fn = hessian ? hessian(xt, A2, bH) : gradient(xt, g1);
      if (fused) for (let i = 0; i < p; i++) g1[i] = -2 * bH[i];
      gradients++;
      if (!Number.isFinite(fn)) { accept = false; } else {
        let gn = 0;
        for (let i = 0; i < p; i++) if (!(i < nb && atActiveBound(xt[i], -g1[i], Bv[i]))) gn = Math.max(gn, Math.abs(g1[i]));
        if (!accept) accept = gn < 2 * freeNormInf(x, bOld);
        if (accept) {
          x.set(xt);
          f = ft < f ? ft : fn;
          g0.set(g1);
          for (let i = 0; i < p; i++) b[i] = -0.5 * g0[i];
          if (fused) A.set(A2);
          else if (!exactHessian()) { newton = false; f = problem.normal(x, JtJ, b); jacobians++; }
        }
      }
    } else if (inNoise) {
      // below the rounding noise of S the values cannot rank the points: accept on a smaller gradient
      JtJOld.set(JtJ);
      const fn = problem.normal(xt, JtJ, b);
      jacobians++;
      if (Number.isFinite(fn) && freeNormInf(xt, b) < freeNormInf(x, bOld)) {
        accept = true;
        x.set(xt);
        f = fn;
      } else {
        JtJ.set(JtJOld);
        b.set(bOld);
      }
    } else if (accept) {
      x.set(xt);
      f = problem.normal(x, JtJ, b);
      jacobians++;
      if (!Number.isFinite(f)) { reason = 'nonFinite'; break; }
    }
    if (accept) {
      accepted++;
      if (options.onIteration) {
        let g2 = 0;
        for (let i = 0; i < p; i++) g2 += b[i] * b[i];
        options.onIteration(accepted, f, (2 * Math.sqrt(g2)) / n);
      }
      updateScale();
      mu *= rho > 0 ? Math.max(1 / 3, 1 - (2 * rho - 1) ** 3) : 1;
      nu = 2;
      failures = 0;
      if (secondOrder && !newton) {
        // structured SR1: y = ∇(S/2)_new − ∇(S/2)_old = bOld − b; y# = y − JᵀJ_new h is what the
        // residual term must explain; r = y# − Sr h; Sr += r rᵀ / (rᵀh) when well defined
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
      if (gradient && newtonWindow > 0 && !newtonOff) {
        // every `newtonWindow` steps: if the gradient fell less than 10×, Gauss–Newton (with the
        // learnt term) is crawling → Newton; if Newton crawls too while ‖θ‖∞ grows by > 10 %, the
        // iterate runs along a valley to infinity, where exact curvature does not pay its p passes
        // per step → back to stage 2 for good
        const gn = freeNormInf(x, b);
        if (iter - windowStart >= newtonWindow) {
          const xGrowth = normInf(x) / Math.max(windowX, 1e-300);
          windowX = normInf(x);
          if (gn > 0.1 * windowG) {
            if (newton && xGrowth <= 1.1) {
              // slow but bounded: stay with Newton
            } else if (newton) {
              newton = false;
              newtonOff = true;
              f = problem.normal(x, JtJ, b);
              jacobians++;
              Sr.fill(0);
            } else {
              const fn = gradient(x, g0);
              gradients++;
              if (Number.isFinite(fn) && exactHessian()) {
                newton = true;
                for (let i = 0; i < p; i++) b[i] = -0.5 * g0[i];
              }
            }
          }
          windowStart = iter;
          windowG = freeNormInf(x, b);
        } else if (windowG === Infinity) {
          windowG = gn;
          windowX = normInf(x);
        }
      }
      if (Math.sqrt(hx) <= xtol * (Math.sqrt(xn) + xtol)) { reason = gradTest(f, b) <= gtol ? 'gtol' : 'xtol'; break; }
    } else {
      mu *= nu;
      nu *= 2;
      // a learnt term that keeps predicting badly is dropped (back to Gauss–Newton)
      if (++failures >= 3 && secondOrder && !newton) { Sr.fill(0); failures = 0; }
      if (!Number.isFinite(mu) || mu > 1e300) { reason = 'stalled'; break; }
    }
  }
  const gradNormInf = (2 * freeNormInf(x, b)) / n;
  return { x, f, gradNormInf, iterations: accepted, steps: iter, newtonIterations, jacobians, values, gradients, converged: reason === 'gtol', reason };
}
