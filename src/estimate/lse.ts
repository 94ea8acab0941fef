/**
 * Least-squares estimation of a regression mixture of experts (paper P3, math-spec §5.1, §9.3):
 *
 *   Ĝ ∈ argmin Σ_t (y_t − f_G(x_t))²,   f_G(x) = Σᵢ πᵢ(x) h(x, ηᵢ),
 *
 * by L-BFGS (src/numeric/lbfgs.ts) on the mean squared error with the analytic gradient. With
 * e_t = y_t − f_G(x_t):
 *   - gate part (any gate, through the Gate interface only):
 *       ∂SSE/∂θ_G = Σ_t −2e_t Σᵢ h_ti ∂π_ti = Σ_t Σᵢ W_ti ∂log π_ti   with W_ti = −2 e_t h_ti π_ti,
 *     i.e. `gate.gradQ(θ_G, X, n, W, grad)` (gradQ accepts arbitrary real W);
 *   - expert part: ∂SSE/∂η = Σ_t Σᵢ V_ti ∂h_ti with V_ti = −2 e_t π_ti (`gradPredict`).
 * Restarts keep the lowest SSE. Initialisations are those of init.ts (random, kmeans++, nearTruth,
 * model); the data-driven ones use the regression family's weighted least-squares M-step.
 */
import { validateDataset } from './validate.js';
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelSpec } from '../model/model.js';
import { isRegressionFamily, RegressionExperts, type RegressionExpertFamily } from '../experts/regression.js';
import { Rng } from '../numeric/rng.js';
import { lbfgs } from '../numeric/lbfgs.js';
import { initialise, type InitSpec } from './init.js';
import { OptionError } from '../errors.js';
import { expNonPositive } from '../numeric/fastmath.js';
import { warning, type MoeWarning } from '../warnings.js';

export interface LSEOptions {
  /** Number of starts; the lowest SSE is kept. Default 1. */
  restarts?: number;
  /** Initialisation. Default kmeans++. */
  init?: InitSpec;
  /** Seed of the initialisations (restart r uses stream split('restart', r)). Default 1. */
  seed?: number | bigint;
  /** Maximum L-BFGS iterations per start. Default 2000. */
  maxIter?: number;
  /** Gradient tolerance: stop when ‖∇ MSE‖∞ ≤ gtol·max(1, MSE). Default 1e-10. */
  gtol?: number;
  /** Relative-decrease backstop of L-BFGS (see lbfgs.ts). Default 1e-15. */
  ftol?: number;
  /** L-BFGS memory. Default 10. */
  memory?: number;
  /** Inner iterations of the M-steps used by the data-driven initialisations. Default 50. */
  gateMaxIter?: number;
  expertMaxIter?: number;
  /** Called after each start with (restart index, its SSE). */
  onRestart?: (restart: number, sse: number) => void;
  /** Called after every L-BFGS step with (restart index, iterations of this start, SSE, ‖∇(SSE/n)‖₂). */
  onProgress?: (restart: number, iteration: number, sse: number, gradientNorm: number) => void;
}

export interface LSEResult {
  /** Fitted model (canonical); its experts carry `noiseVariance` = SSE/n. */
  model: MixtureOfExperts;
  /** Σ_t (y_t − f_Ĝ(x_t))². */
  sse: number;
  /** SSE / n. */
  mse: number;
  /** SSE at the start and at the end of the best restart. */
  trace: number[];
  /** L-BFGS iterations of the best restart. */
  iterations: number;
  /** L-BFGS stopped on its gradient (or relative-decrease) criterion. */
  converged: boolean;
  /** Euclidean norm of ∇(SSE/n) with respect to the working parameters, at the returned model. */
  gradientNorm: number;
  restarts: number;
  /** SSE reached by each restart (Infinity if it failed). */
  restartSSE: number[];
  seconds: number;
  /** Typed warnings (codes in src/warnings.ts): LSE_NOT_CONVERGED, RESTART_FAILED. */
  warnings: MoeWarning[];
}

/** Reusable buffers of the LSE objective (no allocation per evaluation). */
export class LSEWorkspace {
  readonly P: Float64Array;
  readonly H: Float64Array;
  readonly W: Float64Array;
  readonly V: Float64Array;
  readonly gradG: Float64Array;
  readonly gradE: Float64Array;
  constructor(readonly model: MixtureOfExperts, readonly n: number) {
    const nk = n * model.k;
    this.P = new Float64Array(nk);
    this.H = new Float64Array(nk);
    this.W = new Float64Array(nk);
    this.V = new Float64Array(nk);
    this.gradG = new Float64Array(model.gate.nParams);
    this.gradE = new Float64Array(model.expert.nParams);
  }
}

function regressionExperts(model: MixtureOfExperts): RegressionExpertFamily {
  const e = model.expert;
  if (!isRegressionFamily(e)) {
    throw new OptionError(`least squares needs regression experts (e.g. --expert regression:gelu); ${e.type} experts are fitted by maximum likelihood (--estimator mle)`);
  }
  return e;
}

/**
 * SSE(θ) = Σ_t (y_t − f_G(x_t))² and, when grad is given, ∇θ SSE written to grad (θ = [gate | experts]).
 * Returns Infinity when θ is infeasible (non-finite, or outside a gate's / expert's domain).
 */
export function lseObjective(model: MixtureOfExperts, theta: Float64Array, data: Dataset, ws: LSEWorkspace, grad?: Float64Array): number {
  const { gate, k } = model;
  const expert = regressionExperts(model);
  const { X, y, n } = data;
  for (let i = 0; i < theta.length; i++) if (!Number.isFinite(theta[i])) return Infinity;
  const thG = theta.subarray(0, gate.nParams);
  const thE = theta.subarray(gate.nParams);
  if (gate.feasible && !gate.feasible(thG)) return Infinity;
  if (expert.feasible && !expert.feasible(thE)) return Infinity;
  const { P, H, W, V } = ws;
  gate.logWeights(thG, X, n, P);
  expert.predict(thE, X, n, H);
  // compensated (Kahan) summation: near the optimum L-BFGS compares SSEs that differ by less than
  // the n·ε rounding of a plain sum, and its line search would stop early on the noise
  let sse = 0;
  let comp = 0;
  for (let t = 0; t < n; t++) {
    const o = t * k;
    let f = 0;
    for (let i = 0; i < k; i++) {
      const p = expNonPositive(P[o + i]); // log π ≤ 0; exp(−∞) = 0 for inactive experts
      P[o + i] = p;
      if (p > 0) f += p * H[o + i];
    }
    const e = y[t] - f;
    const term = e * e - comp;
    const next = sse + term;
    comp = next - sse - term;
    sse = next;
    if (grad) {
      const m2e = -2 * e;
      for (let i = 0; i < k; i++) {
        const p = P[o + i];
        // P3 (math-spec §9.3): W_ti = −2 e_t h_ti π_ti (gate), V_ti = −2 e_t π_ti (experts)
        W[o + i] = p > 0 ? m2e * H[o + i] * p : 0;
        V[o + i] = m2e * p;
      }
    }
  }
  if (!Number.isFinite(sse)) return Infinity;
  if (grad) {
    gate.gradQ(thG, X, n, W, ws.gradG);
    expert.gradPredict(thE, X, n, V, ws.gradE);
    grad.set(ws.gradG, 0);
    grad.set(ws.gradE, gate.nParams);
  }
  return sse;
}


interface RunResult {
  theta: Float64Array;
  sse0: number;
  sse: number;
  iterations: number;
  converged: boolean;
  reason: string;
}

/** One L-BFGS run from θ0 on MSE(θ) = SSE(θ)/n. */
function runLSE(model: MixtureOfExperts, theta0: Float64Array, data: Dataset, ws: LSEWorkspace, options: LSEOptions, restart = 0): RunResult {
  const n = data.n;
  const p = theta0.length;
  const sse0 = lseObjective(model, theta0, data, ws);
  if (!Number.isFinite(sse0)) throw new OptionError('the initial model is infeasible (non-finite squared error); choose another initialisation');
  const fg = (x: Float64Array, g: Float64Array): number => {
    const v = lseObjective(model, x, data, ws, g);
    if (!Number.isFinite(v)) return Infinity;
    for (let i = 0; i < p; i++) g[i] /= n;
    return v / n;
  };
  const res = lbfgs(fg, theta0, {
    maxIter: options.maxIter ?? 2000,
    gtol: options.gtol ?? 1e-10,
    ftol: options.ftol ?? 1e-15,
    memory: options.memory ?? 10,
    onIteration: options.onProgress ? (it, f, g) => options.onProgress?.(restart, it, f * n, Math.hypot(...g)) : undefined,
  });
  return { theta: res.x, sse0, sse: res.f * n, iterations: res.iterations, converged: res.converged, reason: res.reason };
}

/** Fit a regression mixture of experts by least squares (math-spec §5.1, §9.3). */
export function fitLSE(spec: ModelSpec, data: Dataset, options: LSEOptions = {}): LSEResult {
  const start = performance.now();
  const model = MixtureOfExperts.fromSpec(spec);
  regressionExperts(model);
  validateDataset(spec, model, data);
  model.expert.prepare?.(data.X, data.y, data.n);
  const restarts = options.restarts ?? 1;
  if (!Number.isInteger(restarts) || restarts < 1) throw new OptionError(`restarts: must be an integer ≥ 1, got ${restarts}`);
  const rng = new Rng(options.seed ?? 1);
  const init = options.init ?? { type: 'kmeans++' };
  const ws = new LSEWorkspace(model, data.n);
  const warnings: MoeWarning[] = [];
  const sses: number[] = [];
  let best: RunResult | undefined;
  for (let r = 0; r < restarts; r++) {
    let run: RunResult;
    try {
      const theta0 = initialise(model, data, init, rng.split('restart', r), options);
      run = runLSE(model, theta0, data, ws, options, r);
    } catch (e) {
      if (restarts === 1 || !(e instanceof Error)) throw e;
      warnings.push(warning('RESTART_FAILED', `restart ${r + 1}: ${e.message}`, { restart: r + 1, error: e.message }));
      sses.push(Infinity);
      continue;
    }
    sses.push(run.sse);
    options.onRestart?.(r, run.sse);
    if (!best || run.sse < best.sse) best = run;
  }
  if (!best) throw new OptionError(`every restart failed: ${warnings.map((w) => w.message).join('; ')}`);
  const n = data.n;
  const mse = best.sse / n;
  const e = model.expert;
  const fittedExpert = e instanceof RegressionExperts ? e.withNoiseVariance(mse > 0 ? mse : undefined) : e;
  const fitted = new MixtureOfExperts(model.gate, fittedExpert, best.theta.slice());
  fitted.canonicalize();
  // gradient norm of the MSE at the returned (canonical) parameters
  const grad = new Float64Array(fitted.nParams);
  const sse = lseObjective(fitted, fitted.theta, data, ws, grad);
  let g2 = 0;
  for (let i = 0; i < grad.length; i++) g2 += (grad[i] / n) ** 2;
  if (!best.converged) warnings.push(warning('LSE_NOT_CONVERGED', `L-BFGS stopped (${best.reason}) before the gradient tolerance was met`, { reason: best.reason }));
  return {
    model: fitted,
    sse,
    mse: sse / n,
    trace: [best.sse0, sse],
    iterations: best.iterations,
    converged: best.converged,
    gradientNorm: Math.sqrt(g2),
    restarts,
    restartSSE: sses,
    seconds: (performance.now() - start) / 1000,
    warnings,
  };
}
