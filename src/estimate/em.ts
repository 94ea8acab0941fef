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
 *  3. An L-BFGS finish on −ℓ(θ)/n with the analytic gradient from Fisher's identity
 *     (∇ℓ(θ) = ∇_θ Q(θ | θ), see `Gate.gradQ`), which removes the slow tail of EM in
 *     over-specified fits. It only ever accepts points with a higher likelihood.
 *
 * Restarts keep the best log-likelihood (as scikit-learn's mixture base class does).
 */
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelSpec } from '../model/model.js';
import { Rng } from '../numeric/rng.js';
import { lbfgs } from '../numeric/lbfgs.js';
import { initialise, type InitSpec } from './init.js';
import { OptionError } from '../errors.js';

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
  /** Run the L-BFGS finish (default true). */
  polish?: boolean;
  /** Gradient tolerance of the finish: ‖∇(ℓ/n)‖∞ ≤ gtol. Default 1e-9. */
  gtol?: number;
  /** Maximum L-BFGS iterations of the finish. Default 500. */
  polishMaxIter?: number;
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
  constructor(readonly model: MixtureOfExperts, readonly n: number) {
    this.R = new Float64Array(n * model.k);
    this.S = new Float64Array(n * model.k);
    this.gradG = new Float64Array(model.gate.nParams);
    this.gradE = new Float64Array(model.expert.nParams);
  }
}

function feasible(model: MixtureOfExperts, theta: Float64Array): boolean {
  for (let i = 0; i < theta.length; i++) if (!Number.isFinite(theta[i])) return false;
  const g = model.gate;
  const e = model.expert;
  if (g.feasible && !g.feasible(theta.subarray(0, g.nParams))) return false;
  if (e.feasible && !e.feasible(theta.subarray(g.nParams))) return false;
  return true;
}

/**
 * E-step at θ: responsibilities into ws.R, returns ℓ(θ). Non-finite (−Infinity) if some row has
 * zero likelihood or θ is infeasible.
 */
export function eStep(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace): number {
  const { gate, expert, k } = model;
  const { X, y, n } = data;
  if (!feasible(model, theta)) return -Infinity;
  const R = ws.R;
  const S = ws.S;
  gate.logWeights(theta.subarray(0, gate.nParams), X, n, R);
  expert.logDensity(theta.subarray(gate.nParams), X, y, n, S);
  let ll = 0;
  for (let t = 0; t < n; t++) {
    const o = t * k;
    let m = -Infinity;
    for (let i = 0; i < k; i++) {
      const v = R[o + i] + S[o + i]; // −∞ + finite stays −∞ (inactive experts)
      R[o + i] = v;
      if (v > m) m = v;
    }
    if (!(m > -Infinity) || m !== m) return -Infinity;
    let s = 0;
    for (let i = 0; i < k; i++) {
      const e = Math.exp(R[o + i] - m);
      R[o + i] = e;
      s += e;
    }
    const inv = 1 / s;
    for (let i = 0; i < k; i++) R[o + i] *= inv;
    ll += m + Math.log(s);
  }
  return ll === ll ? ll : -Infinity;
}

interface MStepSettings {
  gate: { maxIter: number; tol: number };
  expert: { maxIter: number; tol: number };
}

/** M-step in place on θ given ws.R. */
function mStep(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, s: MStepSettings): void {
  const { gate, expert } = model;
  expert.mStep(theta.subarray(gate.nParams), data.X, data.y, data.n, ws.R, s.expert);
  gate.mStep(theta.subarray(0, gate.nParams), data.X, data.n, ws.R, s.gate);
}

/**
 * ∇ℓ(θ) (not divided by n) into grad, via Fisher's identity; returns ℓ(θ). Leaves posteriors in ws.R.
 */
export function logLikelihoodGradient(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: EMWorkspace, grad: Float64Array): number {
  const ll = eStep(model, theta, data, ws);
  if (!Number.isFinite(ll)) return ll;
  const { gate, expert } = model;
  gate.gradQ(theta.subarray(0, gate.nParams), data.X, data.n, ws.R, ws.gradG);
  expert.gradQ(theta.subarray(gate.nParams), data.X, data.y, data.n, ws.R, ws.gradE);
  grad.set(ws.gradG, 0);
  grad.set(ws.gradE, gate.nParams);
  return ll;
}

interface RunResult {
  theta: Float64Array;
  ll: number;
  trace: number[];
  iterations: number;
  emConverged: boolean;
  gradientNorm: number;
  gradConverged: boolean;
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
    gate: { maxIter: options.gateMaxIter ?? 50, tol: options.gateTol ?? 1e-12 },
    expert: { maxIter: options.expertMaxIter ?? 50, tol: options.expertTol ?? 1e-12 },
  };
  const ws = new EMWorkspace(model, data.n);
  const p = theta0.length;
  const th0 = theta0.slice();
  const th1 = new Float64Array(p);
  const th2 = new Float64Array(p);
  const thx = new Float64Array(p);
  const trace: number[] = [];
  let iterations = 0;
  let ll0 = eStep(model, th0, data, ws);
  if (!Number.isFinite(ll0)) throw new OptionError('initial model gives zero likelihood to some rows (log-likelihood −∞); choose another initialisation');
  trace.push(ll0);
  let emConverged = false;
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
    if (Math.abs(change) <= tol * Math.abs(llNew)) {
      emConverged = true;
      break;
    }
  }
  // gradient at the EM result
  const grad = new Float64Array(p);
  let ll = logLikelihoodGradient(model, th0, data, ws, grad);
  const n = data.n;
  const gtol = options.gtol ?? 1e-9;
  let gradInf = 0;
  for (let i = 0; i < p; i++) gradInf = Math.max(gradInf, Math.abs(grad[i] / n));
  let theta: Float64Array = th0;
  if ((options.polish ?? true) && gradInf > gtol) {
    // L-BFGS finish on f = −ℓ/n
    const fg = (x: Float64Array, g: Float64Array): number => {
      const v = logLikelihoodGradient(model, x, data, ws, g);
      if (!Number.isFinite(v)) return Infinity;
      for (let i = 0; i < p; i++) g[i] = -g[i] / n;
      return -v / n;
    };
    const res = lbfgs(fg, th0, { maxIter: options.polishMaxIter ?? 500, gtol, ftol: 1e-15 });
    if (-res.f * n >= ll) {
      theta = res.x;
      iterations += res.iterations;
      ll = logLikelihoodGradient(model, theta, data, ws, grad);
      trace.push(ll);
    }
  } else {
    ll = logLikelihoodGradient(model, theta, data, ws, grad);
  }
  for (let i = 0; i < p; i++) grad[i] /= n;
  const gradientNorm = norm2(grad);
  let gInf = 0;
  for (let i = 0; i < p; i++) gInf = Math.max(gInf, Math.abs(grad[i]));
  return { theta, ll, trace, iterations, emConverged, gradientNorm, gradConverged: gInf <= gtol * 10 };
}

/** Validate a dataset against a model structure (throws DataError / OptionError). */
function checkData(spec: ModelSpec, model: MixtureOfExperts, data: Dataset): void {
  if (data.d !== spec.d) throw new OptionError(`data has ${data.d} input columns but the model expects d=${spec.d}`);
  if (data.X.length < data.n * data.d || data.y.length < data.n) throw new OptionError('data arrays are shorter than n×d / n');
  for (let i = 0; i < data.n * data.d; i++) {
    if (!Number.isFinite(data.X[i])) {
      throw new OptionError(`row ${Math.floor(i / data.d) + 1}, column x${(i % data.d) + 1}: value ${data.X[i]} is not a finite number`);
    }
  }
  model.expert.validateResponse(data.y, data.n);
  if (data.n < model.nParams) {
    throw new OptionError(`${data.n} rows are fewer than the ${model.nParams} free parameters of a k=${spec.k} model`);
  }
}

/** Fit a mixture of experts of the given structure by maximum likelihood. */
export function fitEM(spec: ModelSpec, data: Dataset, options: EMOptions = {}): FitResult {
  const start = performance.now();
  const model = MixtureOfExperts.fromSpec(spec);
  checkData(spec, model, data);
  model.expert.prepare?.(data.X, data.y, data.n);
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
  else if (!converged) warnings.push(`gradient norm ${best.gradientNorm.toExponential(2)} is above gtol after the L-BFGS finish`);
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
