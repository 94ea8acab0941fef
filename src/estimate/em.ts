/**
 * Maximum-likelihood estimation by EM (math-spec §9.1), accelerated and finished so that fits
 * actually reach the maximum. A run (`runEM`) is three parts, each in its own module:
 *
 *  1. the EM map F(θ) (em-step.ts): E-step in log space, then each family's own weighted M-step
 *     (experts closed form / IRLS, gate exact Newton warm-started);
 *  2. SQUAREM on θ (squarem.ts), monotone: the log-likelihoods never decrease;
 *  3. the finish: with `finish: 'newton'` (or 'auto', the default: from NEWTON_AUTO_MIN_ROWS rows, softmax × Gaussian; finish.ts autoNewton) Newton on ℓ with the exact observed information once the
 *     relative change is ≤ newtonHandover (finish.ts; skipped when that information is not positive
 *     definite); otherwise after the relative-change stop, up to `finishMaxIter` more accelerated
 *     iterations run while ‖∇(ℓ/n)‖∞ > gtol (the gradient comes from Fisher's identity at no extra
 *     E-step); then a trust-limited L-BFGS in the BHHH metric (finish.ts, bhhh.ts) until
 *     ‖∇(ℓ/n)‖∞ ≤ gtol.
 *
 * `fitEM` keeps the best log-likelihood over restarts (restarts.ts).
 */
import { validateDataset } from './validate.js';
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelSpec } from '../model/model.js';
import { OptionError } from '../errors.js';
import { atActiveBound, blockBound, clipToBox } from '../numeric/box.js';
import { EMWorkspace, eStep, gradientFromPosteriors, logLikelihoodGradient, mStepSettings, type MStepSettings } from './em-step.js';
import { PlainEM, Squarem, type EMCycle } from './squarem.js';
import { autoNewton, clearOfBox, lbfgsFinish, newtonFinish, norm2, stationarity, type LbfgsFinishSettings } from './finish.js';
import { hasObservedInformation } from './observed-information.js';
import { bestOfRestarts } from './restarts.js';
import { resolveEMOptions, type EMOptions, type ResolvedEMOptions } from './options.js';
import { warning } from '../warnings.js';
import { fitStandardized } from './standardize.js';
import { subsampleStart } from './warm-start.js';
import { Rng } from '../numeric/rng.js';
import type { FitResult } from './result.js';

export type { EMOptions } from './options.js';
export { EMWorkspace, eStep, logLikelihoodGradient } from './em-step.js';
export { scoreOuterProduct } from './bhhh.js';

/** The result of `fitEM` (estimate/result.ts, shared with the standardising wrapper). */
export type { FitResult };

interface RunResult {
  theta: Float64Array;
  ll: number;
  trace: number[];
  iterations: number;
  emConverged: boolean;
  gradientNorm: number;
  gradConverged: boolean;
  /** The finish ended above gtol: the likelihood still rises along a flat direction. */
  flatDirection: boolean;
  /** The run stopped at the time limit (`timeLimit`). */
  timedOut: boolean;
}

/** The options of one run with their defaults filled in. */
interface RunSettings {
  tol: number;
  maxIter: number;
  accelerate: 'squarem' | 'none';
  mStep: MStepSettings;
  /** The settings of the first maps (exact gate M-steps) until a cycle's relative change is ≤ inexactFrom (EMOptions.gateInexactFrom). */
  mStepFirst: MStepSettings;
  inexactFrom: number;
  gateBound: number;
  expertBound: number;
  finish: boolean;
  gtol: number;
  finishMaxIter: number;
  lbfgs: LbfgsFinishSettings;
  /** The Newton finish (finish: 'newton', or 'auto' from NEWTON_AUTO_MIN_ROWS rows): hand over once the relative change is ≤ newtonHandover. */
  newton: 'auto' | 'newton' | 'lbfgs';
  newtonHandover: number;
  /** performance.now() after which the run stops (timeLimit); Infinity without one. */
  deadline: number;
}

function runSettings(o: ResolvedEMOptions): RunSettings {
  return {
    tol: o.tol,
    maxIter: o.maxIter,
    accelerate: o.accelerate,
    mStep: mStepSettings(o),
    mStepFirst: o.gateInexact > 0 && o.gateInexactFrom !== undefined ? mStepSettings({ ...o, gateInexact: 0 }) : mStepSettings(o),
    inexactFrom: o.gateInexactFrom ?? Infinity,
    gateBound: o.gateBound ?? Infinity,
    expertBound: o.expertBound ?? Infinity,
    finish: o.polish,
    deadline: o.deadline ?? Infinity,
    gtol: o.gtol,
    finishMaxIter: o.finishMaxIter,
    newton: o.finish,
    newtonHandover: o.newtonHandover,
    lbfgs: { gtol: o.gtol, maxIter: o.polishMaxIter, trust: o.polishTrust, round: o.polishRound },
  };
}

/** State at the end of the (accelerated) EM iterations; `grad` is ∇ℓ at θ when `gradFresh`. */
interface IterationsResult {
  ll: number;
  trace: number[];
  iterations: number;
  emConverged: boolean;
  grad: Float64Array;
  gradFresh: boolean;
  timedOut: boolean;
}

/**
 * EM cycles from θ (in place; ws.R holds the posteriors at θ, whose log-likelihood is ll0) until
 * the relative-change stop and, with the finish, the accelerated-EM part of the finish.
 */
function iterate(model: MixtureOfExperts, theta: Float64Array, ll0: number, data: Dataset, ws: EMWorkspace, s: RunSettings, onProgress?: EMOptions['onProgress']): IterationsResult {
  const p = theta.length;
  const pg = model.gate.nParams;
  const n = data.n;
  const cycle: EMCycle = s.accelerate === 'none' ? new PlainEM(p, s.mStepFirst) : new Squarem(p, s.mStepFirst, s.gateBound, s.expertBound);
  const trace = [ll0];
  const grad = new Float64Array(p);
  let ll = ll0;
  let emConverged = false;
  let stalled = 0;
  let convergedAt = 0;
  let gradFresh = false;
  let timedOut = false;
  // the Newton finish: tried once, when the families give the observed information (under a box only
  // if θ is clear of it at the hand-over, finish.ts clearOfBox)
  let newtonPending = s.finish && (s.newton === 'newton' || (s.newton === 'auto' && autoNewton(model, data))) && hasObservedInformation(model);
  let extra = 0; // counted evaluations of the Newton finish
  while (cycle.evaluations + extra < s.maxIter) {
    if (performance.now() > s.deadline) {
      timedOut = true;
      break;
    }
    const llNew = cycle.step(model, theta, ll, data, ws);
    if (!Number.isFinite(llNew)) throw new Error('EM produced an infeasible iterate (log-likelihood −∞)');
    const change = llNew - ll;
    if (cycle.settings !== s.mStep && Math.abs(change) <= s.inexactFrom * Math.abs(llNew)) cycle.settings = s.mStep;
    ll = llNew;
    trace.push(llNew);
    onProgress?.(cycle.evaluations, llNew);
    gradFresh = false;
    const handOver = newtonPending && Math.abs(change) <= s.newtonHandover * Math.abs(llNew);
    if (handOver) newtonPending = false;
    if (handOver && clearOfBox(theta, pg, s.gateBound, s.expertBound)) {
      gradientFromPosteriors(model, theta, data, ws, grad);
      ws.collectStats = false;
      const nf = newtonFinish(model, theta, ll, grad, data, ws, { gtol: s.gtol, maxEvaluations: Math.min(20, s.maxIter - cycle.evaluations - extra) });
      ws.collectStats = true;
      extra += nf.evaluations;
      gradFresh = true;
      if (!nf.indefinite && !(nf.leftBox && nf.trace.length === 0)) {
        // Newton ran (moved): its end is the EM result (the L-BFGS finish takes over if it stopped above gtol)
        for (const v of nf.trace) {
          trace.push(v);
          onProgress?.(cycle.evaluations + extra, v);
        }
        ll = nf.ll;
        emConverged = true;
        break;
      }
    }
    if (!emConverged && Math.abs(change) <= s.tol * Math.abs(llNew)) {
      emConverged = true;
      convergedAt = cycle.evaluations;
      if (!s.finish) break;
    }
    // Near convergence (or in the finish) test the gradient (ws.R holds the posteriors at θ, so it
    // costs no E-step): a stationary point is the goal, whatever the relative change says.
    if (emConverged || (s.finish && Math.abs(change) <= 1e-6 * Math.abs(llNew))) {
      gradientFromPosteriors(model, theta, data, ws, grad);
      gradFresh = true;
      const gInf = stationarity(grad, theta, pg, s.gateBound, s.expertBound) / n;
      onProgress?.(cycle.evaluations, llNew, gInf);
      if (gInf <= s.gtol) {
        emConverged = true;
        break;
      }
      if (emConverged) {
        stalled = change <= 1e-15 * Math.abs(llNew) ? stalled + 1 : 0;
        if (stalled >= 3) break;
        if (cycle.evaluations - convergedAt >= s.finishMaxIter) break;
      }
    }
  }
  return { ll, trace, iterations: cycle.evaluations + extra, emConverged, grad, gradFresh, timedOut };
}

/**
 * The L-BFGS part of the finish when EM stopped above gtol (kept only if ℓ increases), then the
 * reported gradient: ∇(ℓ/n) without the gate components held at an active bound of the box.
 */
function finishRun(model: MixtureOfExperts, th0: Float64Array, em: IterationsResult, data: Dataset, ws: EMWorkspace, s: RunSettings): RunResult {
  const { grad, trace, emConverged } = em;
  const p = th0.length;
  const pg = model.gate.nParams;
  const n = data.n;
  let iterations = em.iterations;
  // gradient at the EM result (ws.R holds the posteriors at th0)
  if (!em.gradFresh) gradientFromPosteriors(model, th0, data, ws, grad);
  let ll = em.ll;
  const gradInf = stationarity(grad, th0, pg, s.gateBound, s.expertBound) / n;
  let theta: Float64Array = th0;
  if (s.finish && emConverged && gradInf > s.gtol && !em.timedOut) {
    // EM is slow here: a trust-limited quasi-Newton finish in the BHHH metric (kept only if ℓ increases)
    ws.collectStats = false; // no M-step follows the finish's E-steps
    const polished = lbfgsFinish(model, th0, em.ll, data, ws, s.lbfgs);
    ws.collectStats = true;
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
  // with a box: the components held at an active bound are not part of the stationarity test
  for (let i = 0; i < p; i++) if (atActiveBound(theta[i], grad[i], blockBound(i, pg, s.gateBound, s.expertBound))) grad[i] = 0;
  const gradientNorm = norm2(grad);
  let gInf = 0;
  for (let i = 0; i < p; i++) gInf = Math.max(gInf, Math.abs(grad[i]));
  const flatDirection = s.finish && emConverged && gInf > s.gtol;
  return { theta, ll, trace, iterations, emConverged, gradientNorm, gradConverged: gInf <= s.gtol, flatDirection: flatDirection && !em.timedOut, timedOut: em.timedOut };
}

/** One EM run from θ0 (copied). */
export function runEM(model: MixtureOfExperts, theta0: Float64Array, data: Dataset, options: EMOptions = {}): RunResult {
  const o = resolveEMOptions(options);
  const s = runSettings(o);
  const ws = new EMWorkspace(model, data.n);
  ws.gateBound = s.gateBound;
  ws.expertBound = s.expertBound;
  const theta = theta0.slice();
  clipToBox(theta, 0, model.gate.nParams, s.gateBound); // a start outside the box is moved onto it
  clipToBox(theta, model.gate.nParams, theta.length, s.expertBound);
  const ll0 = eStep(model, theta, data, ws);
  if (!Number.isFinite(ll0)) throw new OptionError('initial model gives zero likelihood to some rows (log-likelihood −∞); choose another initialisation');
  const em = iterate(model, theta, ll0, data, ws, s, o.onProgress);
  return finishRun(model, theta, em, data, ws, s);
}

/**
 * Fit a mixture of experts of the given structure by maximum likelihood, on internally standardised
 * data mapped back (scale-equivariant; standardize.ts; `standardize: false` fits the data as given).
 */
export function fitEM(spec: ModelSpec, data: Dataset, options: EMOptions = {}): FitResult {
  return fitStandardized(spec, data, options, fitEMUnscaled);
}

/** `fitEM` on the data as given (no standardisation). */
export function fitEMUnscaled(spec: ModelSpec, data: Dataset, options: EMOptions = {}): FitResult {
  const start = performance.now();
  const o = resolveEMOptions(options);
  const model = MixtureOfExperts.fromSpec(spec);
  validateDataset(spec, model, data);
  model.expert.prepare?.(data.X, data.y, data.n);
  if (o.expertBound !== undefined && !model.expert.supportsBound) throw new OptionError(`expertBound: the ${model.expert.type} experts do not support a parameter box (only experts fitted by Newton, multinomialLogistic)`);
  if (o.gateBound !== undefined && !model.gate.supportsBound) throw new OptionError(`gateBound: the ${model.gate.type} gate does not support a parameter box (every built-in gate does)`);
  const restarts = o.restarts;
  const opts = o.timeLimit !== undefined && o.deadline === undefined ? { ...o, deadline: start + o.timeLimit * 1000 } : o;
  const init = o.init ?? { type: 'kmeans++' };
  const warm = o.warmStart && (init.type === 'kmeans++' || init.type === 'random');
  const warmRng = new Rng(o.seed);
  const warmSettings = { mStep: mStepSettings(o), gateBound: o.gateBound ?? Infinity, expertBound: o.expertBound ?? Infinity };
  const { best, objectives, warnings } = bestOfRestarts(model, data, opts, restarts, (theta0) => runEM(model, theta0, data, opts),
    warm ? (rng, r) => subsampleStart(model, data, init, rng, warmRng.split('warm-start', r), warmSettings, opts) : undefined);
  const fitted = model.withTheta(best.theta);
  fitted.canonicalize();
  const converged = !best.timedOut && best.emConverged && (!o.polish || best.gradConverged);
  const maxIter = o.maxIter;
  const gradientNorm = best.gradientNorm;
  if (best.timedOut) warnings.push(warning('EM_TIME_LIMIT', `the fit stopped at the time limit of ${opts.timeLimit ?? '?'} s after ${best.iterations} iterations, before it converged${best.iterations === 0 ? ' (the limit passed during the initialisation: the model returned is the start, cut short)' : ''}`, { timeLimit: opts.timeLimit ?? null, iterations: best.iterations }));
  else if (!best.emConverged) warnings.push(warning('EM_MAX_ITER', `EM reached maxIter=${maxIter} before the relative change fell below tol`, { maxIter }));
  else if (best.flatDirection) warnings.push(warning('EM_FLAT_DIRECTION', `gradient norm ${gradientNorm.toExponential(2)} after the finish: the log-likelihood still rises slowly along a flat direction (typical of over-specified fits); the fit is returned where the finish stopped`, { gradientNorm }));
  else if (!converged) warnings.push(warning('EM_GRADIENT_ABOVE_TOL', `gradient norm ${gradientNorm.toExponential(2)} is above gtol after the finish`, { gradientNorm }));
  return {
    model: fitted,
    logLikelihood: best.ll,
    trace: best.trace,
    iterations: best.iterations,
    converged,
    gradientNorm: best.gradientNorm,
    restarts,
    restartLogLikelihoods: objectives,
    seconds: (performance.now() - start) / 1000,
    warnings,
  };
}
