/**
 * Scale-equivariant fits (issue 12): the fit runs on internally standardised data and its result is
 * mapped back in closed form, so a fit of transformed data is the transformed fit, for every
 * transformation the model family is closed under (a family that is not closed under one has no
 * "transformed fit" to return: that transformation is left alone, see the table).
 *
 *  - y → c·y + m (Gaussian linear experts): ℓ changes by exactly −n·log|c|, the expert intercepts
 *    and slopes by c (intercepts + m), the variances by c²; `converged`, the iterations and the
 *    gradient norm (taken in the standardised coordinates: scale-free) are unchanged;
 *  - x_j → c·x_j + m_j: only the slopes on x_j (by 1/c) and the intercepts change.
 *
 * Standardisation: x̃_j = (x_j − m_j)/s_j and ỹ = (y − m_y)/s_y with the median m and the scale
 * s = 1.4826·MAD (the standard deviation where the MAD is 0, 1 where both are 0): equivariant
 * estimators that one outlier cannot move. Where only a scale is allowed, y is divided by
 * 1.4826·median|y| (same fallbacks) and x by its MAD scale, without centring.
 *
 * What is mapped (gate logits β₁ᵀx + β₀: β̃₁ = β₁∘s, β̃₀ = β₀ + β₁ᵀm):
 *   gates   softmax, temperature (denseToSparse), hierarchical, modified:identity,
 *           activation with the bias inside σ(β₁ᵀx + β₀)                  x centred and scaled
 *           top-K (its selection ignores β₀), activation with the bias outside σ(β₁ᵀx)/τ + β₀
 *                                                                         x scaled only
 *           modified with a non-identity map (sin, tanh, sigmoid, user maps): x left alone,
 *           M(c·x) is not a reparametrisation of M(x)
 *   experts Gaussian linear (ã = a∘s/s_y, b̃ = (aᵀm + b − m_y)/s_y, ν̃ = ν/s_y²)   x and y affine
 *           multinomial logistic (class slopes and intercepts as the gate)     x affine, y is a label
 *           regression linear (as Gaussian linear, noiseVariance/s_y²)         x and y affine
 *           regression relu without c (relu(z)/s = relu(z/s)) and any
 *           activation with the output weight c (c̃ = c/s_y)                    x affine, y scaled only
 *           regression sigmoid/tanh/gelu without c                             x affine, y left alone:
 *           c·σ(z) + m is not of the form σ(z′), so no fit on another y scale maps back
 * x is standardised only when both the gate and the experts allow it.
 *
 * Variance floor (documented in the README; EMOptions.varianceFloor): unless `experts.varianceFloor`
 * fixes it, every variance is kept ≥ c·s_y² (c = 1e-6), relative to the robust scale s_y of the
 * response, so a single outlier cannot lift it and it scales with y. With `{ scale: 'expert' }` each
 * expert i has its own floor c·σ̂ᵢ², σ̂ᵢ the robust (weighted-MAD) scale of its residuals at the
 * start (gaussian-linear.ts), c·s_y² where that is 0; an expert that then collapses onto duplicated
 * points ends at its floor and the fit carries EM_VARIANCE_AT_FLOOR.
 *
 * With `gateBound` or `expertBound` the box is given in the data's units, so x is not standardised
 * (y still is where the experts allow it; multinomial-logistic experts never map y).
 */
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelJSON, type ModelSpec } from '../model/model.js';
import type { GateJSON } from '../gates/gate.js';
import type { ExpertJSON } from '../experts/expert.js';
import type { FloorSpec } from '../experts/gaussian-linear.js';
import { Rng } from '../numeric/rng.js';
import { OptionError } from '../errors.js';
import { initialise, type InitSpec } from './init.js';
import type { EMOptions } from './options.js';
import { warning, type MoeWarning } from '../warnings.js';
import type { FitResult } from './result.js';

/** Relative variance floor, in units of the robust variance s_y² of the response (or of an expert's residuals). */
export const RELATIVE_VARIANCE_FLOOR = 1e-6;

/** Location and scale of each input column and of the response. */
export interface Standardization {
  /** Input centres (0 where x is not centred) and scales (1 where x is not scaled). */
  mx: Float64Array;
  sx: Float64Array;
  /** Response centre (0 where y is not centred) and scale (1 where y is not scaled). */
  my: number;
  sy: number;
}

type Mode = 'affine' | 'scale' | 'none';

/** Median and 1.4826·MAD of n values read by `at` (sd if the MAD is 0, 1 if that is 0 too); overflow-safe. */
export function robustScale(n: number, at: (t: number) => number): { center: number; scale: number } {
  const v = new Float64Array(n);
  for (let t = 0; t < n; t++) v[t] = at(t);
  return robustScaleOf(v);
}

/** `robustScale` of the values v (kept; a closure per value costs ≈ 10 ms cold at n = 1e5, before the JIT). */
function robustScaleOf(v: Float64Array): { center: number; scale: number } {
  const n = v.length;
  const center = median(v.slice());
  const dev = new Float64Array(n);
  for (let t = 0; t < n; t++) dev[t] = Math.abs(v[t] - center);
  return { center, scale: scaleOr(1.4826 * median(dev), v, center) };
}

/** Column u of the row-major n×d matrix X (a copy). */
function column(X: Float64Array, n: number, d: number, u: number): Float64Array {
  if (d === 1) return X.slice(0, n);
  const v = new Float64Array(n);
  for (let t = 0; t < n; t++) v[t] = X[t * d + u];
  return v;
}

/** 1.4826·median|v| about 0 (the root mean square if that is 0, 1 if both are): a scale for data that may not be centred. */
export function robustScaleUncentred(n: number, at: (t: number) => number): number {
  const v = new Float64Array(n);
  for (let t = 0; t < n; t++) v[t] = Math.abs(at(t));
  return scaleOr(1.4826 * median(v.slice()), v, 0);
}

/**
 * The median of a (reordered in place): the same value as the middle of the sorted array, by
 * selection in O(n) instead of a sort (two sorts of 1e5 values were 50 ms of a cold 1e5-row fit).
 */
export function median(a: Float64Array): number {
  const n = a.length;
  if (n === 0) return NaN;
  const hi = n >> 1;
  select(a, hi);
  if (n % 2) return a[hi];
  // a[0..hi) ≤ a[hi]: the lower middle is the largest of them
  let lo = -Infinity;
  for (let i = 0; i < hi; i++) if (a[i] > lo) lo = a[i];
  return 0.5 * lo + 0.5 * a[hi];
}

/**
 * Reorder a so that a[k] is its k-th smallest value, a[i] ≤ a[k] for i < k and a[i] ≥ a[k] for
 * i > k (Hoare partition, median-of-three pivot; a range that does not shrink fast enough is
 * sorted instead, so adversarial orders stay O(n log n)). Values must not be NaN.
 */
function select(a: Float64Array, k: number): void {
  let lo = 0;
  let hi = a.length - 1;
  let budget = 2 * Math.ceil(Math.log2(a.length + 1)) + 8;
  while (hi > lo) {
    if (budget-- === 0 || hi - lo < 16) {
      a.subarray(lo, hi + 1).sort();
      return;
    }
    const mid = lo + ((hi - lo) >> 1);
    // median of three as the pivot value
    const x = a[lo];
    const y = a[mid];
    const z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const tmp = a[i];
        a[i] = a[j];
        a[j] = tmp;
        i++;
        j--;
      }
    }
    // now a[lo..j] ≤ pivot ≤ a[i..hi], and lo..hi between them equal the pivot
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/** `scale`, or the root mean square of v − center where it is 0 or not finite (overflow-safe), or 1. */
function scaleOr(scale: number, v: Float64Array, center: number): number {
  if (scale > 0 && Number.isFinite(scale)) return scale;
  const n = v.length;
  let big = 0;
  for (let t = 0; t < n; t++) big = Math.max(big, Math.abs(v[t] - center));
  if (big > 0 && Number.isFinite(big)) {
    let ss = 0;
    for (let t = 0; t < n; t++) ss += ((v[t] - center) / big) ** 2;
    scale = big * Math.sqrt(ss / n);
  }
  return scale > 0 && Number.isFinite(scale) ? scale : 1;
}

const LINEAR_GATES = new Set(['softmax', 'denseToSparse', 'hierarchical']);

/** How x may be standardised for this gate: centre and scale, scale only, or not at all. */
function gateXMode(gate: GateJSON): Mode {
  if (LINEAR_GATES.has(gate.type) || (gate.type === 'modified' && gate.map === 'identity')) return 'affine';
  if (gate.type === 'activation') return gate.bias === 'inside' ? 'affine' : 'scale';
  if (gate.type === 'topK') return 'scale';
  return 'none';
}

/** Whether the experts allow an affine map of x, and how y may be mapped (the table in the file comment). */
function expertModes(e: ExpertJSON): { x: boolean; y: Mode } {
  switch (e.type) {
    case 'gaussianLinear':
      return { x: true, y: 'affine' };
    case 'multinomialLogistic':
      return { x: true, y: 'none' };
    case 'regression':
      if (e.activation === 'linear') return { x: true, y: 'affine' };
      return { x: true, y: e.activation === 'relu' || e.outputWeight === true ? 'scale' : 'none' };
    default:
      return { x: false, y: 'none' };
  }
}

/** What a fit of `spec` standardises, in words (for documentation and tests): e.g. "x affine, y scaled". */
export function standardizationModes(spec: ModelSpec, gateBound?: number, expertBound?: number): { x: Mode; y: Mode } {
  const e = expertModes(spec.experts);
  // a box is in the data's units: x maps the gate and expert slopes, y the expert coefficients
  return { x: gateBound !== undefined || expertBound !== undefined || !e.x ? 'none' : gateXMode(spec.gate), y: expertBound !== undefined ? 'none' : e.y };
}

/** The standardisation used for a fit of `spec` to `data` (identity where the families do not allow it). */
export function standardization(spec: ModelSpec, data: Dataset, options: { gateBound?: number; expertBound?: number }): Standardization {
  const { n, d, X, y } = data;
  const modes = standardizationModes(spec, options.gateBound, options.expertBound);
  const mx = new Float64Array(d);
  const sx = new Float64Array(d).fill(1);
  if (modes.x !== 'none') {
    for (let u = 0; u < d; u++) {
      const r = robustScaleOf(column(X, n, d, u));
      sx[u] = r.scale;
      if (modes.x === 'affine') mx[u] = r.center;
    }
  }
  let my = 0;
  let sy = 1;
  if (modes.y === 'affine') {
    const r = robustScaleOf(y.slice(0, n));
    my = r.center;
    sy = r.scale;
  } else if (modes.y === 'scale') {
    sy = robustScaleUncentred(n, (t) => y[t]);
  }
  return { mx, sx, my, sy };
}

export function isIdentity(s: Standardization): boolean {
  return s.my === 0 && s.sy === 1 && s.mx.every((v) => v === 0) && s.sx.every((v) => v === 1);
}

/** The standardised dataset (y untouched where it is not mapped: class codes stay integers). */
export function standardizeData(data: Dataset, s: Standardization): Dataset {
  const { n, d } = data;
  const X = new Float64Array(n * d);
  for (let t = 0; t < n; t++) for (let u = 0; u < d; u++) X[t * d + u] = (data.X[t * d + u] - s.mx[u]) / s.sx[u];
  let y = data.y;
  if (s.my !== 0 || s.sy !== 1) {
    y = new Float64Array(n);
    for (let t = 0; t < n; t++) y[t] = (data.y[t] - s.my) / s.sy;
  }
  return { ...data, X, y };
}

type Vec = number[];
type Mat = number[][];

/** Logit blocks (β₀ vector, β₁ rows) mapped: forward β̃₁ = β₁∘s, β̃₀ = β₀ + β₁ᵀm; back the inverse. */
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

/** Regression experts h = c·σ(aᵀx + b): the argument z = aᵀx + b is mapped, then the output (see the file comment). */
function mapRegression(e: ExpertJSON, s: Standardization, forward: boolean): ExpertJSON {
  const a = e.a as Mat;
  const b = e.b as Vec;
  const linear = e.activation === 'linear';
  // the factor applied to z: 1/s_y where the output scale goes inside (linear; relu without c), else 1
  const lambda = linear || (e.activation === 'relu' && e.outputWeight !== true) ? 1 / s.sy : 1;
  const off = linear ? s.my / s.sy : 0;
  const out: ExpertJSON = { ...e };
  if (forward) {
    out.a = a.map((row) => row.map((v, u) => lambda * v * s.sx[u]));
    out.b = b.map((v, i) => lambda * (v + a[i].reduce((acc, w, u) => acc + w * s.mx[u], 0)) - off);
  } else {
    const aBack = a.map((row) => row.map((v, u) => v / (lambda * s.sx[u])));
    out.a = aBack;
    out.b = b.map((v, i) => (v + off) / lambda - aBack[i].reduce((acc, w, u) => acc + w * s.mx[u], 0));
  }
  const f = forward ? 1 / s.sy : s.sy;
  if (Array.isArray(e.c)) out.c = (e.c as Vec).map((v) => v * f);
  if (typeof e.noiseVariance === 'number') out.noiseVariance = e.noiseVariance * f * f;
  return out;
}

/** Multinomial-logistic experts: each expert's class logits are mapped as the gate's (y is a label). */
function mapMultinomial(e: ExpertJSON, s: Standardization, forward: boolean): ExpertJSON {
  const a = e.a as Mat;
  const b = e.b as Mat[];
  const mapped = a.map((ai, i) => mapLogits(ai, b[i], s, forward));
  return { ...e, a: mapped.map((m) => m.beta0), b: mapped.map((m) => m.beta1) };
}

function mapExperts(e: ExpertJSON, s: Standardization, forward: boolean): ExpertJSON {
  if (e.type === 'regression') return mapRegression(e, s, forward);
  if (e.type === 'multinomialLogistic') return mapMultinomial(e, s, forward);
  if (e.type !== 'gaussianLinear') return e; // standardization() maps nothing for other experts
  const a = e.a as Mat;
  const b = e.b as Vec;
  const variance = e.variance as Vec;
  const out: ExpertJSON = { ...e };
  const f = forward ? 1 / (s.sy * s.sy) : s.sy * s.sy;
  if (forward) {
    out.a = a.map((row) => row.map((v, u) => (v * s.sx[u]) / s.sy));
    out.b = b.map((v, i) => (a[i].reduce((acc, w, u) => acc + w * s.mx[u], 0) + v - s.my) / s.sy);
  } else {
    const aBack = a.map((row) => row.map((v, u) => (v * s.sy) / s.sx[u]));
    out.a = aBack;
    out.b = b.map((v, i) => s.my + s.sy * v - aBack[i].reduce((acc, w, u) => acc + w * s.mx[u], 0));
  }
  out.variance = variance.map((v) => v * f);
  if (typeof e.varianceFloor === 'number') out.varianceFloor = e.varianceFloor * f;
  return out;
}

/** A model's JSON in standardised units (forward) or back in the data's units. */
export function mapModelJSON(json: ModelJSON, s: Standardization, forward: boolean): ModelJSON {
  return { gate: mapGate(json.gate, s, forward), experts: mapExperts(json.experts, s, forward) };
}

/** The fitted model back in the data's units (canonical), with the floor written as the user gave it (or not at all). */
export function mapBack(model: MixtureOfExperts, spec: ModelSpec, s: Standardization): MixtureOfExperts {
  const json = mapModelJSON(model.toJSON(), s, false);
  if (spec.experts.type === 'gaussianLinear' && typeof spec.experts.varianceFloor !== 'number') {
    const { varianceFloor: _f, ...rest } = json.experts;
    json.experts = { ...rest, type: json.experts.type };
  }
  return MixtureOfExperts.fromJSON(json);
}

/** The floor in force for the standardised fit: the user's (mapped), or relative to s_y (= 1 there), per expert if asked. */
function standardizedSpec(spec: ModelSpec, s: Standardization, options: EMOptions): ModelSpec {
  if (spec.experts.type !== 'gaussianLinear') return spec;
  const user = spec.experts.varianceFloor;
  if (typeof user === 'number') return { ...spec, experts: { ...spec.experts, varianceFloor: user / (s.sy * s.sy) } };
  const rel = options.varianceFloor?.relative ?? RELATIVE_VARIANCE_FLOOR;
  // standardised: rel·s_y² is rel (s_y → 1); on the data as given (standardize: false) the family's rel·Var(y)
  const floor: FloorSpec = { relative: rel, perExpert: options.varianceFloor?.scale === 'expert', ...(options.standardize === false ? {} : { global: rel }) };
  return { ...spec, experts: { ...spec.experts, varianceFloor: floor } };
}

/** The floors of a fitted Gaussian linear model's experts, in the data's units (undefined for other experts). */
function floorsOf(model: MixtureOfExperts, s: Standardization): number[] | undefined {
  const e = model.expert as { varianceFloors?: number[] };
  return Array.isArray(e.varianceFloors) ? e.varianceFloors.map((f) => f * s.sy * s.sy) : undefined;
}

export type RawFit = (spec: ModelSpec, data: Dataset, options: EMOptions) => FitResult;

const IDENTITY = (d: number): Standardization => ({ mx: new Float64Array(d), sx: new Float64Array(d).fill(1), my: 0, sy: 1 });

/**
 * Run `fit` (the EM fit on the data as given) on standardised data and map the result back. Starts
 * from a given model or near the truth are drawn in the data's units (the papers' protocol: the noise
 * of math-spec §8.3 is on the original parameters) and then mapped; k-means++ and random starts are
 * drawn on the standardised data, where they are equivariant.
 */
export function fitStandardized(spec: ModelSpec, data: Dataset, options: EMOptions, fit: RawFit): FitResult {
  // one deadline for the whole fit (every restart and every mapped start)
  if (options.timeLimit !== undefined && options.deadline === undefined && options.timeLimit > 0) options = { ...options, deadline: performance.now() + options.timeLimit * 1000 };
  const s = options.standardize === false ? IDENTITY(data.d) : standardization(spec, data, options);
  const sSpec = standardizedSpec(spec, s, options);
  const perExpert = spec.experts.type === 'gaussianLinear' && typeof spec.experts.varianceFloor !== 'number' && options.varianceFloor?.scale === 'expert';
  const init = options.init ?? { type: 'kmeans++' };
  if (isIdentity(s) && !perExpert) return withFloorWarning(fit(sSpec, data, options), s);
  const sData = isIdentity(s) ? data : standardizeData(data, s);
  const shift = -data.n * Math.log(s.sy);
  const onProgress = options.onProgress;
  const sOptions: EMOptions = { ...options, ...(onProgress ? { onProgress: (it: number, ll: number, g?: number) => onProgress(it, ll + shift, g) } : {}) };
  // per-expert floors are set from each start's posteriors, so every restart is its own fit
  const result = init.type === 'model' || init.type === 'nearTruth' || perExpert
    ? fitFromStarts(spec, sSpec, data, sData, s, sOptions, init, fit)
    : fit(sSpec, sData, sOptions);
  const floors = floorsOf(result.model, s);
  return withFloorWarning({
    ...result,
    model: isIdentity(s) ? result.model : mapBack(result.model, spec, s),
    logLikelihood: result.logLikelihood + shift,
    trace: result.trace.map((v) => v + shift),
    restartLogLikelihoods: result.restartLogLikelihoods.map((v) => v + shift),
  }, s, floors);
}

/**
 * One fit per start, the best kept. Starts given in the data's units (a model, nearTruth) are drawn
 * there and mapped; k-means++ and random starts are drawn on the standardised data. Restart r draws
 * from stream split('restart', r) of the seed, as bestOfRestarts does.
 */
function fitFromStarts(spec: ModelSpec, sSpec: ModelSpec, data: Dataset, sData: Dataset, s: Standardization, sOptions: EMOptions, init: InitSpec, fit: RawFit): FitResult {
  const t0 = performance.now();
  const restarts = sOptions.restarts ?? 1;
  const rng = new Rng(sOptions.seed ?? 1);
  const inDataUnits = init.type === 'model' || init.type === 'nearTruth';
  // the start's structure: a plain floor (per-expert floors are set by the fit, from the start's posteriors)
  const floor = sSpec.experts.varianceFloor as number | FloorSpec | undefined;
  const plain = floor === undefined || typeof floor === 'number' ? sSpec : { ...sSpec, experts: { ...sSpec.experts, varianceFloor: { ...floor, perExpert: false } } };
  const structure = MixtureOfExperts.fromSpec(inDataUnits ? spec : plain);
  const startData = inDataUnits ? data : sData;
  structure.expert.prepare?.(startData.X, startData.y, startData.n);
  let best: FitResult | undefined;
  const objectives: number[] = [];
  const warnings: MoeWarning[] = [];
  for (let r = 0; r < restarts; r++) {
    if (r > 0 && sOptions.deadline !== undefined && performance.now() > sOptions.deadline) break; // time limit: no more starts
    let out: FitResult;
    try {
      const theta0 = initialise(structure, startData, init, rng.split('restart', r), sOptions);
      const start = structure.withTheta(theta0).toJSON();
      const json = inDataUnits ? mapModelJSON(start, s, true) : start;
      if (json.experts.type === 'gaussianLinear') {
        const { varianceFloor: _f, ...rest } = json.experts;
        // a given start below the floor is raised onto it (it would be infeasible: zero likelihood)
        const f = typeof floor === 'number' ? floor : floor?.global;
        if (f !== undefined) rest.variance = (rest.variance as number[]).map((v) => Math.max(v, f));
        json.experts = { ...rest, type: json.experts.type };
      }
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

/** Adds EM_VARIANCE_AT_FLOOR when an expert's variance ended at its floor (the MLE there does not exist). */
function withFloorWarning(r: FitResult, s: Standardization, floors = floorsOf(r.model, s)): FitResult {
  const json = r.model.toJSON().experts;
  if (json.type !== 'gaussianLinear' || floors === undefined) return r;
  const at = (json.variance as number[]).map((v, i) => ({ v, i, f: floors[i] })).filter(({ v, f }) => v <= f * (1 + 1e-6));
  if (at.length === 0) return r;
  const list = at.map(({ i }) => i + 1).join(', ');
  const distinct = new Set(at.map(({ f }) => f));
  const floorText = distinct.size === 1 ? `the floor ${at[0].f.toExponential(3)}` : `their floors ${at.map(({ f }) => f.toExponential(3)).join(', ')}`;
  return {
    ...r,
    warnings: [...r.warnings, warning('EM_VARIANCE_AT_FLOOR', `the variance of expert${at.length > 1 ? 's' : ''} ${list} is at ${floorText} (an expert fits too few distinct points: the likelihood is unbounded there, the fit is degenerate)`, { experts: list, floor: at[0].f })],
  };
}
