/**
 * What the playground computes, as plain functions of its state: simulate, fit, measure, and the
 * mini rate study. It imports only browser-safe modules of the library (src/model, src/estimate,
 * src/measure, and the pure parts of src/study: plan, job, estimators, measures); the Node-only
 * modules (store, runner, report, config loading, CLI) are never reached. The worker runs these
 * functions, and the Node test runs the very same ones to compare the page with the library.
 */
import { MixtureOfExperts, type ModelJSON, type ModelSpec, sampleX, type Dataset, type XDesign, Rng, fitEM, fitLSE, type InitSpec, voronoiLoss, densityDistance, regressionDistance, fitRate, type RateFit, planJobs, runJob, type ResultRow, type ResolvedStudy } from '../../src/core.js';
import type { AppState } from './state.js';

/** The playground is one-dimensional in x (the papers' examples are). */
export const D = 1;

export function design(s: AppState): XDesign {
  return { type: 'uniform', low: s.x.low, high: s.x.high };
}

/** Validate a truth JSON for the playground (one line naming the field). */
export function parseTruth(truth: ModelJSON): MixtureOfExperts {
  const m = MixtureOfExperts.fromJSON(truth, 'truth');
  if (m.d !== D) throw new Error(`truth: the playground needs input dimension 1 (got d = ${m.d})`);
  return m;
}

/** The fitted model's structure: the truth's gate and expert settings with k experts. */
export function fitSpec(s: AppState, truth = parseTruth(s.truth)): ModelSpec {
  const spec = truth.spec();
  const gate = { ...spec.gate };
  if (gate.type === 'hierarchical') {
    // k = K1·K2: keep the truth's K1 when it divides k, else one group of k experts
    const K1 = Number(gate.K1);
    gate.K1 = s.k % K1 === 0 ? K1 : 1;
    gate.K2 = s.k / Number(gate.K1);
  }
  return { gate, experts: spec.experts, k: s.k, d: D };
}

/** Draw the data set: x from its own stream, y | x from the truth (as `study` jobs and `simulate` do). */
export function simulate(s: AppState, truth = parseTruth(s.truth)): Dataset {
  const rng = new Rng(s.seed);
  const X = sampleX(design(s), s.n, D, rng.split('x'));
  const { y } = truth.sample(X, s.n, rng.split('y'));
  return { X, y, n: s.n, d: D };
}

export function initSpec(s: AppState, truth: MixtureOfExperts): InitSpec {
  return s.init === 'nearTruth' ? { type: 'nearTruth', truth } : { type: s.init };
}

export interface FitSummary {
  model: ModelJSON;
  /** Log-likelihood (EM) or SSE (LSE). */
  value: number;
  valueName: 'loglik' | 'sse';
  iterations: number;
  converged: boolean;
  gradientNorm: number;
  seconds: number;
  warnings: string[];
  trace: number[];
}

/**
 * Called after each EM cycle with (EM map evaluations, ℓ, and ‖∇(ℓ/n)‖∞ on the cycles that computed
 * it, near convergence), or after each L-BFGS step with (iterations over all starts so far, SSE,
 * ‖∇(SSE/n)‖₂, start index).
 */
export type Progress = (iteration: number, value: number, gradientNorm?: number, restart?: number) => void;

export function fit(s: AppState, data: Dataset, onProgress?: Progress, truth = parseTruth(s.truth)): FitSummary {
  const spec = fitSpec(s, truth);
  const init = initSpec(s, truth);
  if (s.estimator === 'lse') {
    let before = 0;
    let last = 0;
    let lastStart = 0;
    const onLSE = onProgress && ((restart: number, it: number, sse: number, g: number) => {
      if (restart !== lastStart) {
        before += last;
        lastStart = restart;
      }
      last = it;
      onProgress(before + it, sse, g, restart);
    });
    const r = fitLSE(spec, data, { init, restarts: s.restarts, seed: s.seed, onProgress: onLSE });
    return {
      model: r.model.toJSON(), value: r.sse, valueName: 'sse', iterations: r.iterations, converged: r.converged,
      gradientNorm: r.gradientNorm, seconds: r.seconds, warnings: r.warnings.map((w) => w.message), trace: r.trace,
    };
  }
  const r = fitEM(spec, data, { init, restarts: s.restarts, seed: s.seed, onProgress });
  return {
    model: r.model.toJSON(), value: r.logLikelihood, valueName: 'loglik', iterations: r.iterations, converged: r.converged,
    gradientNorm: r.gradientNorm, seconds: r.seconds, warnings: r.warnings.map((w) => w.message), trace: r.trace,
  };
}

// ---------------------------------------------------------------------------------------------
// Figures and measures

export interface ExpertCurves {
  /** x grid. */
  x: number[];
  /** mean[i][g]: E[y | x_g, expert i] (Gaussian, regression) or P(y = first class | x_g, expert i) (multinomial). */
  mean: number[][];
  /** sd[i]: the expert's noise sd (0 for multinomial: no band). */
  sd: number[];
  /** gate[i][g] = π_i(x_g). */
  gate: number[][];
  /** The mixture's E[y | x_g] = Σᵢ πᵢ(x_g)·mean[i][g] (multinomial: P(y = first class | x_g)). */
  mixture: number[];
}

export function curves(model: MixtureOfExperts, s: AppState, points = 161): ExpertCurves {
  const x = Array.from({ length: points }, (_, g) => s.x.low + ((s.x.high - s.x.low) * g) / (points - 1));
  const X = Float64Array.from(x);
  const k = model.k;
  const G = model.gateProbabilities(X, points);
  const gate = Array.from({ length: k }, (_, i) => x.map((_, g) => G[g * k + i]));
  const json = model.toJSON().experts as Record<string, unknown>;
  let mean: number[][];
  let sd: number[];
  if (json.type === 'multinomialLogistic') {
    const a = json.a as number[][];
    const b = json.b as number[][][];
    mean = Array.from({ length: k }, (_, i) => x.map((xv) => {
      const z = a[i].map((ac, c) => ac + b[i][c][0] * xv);
      const m = Math.max(...z);
      const den = z.reduce((acc, v) => acc + Math.exp(v - m), 0);
      return Math.exp(z[0] - m) / den;
    }));
    sd = new Array<number>(k).fill(0);
  } else {
    const M = new Float64Array(points * k);
    model.expert.mean(model.expertTheta, X, points, M);
    mean = Array.from({ length: k }, (_, i) => x.map((_, g) => M[g * k + i]));
    const v = json.type === 'regression' ? new Array<number>(k).fill(Number(json.noiseVariance)) : (json.variance as number[]);
    sd = v.map((vi) => Math.sqrt(vi));
  }
  const mixture = x.map((_, g) => mean.reduce((acc, mi, i) => acc + gate[i][g] * mi[g], 0));
  return { x, mean, sd, gate, mixture };
}

/** An atom's expert coordinates for the cell figure: slope and intercept (multinomial: of the first class). */
export interface AtomPoint { slope: number; intercept: number }

export function atomPoints(model: MixtureOfExperts): AtomPoint[] {
  const e = model.toJSON().experts as Record<string, unknown>;
  const a = e.a as number[][];
  if (e.type === 'multinomialLogistic') {
    const b = e.b as number[][][];
    return a.map((ai, i) => ({ slope: b[i][0][0], intercept: ai[0] }));
  }
  const b = e.b as number[];
  return a.map((ai, i) => ({ slope: ai[0], intercept: b[i] }));
}

export interface Measures {
  /** cells[j]: fitted atoms (0-based) in the Voronoi cell of true atom j. */
  cells: number[][];
  fitAtoms: AtomPoint[];
  truthAtoms: AtomPoint[];
  D1: number;
  D2: number;
  /** E_X Hellinger distance of the conditional densities, or the L² distance of the regression functions. */
  distance: number;
  distanceName: 'hellinger' | 'l2';
  warnings: string[];
}

export function measure(fitModel: MixtureOfExperts, truth: MixtureOfExperts, s: AppState): Measures {
  const x = design(s);
  const v1 = voronoiLoss(fitModel, truth, { loss: 'D1', x, seed: 7 });
  const v2 = voronoiLoss(fitModel, truth, { loss: 'D2', x, seed: 7 });
  const regression = (truth.toJSON().experts as { type: string }).type === 'regression';
  const dist = regression
    ? regressionDistance(fitModel, truth, { x, samples: 2000, seed: 7 })
    : densityDistance(fitModel, truth, { metric: 'hellinger', x, samples: 2000, seed: 7 });
  const warnings = [...new Set([...v1.warnings, ...v2.warnings].map((w) => w.message))];
  for (const [name, v] of [['D1', v1.loss], ['D2', v2.loss], ['distance', dist.distance]] as const) {
    if (!Number.isFinite(v)) warnings.push(`${name} is not finite (${v}): the fitted atoms are degenerate; do not read it as a loss`);
  }
  return {
    cells: v1.cells, fitAtoms: atomPoints(fitModel), truthAtoms: atomPoints(truth), D1: v1.loss, D2: v2.loss, distance: dist.distance, distanceName: regression ? 'l2' : 'hellinger',
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------
// Mini rate study

/** The loss the mini study records: l2 for regression experts, D1 exact-specified, D2 over-specified. */
export function studyLoss(s: AppState, truth = parseTruth(s.truth)): { name: string; theory: number } {
  if (s.experts === 'regression') return { name: 'l2', theory: -0.5 };
  return { name: s.k === truth.k ? 'D1' : 'D2', theory: -0.5 };
}

/**
 * The study a CLI user would run for this state: the same as `moelab study run` on the config of
 * `studyConfig` (the Node test checks that `loadStudy` resolves that config to this very object).
 */
export function resolvedStudy(s: AppState): ResolvedStudy {
  const truth = parseTruth(s.truth);
  const spec = fitSpec(s, truth);
  const loss = studyLoss(s, truth);
  return {
    format: 'moelab-study/1', name: 'playground', profile: 'full', seed: s.seed, truth: truth.toJSON(), d: D, kTrue: truth.k,
    x: design(s), ns: s.study.ns.slice().sort((a, b) => a - b), replicates: s.study.replicates,
    settings: [{
      name: 'web', k: s.k, gate: spec.gate, experts: spec.experts, estimator: s.estimator, init: { type: s.init },
      restarts: s.restarts, tol: 1e-6, maxIter: 2000, options: {}, losses: [{ name: loss.name, base: loss.name, theory: loss.theory, options: {} }],
    }],
  };
}

/** The study config (YAML/JSON of `moelab study run`) equivalent to `resolvedStudy(s)`. */
export function studyConfig(s: AppState): Record<string, unknown> {
  const r = resolvedStudy(s);
  const st = r.settings[0];
  return {
    name: r.name, seed: r.seed, truth: r.truth, x: r.x, n: r.ns, replicates: r.replicates,
    settings: [{ name: st.name, k: st.k, gate: st.gate, experts: st.experts, estimator: st.estimator, init: st.init, restarts: st.restarts, losses: [{ name: st.losses[0].name, theory: st.losses[0].theory }] }],
  };
}

export interface StudyPoint { n: number; rep: number; loss: number | null; status: string }

export interface StudyResult {
  loss: string;
  theory: number;
  points: StudyPoint[];
  rate: RateFit | null;
  error?: string;
}

/** Run the jobs one by one (in plan order); `onRow` after each; `shouldStop` polled between jobs. */
export function runStudy(s: AppState, onRow?: (row: ResultRow, done: number, total: number) => void): StudyResult {
  const study = resolvedStudy(s);
  const loss = study.settings[0].losses[0];
  const jobs = planJobs(study);
  const points: StudyPoint[] = [];
  jobs.forEach((job, i) => {
    const row = runJob(study, job);
    points.push({ n: job.n, rep: job.rep, loss: row.losses[loss.name], status: row.status === 'ok' ? 'ok' : (row.error ?? 'failed') });
    onRow?.(row, i + 1, jobs.length);
  });
  return { loss: loss.name, theory: loss.theory ?? -0.5, points, ...rateOf(study.ns, points) };
}

/** fitRate over the finite losses (the report's summary: OLS of log mean loss on log n). */
export function rateOf(ns: readonly number[], points: readonly StudyPoint[]): { rate: RateFit | null; error?: string } {
  const byN = ns.map((n) => points.filter((p) => p.n === n && p.loss !== null && p.loss > 0).map((p) => p.loss as number));
  const keep = ns.map((_, i) => i).filter((i) => byN[i].length > 0);
  if (keep.length < 2) return { rate: null, error: 'fewer than two sample sizes with a finite loss' };
  try {
    return { rate: fitRate(keep.map((i) => ns[i]), keep.map((i) => byN[i]), { bootstrap: 200, seed: 1 }) };
  } catch (e) {
    return { rate: null, error: (e as Error).message };
  }
}

/**
 * Warm timing of this state's fit: simulate once, fit once to warm the JIT and the compiled
 * kernels, then `repeats` timed fits (FitResult.seconds). The page and Node run the same function.
 */
export function benchFit(s: AppState, repeats: number): number[] {
  const truth = parseTruth(s.truth);
  const data = simulate(s, truth);
  fit(s, data, undefined, truth);
  return Array.from({ length: repeats }, () => fit(s, data, undefined, truth).seconds);
}
