/**
 * Scale-equivariant EM fits (issue 12): the fit runs on internally standardised data and its result
 * is mapped back, so that
 *
 *  - y → c·y changes ℓ by exactly −n·log|c|, the expert intercepts and slopes by c and the
 *    variances by c², and leaves `converged`, the iterations and the gradient norm unchanged;
 *  - x_j → c·x_j changes only the slopes on x_j (by 1/c) and nothing else.
 *
 * Standardisation: x̃_j = (x_j − m_j)/s_j and ỹ = (y − m_y)/s_y with the median m and the scale
 * s = 1.4826·MAD (the standard deviation where the MAD is 0, 1 where both are 0): equivariant
 * estimators that one outlier cannot move. The model is linear in x for the gates mapped here
 * (softmax, temperature, hierarchical, modified with the identity map: β̃₁ = β₁∘s, β̃₀ = β₀ + β₁ᵀm)
 * and for Gaussian linear experts (ã = a∘s/s_y, b̃ = (aᵀm + b − m_y)/s_y, ν̃ = ν/s_y²); the top-K
 * gate's selection ignores β₀, so its x is scaled but not centred. Other gates and experts are
 * fitted on their own scale (no map exists that leaves their model unchanged: a modified gate's
 * sin(x), an activation's σ(β₁ᵀx)).
 *
 * Variance floor (documented in the README): unless `experts.varianceFloor` fixes it, every variance
 * is kept ≥ 1e-6·s_y², relative to the robust scale s_y of the response, so a single outlier cannot
 * lift it (it could lift the old 1e-6·Var(y)), and it scales with y (the old absolute 1e-12 did not).
 * It is one floor for all experts, not a per-expert scale.
 *
 * With `gateBound` the box is given in the data's units, so x is not standardised (y still is).
 * Convergence is tested in the standardised coordinates: a scale-free gradient.
 */
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelJSON, type ModelSpec } from '../model/model.js';
import type { GateJSON } from '../gates/gate.js';
import type { ExpertJSON } from '../experts/expert.js';
import { Rng } from '../numeric/rng.js';
import { OptionError } from '../errors.js';
import { initialise } from './init.js';
import type { EMOptions } from './options.js';
import { warning, type MoeWarning } from '../warnings.js';
import type { FitResult } from './result.js';

/** Relative variance floor, in units of the robust variance s_y² of the response. */
export const RELATIVE_VARIANCE_FLOOR = 1e-6;

/** Location and scale of each input column and of the response. */
export interface Standardization {
  /** Input centres (0 where x is not centred) and scales (1 where x is not scaled). */
  mx: Float64Array;
  sx: Float64Array;
  my: number;
  sy: number;
}

/** Median and 1.4826·MAD of n values read by `at` (sd if the MAD is 0, 1 if that is 0 too); overflow-safe. */
export function robustScale(n: number, at: (t: number) => number): { center: number; scale: number } {
  const v = new Float64Array(n);
  for (let t = 0; t < n; t++) v[t] = at(t);
  v.sort();
  const median = (a: Float64Array): number => (a.length % 2 ? a[(a.length - 1) / 2] : 0.5 * a[a.length / 2 - 1] + 0.5 * a[a.length / 2]);
  const center = median(v);
  const dev = new Float64Array(n);
  for (let t = 0; t < n; t++) dev[t] = Math.abs(v[t] - center);
  dev.sort();
  let scale = 1.4826 * median(dev);
  if (!(scale > 0) || !Number.isFinite(scale)) {
    // sd, computed on values divided by their largest magnitude (no overflow at 1e±300)
    let big = 0;
    for (let t = 0; t < n; t++) big = Math.max(big, Math.abs(v[t] - center));
    if (big > 0) {
      let ss = 0;
      for (let t = 0; t < n; t++) ss += ((v[t] - center) / big) ** 2;
      scale = big * Math.sqrt(ss / n);
    }
    if (!(scale > 0) || !Number.isFinite(scale)) scale = 1;
  }
  return { center, scale };
}

const LINEAR_GATES = new Set(['softmax', 'denseToSparse', 'hierarchical']);

/** How x may be standardised for this gate: centre and scale, scale only, or not at all. */
function xMode(gate: GateJSON): 'affine' | 'scale' | 'none' {
  if (LINEAR_GATES.has(gate.type) || (gate.type === 'modified' && gate.map === 'identity')) return 'affine';
  if (gate.type === 'topK') return 'scale';
  return 'none';
}

/** The standardisation used for a fit of `spec` to `data` (identity where the families do not allow it). */
export function standardization(spec: ModelSpec, data: Dataset, options: EMOptions): Standardization {
  const { n, d, X, y } = data;
  // x is mapped only together with Gaussian linear experts (the expert map below)
  const mode = options.gateBound !== undefined || spec.experts.type !== 'gaussianLinear' ? 'none' : xMode(spec.gate);
  const mx = new Float64Array(d);
  const sx = new Float64Array(d).fill(1);
  if (mode !== 'none') {
    for (let u = 0; u < d; u++) {
      const r = robustScale(n, (t) => X[t * d + u]);
      sx[u] = r.scale;
      if (mode === 'affine') mx[u] = r.center;
    }
  }
  let my = 0;
  let sy = 1;
  if (spec.experts.type === 'gaussianLinear') {
    const r = robustScale(n, (t) => y[t]);
    my = r.center;
    sy = r.scale;
  }
  return { mx, sx, my, sy };
}

function isIdentity(s: Standardization): boolean {
  return s.my === 0 && s.sy === 1 && s.mx.every((v) => v === 0) && s.sx.every((v) => v === 1);
}

/** The standardised dataset. */
export function standardizeData(data: Dataset, s: Standardization): Dataset {
  const { n, d } = data;
  const X = new Float64Array(n * d);
  const y = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    for (let u = 0; u < d; u++) X[t * d + u] = (data.X[t * d + u] - s.mx[u]) / s.sx[u];
    y[t] = (data.y[t] - s.my) / s.sy;
  }
  return { ...data, X, y };
}

type Vec = number[];
type Mat = number[][];

/** Gate logit blocks (β₀ vector, β₁ rows) mapped: forward β̃₁ = β₁∘s, β̃₀ = β₀ + β₁ᵀm; back the inverse. */
function mapLogits(beta0: Vec, beta1: Mat, s: Standardization, forward: boolean): { beta0: Vec; beta1: Mat } {
  const b1 = beta1.map((row) => row.map((v, u) => (forward ? v * s.sx[u] : v / s.sx[u])));
  const shift = (row: Vec): number => row.reduce((acc, v, u) => acc + v * s.mx[u], 0);
  // forward: β̃₀ = β₀ + β₁ᵀm (with the original β₁); back: β₀ = β̃₀ − β₁ᵀm (with the mapped-back β₁)
  const b0 = beta0.map((v, i) => (forward ? v + shift(beta1[i]) : v - shift(b1[i])));
  return { beta0: b0, beta1: b1 };
}

function mapGate(g: GateJSON, s: Standardization, forward: boolean): GateJSON {
  if (g.type === 'hierarchical') {
    const o = mapLogits(g.omega0 as Vec, g.omega1 as Mat, s, forward);
    const inner = (g.beta0 as Mat).map((b0, i) => mapLogits(b0, (g.beta1 as Mat[])[i], s, forward));
    return { ...g, omega0: o.beta0, omega1: o.beta1, beta0: inner.map((x) => x.beta0), beta1: inner.map((x) => x.beta1) };
  }
  if (g.beta0 === undefined || g.beta1 === undefined) return g;
  const m = mapLogits(g.beta0 as Vec, g.beta1 as Mat, s, forward);
  return { ...g, beta0: m.beta0, beta1: m.beta1 };
}

function mapExperts(e: ExpertJSON, s: Standardization, forward: boolean): ExpertJSON {
  if (e.type !== 'gaussianLinear') return e; // standardization() maps nothing for other experts
  const a = e.a as Mat;
  const b = e.b as Vec;
  const variance = e.variance as Vec;
  const out: ExpertJSON = { ...e };
  if (forward) {
    out.a = a.map((row) => row.map((v, u) => (v * s.sx[u]) / s.sy));
    out.b = b.map((v, i) => (a[i].reduce((acc, w, u) => acc + w * s.mx[u], 0) + v - s.my) / s.sy);
    out.variance = variance.map((v) => v / (s.sy * s.sy));
    if (typeof e.varianceFloor === 'number') out.varianceFloor = e.varianceFloor / (s.sy * s.sy);
  } else {
    const aBack = a.map((row) => row.map((v, u) => (v * s.sy) / s.sx[u]));
    out.a = aBack;
    out.b = b.map((v, i) => s.my + s.sy * v - aBack[i].reduce((acc, w, u) => acc + w * s.mx[u], 0));
    out.variance = variance.map((v) => v * s.sy * s.sy);
    if (typeof e.varianceFloor === 'number') out.varianceFloor = e.varianceFloor * s.sy * s.sy;
  }
  return out;
}

/** A model's JSON in standardised units (forward) or back in the data's units. */
export function mapModelJSON(json: ModelJSON, s: Standardization, forward: boolean): ModelJSON {
  return { gate: mapGate(json.gate, s, forward), experts: mapExperts(json.experts, s, forward) };
}

/** The floor in force for the standardised fit: the user's (mapped) or RELATIVE_VARIANCE_FLOOR·(s_y/s_y)². */
function standardizedSpec(spec: ModelSpec, s: Standardization): ModelSpec {
  if (spec.experts.type !== 'gaussianLinear') return spec;
  const user = spec.experts.varianceFloor;
  const floor = typeof user === 'number' ? user / (s.sy * s.sy) : RELATIVE_VARIANCE_FLOOR;
  return { ...spec, experts: { ...spec.experts, varianceFloor: floor } };
}

/** The fitted model back in the data's units, with the floor written as the user gave it (or not at all). */
function mapBack(model: MixtureOfExperts, spec: ModelSpec, s: Standardization): MixtureOfExperts {
  const json = mapModelJSON(model.toJSON(), s, false);
  if (spec.experts.type === 'gaussianLinear' && typeof spec.experts.varianceFloor !== 'number') {
    const { varianceFloor: _f, ...rest } = json.experts;
    json.experts = { ...rest, type: json.experts.type };
  }
  return MixtureOfExperts.fromJSON(json);
}

/** Variance floor of a fit in the data's units (for the floor warning). */
export function varianceFloorOf(spec: ModelSpec, s: Standardization): number | undefined {
  if (spec.experts.type !== 'gaussianLinear') return undefined;
  const user = spec.experts.varianceFloor;
  return typeof user === 'number' ? user : RELATIVE_VARIANCE_FLOOR * s.sy * s.sy;
}

export type RawFit = (spec: ModelSpec, data: Dataset, options: EMOptions) => FitResult;

/**
 * Run `fit` (the EM fit on the data as given) on standardised data and map the result back. Starts
 * from a given model or near the truth are drawn in the data's units (the papers' protocol: the noise
 * of math-spec §8.3 is on the original parameters) and then mapped; k-means++ and random starts are
 * drawn on the standardised data, where they are equivariant.
 */
export function fitStandardized(spec: ModelSpec, data: Dataset, options: EMOptions, fit: RawFit): FitResult {
  // one deadline for the whole fit (every restart and every mapped start)
  if (options.timeLimit !== undefined && options.deadline === undefined && options.timeLimit > 0) options = { ...options, deadline: performance.now() + options.timeLimit * 1000 };
  if (options.standardize === false) return withFloorWarning(fit(spec, data, options), spec, undefined);
  const s = standardization(spec, data, options);
  const sSpec = standardizedSpec(spec, s);
  const sData = standardizeData(data, s);
  const shift = -data.n * Math.log(s.sy);
  const onProgress = options.onProgress;
  const sOptions: EMOptions = { ...options, ...(onProgress ? { onProgress: (it: number, ll: number, g?: number) => onProgress(it, ll + shift, g) } : {}) };
  const init = options.init ?? { type: 'kmeans++' };
  if (isIdentity(s) && spec.experts.type !== 'gaussianLinear') return fit(spec, data, options);
  const result = init.type === 'model' || init.type === 'nearTruth'
    ? fitFromMappedStarts(spec, sSpec, data, sData, s, sOptions, fit)
    : fit(sSpec, sData, sOptions);
  return withFloorWarning({
    ...result,
    model: mapBack(result.model, spec, s),
    logLikelihood: result.logLikelihood + shift,
    trace: result.trace.map((v) => v + shift),
    restartLogLikelihoods: result.restartLogLikelihoods.map((v) => v + shift),
  }, spec, s);
}

/** Starts drawn in the data's units (streams split('restart', r) as in bestOfRestarts), mapped, one fit each; the best is kept. */
function fitFromMappedStarts(spec: ModelSpec, sSpec: ModelSpec, data: Dataset, sData: Dataset, s: Standardization, sOptions: EMOptions, fit: RawFit): FitResult {
  const t0 = performance.now();
  const restarts = sOptions.restarts ?? 1;
  const rng = new Rng(sOptions.seed ?? 1);
  const structure = MixtureOfExperts.fromSpec(spec);
  structure.expert.prepare?.(data.X, data.y, data.n);
  const init = sOptions.init ?? { type: 'kmeans++' };
  let best: FitResult | undefined;
  const objectives: number[] = [];
  const warnings: MoeWarning[] = [];
  for (let r = 0; r < restarts; r++) {
    if (r > 0 && sOptions.deadline !== undefined && performance.now() > sOptions.deadline) break; // time limit: no more starts
    let out: FitResult;
    try {
      const theta0 = initialise(structure, data, init, rng.split('restart', r), sOptions);
      const json = mapModelJSON(structure.withTheta(theta0).toJSON(), s, true);
      if (sSpec.experts.varianceFloor !== undefined) json.experts = { ...json.experts, varianceFloor: sSpec.experts.varianceFloor };
      out = fit(sSpec, sData, { ...sOptions, restarts: 1, init: { type: 'model', model: MixtureOfExperts.fromJSON(json) } });
    } catch (e) {
      if (restarts === 1 || !(e instanceof Error)) throw e;
      warnings.push(warning('RESTART_FAILED', `restart ${r + 1}: ${e.message}`, { restart: r + 1, error: e.message }));
      objectives.push(-Infinity);
      continue;
    }
    objectives.push(out.logLikelihood);
    if (!best || out.logLikelihood > best.logLikelihood) best = out;
  }
  if (!best) throw new OptionError(`every restart failed: ${warnings.map((w) => w.message).join('; ')}`);
  return { ...best, restarts, restartLogLikelihoods: objectives, seconds: (performance.now() - t0) / 1000, warnings: [...warnings, ...best.warnings] };
}

/** Adds EM_VARIANCE_AT_FLOOR when an expert's variance ended at the floor (the MLE there does not exist). */
function withFloorWarning(r: FitResult, spec: ModelSpec, s: Standardization | undefined): FitResult {
  const json = r.model.toJSON().experts;
  if (json.type !== 'gaussianLinear') return r;
  const floor = s ? varianceFloorOf(spec, s) : (typeof json.varianceFloor === 'number' ? json.varianceFloor : undefined);
  if (floor === undefined) return r;
  const at = (json.variance as number[]).map((v, i) => ({ v, i })).filter(({ v }) => v <= floor * (1 + 1e-6));
  if (at.length === 0) return r;
  const list = at.map(({ i }) => i + 1).join(', ');
  return {
    ...r,
    warnings: [...r.warnings, warning('EM_VARIANCE_AT_FLOOR', `the variance of expert${at.length > 1 ? 's' : ''} ${list} is at the floor ${floor.toExponential(3)} (an expert fits too few distinct points: the likelihood is unbounded there, the fit is degenerate)`, { experts: list, floor })],
  };
}
