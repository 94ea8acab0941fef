/**
 * Least-squares estimation of a regression mixture of experts (paper P3, math-spec §5.1, §9.3):
 *
 *   Ĝ ∈ argmin Σ_t (y_t − f_G(x_t))²,   f_G(x) = Σᵢ πᵢ(x) h(x, ηᵢ),
 *
 * by variable projection where the experts are linear in their parameters (lse-varpro.ts: the
 * experts eliminated by linear least squares, Levenberg–Marquardt on the gate; default 'auto'),
 * Levenberg–Marquardt on the full residual Jacobian (src/numeric/lm.ts; the default for other
 * experts) or L-BFGS (src/numeric/lbfgs.ts, `solver: 'lbfgs'`) on the mean squared error. With e_t = y_t − f_G(x_t):
 *   - gate part (any gate, through the Gate interface only):
 *       ∂SSE/∂θ_G = Σ_t −2e_t Σᵢ h_ti ∂π_ti = Σ_t Σᵢ W_ti ∂log π_ti   with W_ti = −2 e_t h_ti π_ti,
 *     i.e. `gate.gradQ(θ_G, X, n, W, grad)` (gradQ accepts arbitrary real W);
 *   - expert part: ∂SSE/∂η = Σ_t Σᵢ V_ti ∂h_ti with V_ti = −2 e_t π_ti (`gradPredict`);
 *   - residual Jacobian row J_t = ∂f_G(x_t)/∂θ (for Levenberg–Marquardt), from the same derivatives
 *     per row: gate part Σᵢ h_ti π_ti ∂log π_ti (`gate.rowGradQ` with W_ti = h_ti π_ti), expert part
 *     π_ti ∂h_ti/∂ηᵢ (`rowGradPredict` with V_ti = π_ti); JᵀJ and Jᵀe are accumulated by blocks of
 *     rows, so J is never stored whole.
 * Compact Θ (`gateBound`, `expertBound`, math-spec §1.2 A.3): the box |θ_G,i| ≤ B on the gate's
 * working parameters (and |η_i| ≤ B_E on the experts') makes both solvers projected (lm.ts, lbfgs.ts); stationarity is then the KKT test of the box.
 * Subsample warm start (`warmStart`, n ≥ 15000; `lseWarmStartSizes`): LM and varpro first run on random
 * subsamples of n/3^j rows, each stage from the previous one's end, then on all rows (most steps of an
 * over-specified fit are spent along a valley whose shape a subsample already has, at m/n of the cost).
 * LM under a softmax gate with regression experts (no output weight) uses the fused kernels of lse-kernels.ts.
 * A full LM fit that stops unconverged continues from its end point with Newton steps under a trust
 * radius (the rescue run, solveLM); the varpro warm start is guarded by the plain run (runVarpro).
 * Restarts keep the lowest SSE. Initialisations are those of init.ts (random, kmeans++, nearTruth,
 * model); the data-driven ones use the regression family's weighted least-squares M-step.
 */
import { validateDataset } from './validate.js';
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelSpec } from '../model/model.js';
import { RegressionExperts, type RegressionExpertFamily } from '../experts/regression.js';
import { Rng } from '../numeric/rng.js';
import { lbfgs } from '../numeric/lbfgs.js';
import { levenbergMarquardt, type LeastSquaresProblem } from '../numeric/lm.js';
import { initialise } from './init.js';
import { bestOf } from './restarts.js';
import { resolveLSEOptions, type LSEOptions, type ResolvedLSEOptions } from './options.js';
import { OptionError } from '../errors.js';
import { warning, type MoeWarning } from '../warnings.js';
import { atActiveBound } from '../numeric/box.js';
import { hasAnalyticHessian, lseHessian, LSEHessianWorkspace } from './lse-hessian.js';
import { fitLSEStandardized } from './standardize-lse.js';
import { isSeparable, varproFit } from './lse-varpro.js';
import { subsample } from './warm-start.js';
import { fusedCurvature, fusedSSE, hasFusedKernels, LSEKernelWorkspace } from './lse-kernels.js';

export type { LSEOptions } from './options.js';

import { LSEWorkspace, lseNormalEquations, lseObjective, regressionExperts, type LSEResult, type LSESolver } from './lse-objective.js';
export { LSEWorkspace, lseObjective, lseNormalEquations, type LSEResult, type LSESolver } from './lse-objective.js';

function hasRowDerivatives(model: MixtureOfExperts): boolean {
  const e = model.expert as Partial<RegressionExpertFamily>;
  return typeof model.gate.rowGradQ === 'function' && typeof e.rowGradPredict === 'function';
}

interface RunResult {
  theta: Float64Array;
  sse0: number;
  sse: number;
  iterations: number;
  converged: boolean;
  reason: string;
  timedOut: boolean;
}

/** The solver that runs for this model and these options, and why it differs from the requested one. */
export function chooseSolver(model: MixtureOfExperts, options: LSEOptions): { solver: LSESolver; fallback?: string } {
  const requested = options.solver ?? 'auto';
  const rows = hasRowDerivatives(model);
  if (requested === 'lbfgs') return { solver: 'lbfgs' };
  if (requested === 'lm') return { solver: rows ? 'lm' : 'lbfgs' };
  if (requested === 'varpro') {
    if (!isSeparable(model) || !rows) {
      const e = model.expert;
      const what = e instanceof RegressionExperts ? `regression:${e.activation}${e.outputWeight ? ' with an output weight' : ''} experts` : `${e.type} experts`;
      throw new OptionError(`solver: 'varpro' needs experts linear in their parameters (regression:linear) and per-row gate derivatives; ${what} under a ${model.gate.type} gate are not; use solver 'auto' or 'lm'`);
    }
    if (options.expertBound !== undefined) return { solver: 'lm', fallback: `solver 'varpro' cannot honour expertBound (the experts are solved unconstrained); Levenberg–Marquardt ran instead` };
    return { solver: 'varpro' };
  }
  if (isSeparable(model) && rows && options.expertBound === undefined) return { solver: 'varpro' };
  return { solver: rows ? 'lm' : 'lbfgs' };
}

/** The box |θ_i| ≤ B_i of gateBound (gate block) and expertBound (expert block), or undefined when neither is set. */
function parameterBounds(model: MixtureOfExperts, options: LSEOptions): Float64Array | undefined {
  if (options.gateBound === undefined && options.expertBound === undefined) return undefined;
  const pG = model.gate.nParams;
  const B = new Float64Array(model.nParams);
  for (let i = 0; i < B.length; i++) B[i] = (i < pG ? options.gateBound : options.expertBound) ?? Infinity;
  return B;
}

/** One solver run from θ0. */
function runLSE(model: MixtureOfExperts, theta0: Float64Array, data: Dataset, ws: LSEWorkspace, options: ResolvedLSEOptions, solver: LSESolver, restart: number, deadline: number | undefined): RunResult {
  const n = data.n;
  const p = theta0.length;
  const box = parameterBounds(model, options);
  if (box) for (let i = 0; i < p; i++) theta0[i] = Math.min(box[i], Math.max(-box[i], theta0[i])); // a start outside the box is moved onto it
  const sse0 = lseObjective(model, theta0, data, ws);
  if (!Number.isFinite(sse0)) throw new OptionError('the initial model is infeasible (non-finite squared error); choose another initialisation');
  if (solver === 'varpro') return runVarpro(model, theta0, sse0, data, ws, options, restart, box, deadline);
  if (solver === 'lm') {
    // opt-in for LM (options.ts `warmStart`): on the lse-gelu study jobs at n = 17862 / 30000 / 49417 it
    // changed the path (SSE lower in 4, higher in 2 of 11) without lowering the median CPU
    const sizes = options.warmStart === true ? lseWarmStartSizes(n) : [];
    let start = theta0;
    let subIterations = 0;
    const rng = new Rng(options.seed).split('lse-warm-start', restart);
    for (const m of sizes) {
      const sub = subsample(data, m, rng);
      const r = solveLM(model, start, sub, new LSEWorkspace(model, m), { ...options, maxIter: warmStageMaxIter(options) }, restart, box, deadline, false);
      subIterations += r.iterations;
      if (r.timedOut) return { ...r, sse0, sse: lseObjective(model, r.theta, data, ws), converged: false, iterations: subIterations };
      if (!r.converged) { start = theta0; break; } // a stage that does not converge (a valley) abandons the warm start
      start = r.theta;
    }
    const res = solveLM(model, start, data, ws, options, restart, box, deadline, true);
    return { ...res, sse0, iterations: res.iterations + subIterations };
  }
  return runLBFGS(model, theta0, sse0, data, ws, options, restart, box, deadline);
}

/** Stop reasons of the full Levenberg–Marquardt fit after which the rescue run starts (solveLM). */
const RESCUABLE = new Set<string>(['maxIter', 'xtol', 'stalled']);
/** Steps of the rescue run before its Newton phase may start (lm.ts `newtonWindow`). */
const RESCUE_NEWTON_WINDOW = 3;

/** Fewer rows than this: no subsample warm start of the least-squares fit. */
export const LSE_WARM_START_MIN_N = 15000;
/** The smallest warm-start subsample (rows). */
const LSE_WARM_START_MIN_M = 5000;

/**
 * Rows of the subsample stages of the least-squares warm start for n rows, ascending (empty: none):
 * n/3^j for j = J … 1, every stage ≥ 5000 rows (n = 5e4: 5556, 16667; n = 3e4: 10000; n < 15000: none).
 */
export function lseWarmStartSizes(n: number): number[] {
  const out: number[] = [];
  if (n < LSE_WARM_START_MIN_N) return out;
  for (let m = Math.round(n / 3); m >= LSE_WARM_START_MIN_M; m = Math.round(m / 3)) out.unshift(m);
  return out;
}

/**
 * Steps of one warm-start stage: a quarter of maxIter. A stage that ends without converging (the
 * over-specified fit entered a valley along which an atom's weight falls and its expert grows, more
 * often on a small subsample) abandons the warm start: the full-data fit then runs from θ0.
 */
function warmStageMaxIter(options: ResolvedLSEOptions): number {
  return Math.max(1, Math.ceil(options.maxIter / 4));
}

/** Levenberg–Marquardt from θ0 on `data` (the full rows or a warm-start subsample); sse0 is filled in by the caller. */
function solveLM(model: MixtureOfExperts, theta0: Float64Array, data: Dataset, ws: LSEWorkspace, options: ResolvedLSEOptions, restart: number, box: Float64Array | undefined, deadline: number | undefined, report: boolean): RunResult {
  const n = data.n;
  let problem: LeastSquaresProblem;
  if (hasFusedKernels(model)) {
    // softmax × regression experts without an output weight: the fused one-pass kernels (lse-kernels.ts)
    const kws = new LSEKernelWorkspace(model);
    problem = {
      p: theta0.length,
      n,
      value: (x) => fusedSSE(model, x, data, kws),
      normal: (x, JtJ, Jte) => fusedCurvature(model, x, data, kws, JtJ, Jte, false),
      gradient: (x, g) => {
        const f = fusedCurvature(model, x, data, kws, kws.A, g, false);
        for (let i = 0; i < g.length; i++) g[i] *= -2;
        return f;
      },
      hessian: (x, H, b) => fusedCurvature(model, x, data, kws, H, b, true),
      // the normal pass costs 1.45 value passes (7.3 vs 5.1 ms at n = 5e4, k = 3, GELU) and sums the same S
      trialNormal: true,
    };
  } else {
    // the Newton phase's exact Hessian in one pass where it is written out (softmax × regression experts)
    const hws = hasAnalyticHessian(model) ? new LSEHessianWorkspace(model, n) : undefined;
    problem = {
      p: theta0.length,
      n,
      value: (x) => lseObjective(model, x, data, ws),
      normal: (x, JtJ, Jte) => lseNormalEquations(model, x, data, ws, JtJ, Jte),
      gradient: (x, g) => lseObjective(model, x, data, ws, g),
      ...(hws ? { hessian: (x: Float64Array, H: Float64Array, b: Float64Array) => lseHessian(model, x, data, hws, H, b) } : {}),
    };
  }
  const onIteration = report && options.onProgress ? (it: number, f: number, g: number) => options.onProgress?.(restart, it, f, g) : undefined;
  const fast = options.lmTrustRegion ? { newtonWindow: RESCUE_NEWTON_WINDOW, trustRegion: true } : {};
  let res = levenbergMarquardt(problem, theta0, { maxIter: options.maxIter, gtol: options.gtol, bounds: box, deadline, onIteration, ...fast });
  if (report && !res.converged && RESCUABLE.has(res.reason) && problem.gradient) {
    // not converged (maxIter, xtol, stalled: a slow valley or a stall at rounding level near the
    // end): a second run from its end point, Newton on the exact Hessian from its first steps with the
    // step length set by a trust radius (lm-trust.ts); it starts where the first ended, so its SSE is
    // never higher, and fits that converged are untouched (same path, same bits)
    const done = res.iterations;
    const rescue = levenbergMarquardt(problem, res.x, {
      maxIter: options.maxIter,
      gtol: options.gtol,
      newtonWindow: RESCUE_NEWTON_WINDOW,
      trustRegion: true,
      bounds: box,
      deadline,
      onIteration: onIteration ? (it, f, g) => onIteration(done + it, f, g) : undefined,
    });
    if (rescue.f <= res.f) res = { ...rescue, iterations: done + rescue.iterations };
  }
  return { theta: res.x, sse0: NaN, sse: res.f, iterations: res.iterations, converged: res.converged, reason: res.reason, timedOut: res.reason === 'timeLimit' };
}

/**
 * One variable-projection run from θ0 (lse-varpro.ts): Levenberg–Marquardt on the gate parameters
 * with the experts projected out (the gate box as in the full solver), in anchored rounds, then the
 * experts recovered and the gradient test made on the FULL parameter vector (KKT with the gate box).
 * If the rounds end without passing it, the remaining iteration budget is spent by the full
 * Levenberg–Marquardt from there (which only lowers the SSE).
 *
 * With the subsample warm start (n ≥ 15000, on by default) the same full-data run also goes from θ0
 * itself, and the lower SSE is kept (the guard): the two paths end in different minima of an
 * over-specified fit (lse-linear study jobs, 18 paired at n = 17783…56234: the warm start lower in 8,
 * higher in 3, by up to 4.8e-5 relative), so only running both guarantees an SSE never above that of
 * the plain run it replaced. The iterations of both runs are counted.
 */
function runVarpro(model: MixtureOfExperts, theta0: Float64Array, sse0: number, data: Dataset, ws: LSEWorkspace, options: ResolvedLSEOptions, restart: number, box: Float64Array | undefined, deadline: number | undefined): RunResult {
  // the subsample warm start (lseWarmStartSizes), as for Levenberg–Marquardt
  let start = theta0;
  let subIterations = 0;
  const rng = new Rng(options.seed).split('lse-warm-start', restart);
  for (const m of options.warmStart !== false ? lseWarmStartSizes(data.n) : []) {
    const sub = subsample(data, m, rng);
    const r = varproFit(model, start, sub, new LSEWorkspace(model, m), { maxIter: warmStageMaxIter(options), gtol: options.gtol, box, deadline });
    subIterations += r.iterations;
    if (r.reason === 'timeLimit') return { theta: r.theta, sse0, sse: lseObjective(model, r.theta, data, ws), iterations: subIterations, converged: false, reason: r.reason, timedOut: true };
    if (!r.converged) { start = theta0; break; }
    start = r.theta;
  }
  const warm = varproFull(model, start, sse0, data, ws, options, restart, box, deadline);
  if (start === theta0) return { ...warm, iterations: warm.iterations + subIterations };
  // the guard: the plain run from θ0 (what the warm start replaces); the lower SSE is kept
  const plain = varproFull(model, theta0, sse0, data, ws, options, restart, box, deadline);
  const best = plain.sse < warm.sse ? plain : warm;
  return { ...best, iterations: warm.iterations + plain.iterations + subIterations, timedOut: warm.timedOut || plain.timedOut };
}

/** The full-data variable projection from `start`, then the full Levenberg–Marquardt if it did not converge. */
function varproFull(model: MixtureOfExperts, start: Float64Array, sse0: number, data: Dataset, ws: LSEWorkspace, options: ResolvedLSEOptions, restart: number, box: Float64Array | undefined, deadline: number | undefined): RunResult {
  const vp = varproFit(model, start, data, ws, {
    maxIter: options.maxIter,
    gtol: options.gtol,
    box,
    deadline,
    onIteration: options.onProgress ? (it, f, g) => options.onProgress?.(restart, it, f, g) : undefined,
  });
  let run: RunResult = { theta: vp.theta, sse0, sse: vp.sse, iterations: vp.iterations, converged: vp.converged, reason: vp.reason, timedOut: vp.reason === 'timeLimit' };
  const left = options.maxIter - vp.steps;
  if (!run.converged && !run.timedOut && left > 0) {
    const polish = runLSE(model, vp.theta, data, ws, { ...options, maxIter: left, warmStart: false }, 'lm', restart, deadline);
    if (polish.sse <= run.sse) run = { ...polish, sse0, iterations: run.iterations + polish.iterations };
  }
  return run;
}

/** One L-BFGS run from θ0 on MSE(θ) = SSE(θ)/n. */
function runLBFGS(model: MixtureOfExperts, theta0: Float64Array, sse0: number, data: Dataset, ws: LSEWorkspace, options: LSEOptions, restart: number, box: Float64Array | undefined, deadline: number | undefined): RunResult {
  const n = data.n;
  const p = theta0.length;
  const fg = (x: Float64Array, g: Float64Array): number => {
    const v = lseObjective(model, x, data, ws, g);
    if (!Number.isFinite(v)) return Infinity;
    for (let i = 0; i < p; i++) g[i] /= n;
    return v / n;
  };
  const res = lbfgs(fg, theta0, {
    maxIter: options.maxIter,
    gtol: options.gtol,
    ftol: options.ftol,
    memory: options.memory,
    bounds: box,
    // the time limit, polled once per iteration
    signal: deadline !== undefined ? { get aborted() { return performance.now() > deadline; } } : undefined,
    onIteration: options.onProgress ? (it, f, g) => options.onProgress?.(restart, it, f * n, Math.hypot(...g)) : undefined,
  });
  return { theta: res.x, sse0, sse: res.f * n, iterations: res.iterations, converged: res.converged, reason: res.reason === 'aborted' ? 'timeLimit' : res.reason, timedOut: res.reason === 'aborted' };
}

const SOLVER_NAMES: Record<LSESolver, string> = { varpro: 'variable projection (Levenberg–Marquardt on the gate)', lm: 'Levenberg–Marquardt', lbfgs: 'L-BFGS' };

/**
 * Fit a regression mixture of experts by least squares (math-spec §5.1, §9.3), on internally
 * standardised data mapped back (scale-equivariant; standardize-lse.ts; `standardize: false` fits
 * the data as given).
 */
export function fitLSE(spec: ModelSpec, data: Dataset, lseOptions: LSEOptions = {}): LSEResult {
  return fitLSEStandardized(spec, data, lseOptions, fitLSEUnscaled);
}

/** `fitLSE` on the data as given (no standardisation). */
export function fitLSEUnscaled(spec: ModelSpec, data: Dataset, lseOptions: LSEOptions = {}): LSEResult {
  const start = performance.now();
  const options = resolveLSEOptions(lseOptions);
  const model = MixtureOfExperts.fromSpec(spec);
  regressionExperts(model);
  validateDataset(spec, model, data);
  model.expert.prepare?.(data.X, data.y, data.n);
  const restarts = options.restarts;
  const rng = new Rng(options.seed);
  const init = options.init ?? { type: 'kmeans++' };
  const ws = new LSEWorkspace(model, data.n);
  const warnings: MoeWarning[] = [];
  const deadline = options.timeLimit !== undefined ? start + options.timeLimit * 1000 : undefined;
  const { solver, fallback } = chooseSolver(model, options);
  if (fallback) warnings.push(warning('LSE_SOLVER_FALLBACK', fallback, { requested: options.solver, used: solver }));
  // one restart loop (restarts.ts): the initialisation is part of the run (a failed start is a failed
  // restart); the time limit ends each run at its first step after the deadline (no early break)
  const outcome = bestOf<undefined, RunResult>({
    restarts,
    direction: 'min',
    objective: (run) => run.sse,
    prepare: () => undefined,
    run: (r) => runLSE(model, initialise(model, data, init, rng.split('restart', r), options), data, ws, options, solver, r, deadline),
    onRestart: (r, run) => options.onRestart?.(r, run.sse),
  });
  const best = outcome.best;
  const sses = outcome.objectives;
  warnings.push(...outcome.warnings);
  const n = data.n;
  const mse = best.sse / n;
  const e = model.expert;
  const fittedExpert = e instanceof RegressionExperts ? e.withNoiseVariance(mse > 0 ? mse : undefined) : e;
  const fitted = new MixtureOfExperts(model.gate, fittedExpert, best.theta.slice());
  fitted.canonicalize();
  // gradient norm of the MSE at the returned (canonical) parameters
  const grad = new Float64Array(fitted.nParams);
  const sse = lseObjective(fitted, fitted.theta, data, ws, grad);
  const box = parameterBounds(fitted, options);
  let g2 = 0;
  for (let i = 0; i < grad.length; i++) {
    if (box && atActiveBound(fitted.theta[i], -grad[i], box[i])) continue; // KKT: held at the bound
    g2 += (grad[i] / n) ** 2;
  }
  if (best.timedOut) warnings.push(warning('LSE_TIME_LIMIT', `the fit stopped at the time limit of ${options.timeLimit ?? '?'} s after ${best.iterations} iterations, before it converged`, { timeLimit: options.timeLimit ?? null, iterations: best.iterations }));
  else if (!best.converged) warnings.push(warning('LSE_NOT_CONVERGED', `${SOLVER_NAMES[solver]} stopped (${best.reason}) before the gradient tolerance was met`, { reason: best.reason }));
  return {
    model: fitted,
    sse,
    mse: sse / n,
    trace: [best.sse0, sse],
    iterations: best.iterations,
    solver,
    converged: best.converged,
    gradientNorm: Math.sqrt(g2),
    restarts,
    restartSSE: sses,
    seconds: (performance.now() - start) / 1000,
    warnings,
  };
}
