/**
 * The "measure" step of a study job: a table from loss names (as written in study configs) to the
 * measuring instruments of `src/measure/`. A config asks for `NAME` (the loss value) or
 * `NAME:BLOCK` (one block of a Voronoi loss, e.g. `D2:beta1`); each base measure is computed once
 * per job and its blocks are read from the same result.
 *
 * Wiring a new instrument in is one entry here.
 */
import type { MixtureOfExperts } from '../model/model.js';
import type { Dataset, XDesign } from '../model/data.js';
import type { Rng } from '../numeric/rng.js';
import { z } from 'zod';
import { OptionError } from '../errors.js';
import { voronoiLoss, type VoronoiOptions } from '../measure/voronoi.js';
import { conditionalKind, densityDistance, regressionDistance } from '../measure/distance.js';

export interface MeasureContext {
  fit: MixtureOfExperts;
  truth: MixtureOfExperts;
  /** The data the model was fitted to. */
  data: Dataset;
  /** The x design of the study (for Monte-Carlo distances over x). */
  design: XDesign;
  /** A stream for Monte-Carlo measures (split from the job seed: deterministic). */
  rng: Rng;
  /** Options from the config (`losses[].options`). */
  options: Record<string, unknown>;
}

export interface MeasureValue {
  value: number;
  /** Per-block values (`beta1`, `a`, …) for `NAME:BLOCK` losses. */
  blocks?: Record<string, number>;
}

export interface MeasureEntry {
  help: string;
  /** Validates `losses[].options` in a config. */
  options: z.ZodType<Record<string, unknown>>;
  fn: (ctx: MeasureContext) => MeasureValue;
  /** The block names a `NAME:BLOCK` loss may ask for, for fits of this structure (absent: no blocks). */
  blocks?: (model: MixtureOfExperts) => string[];
  /**
   * Version of the measure's definition (absent: 1). Raise it when a change alters the values the
   * measure gives for the same fit: stores record the versions they ran with (study/versions.ts) and a
   * report recomputes a loss from the stored fitted model when its version differs.
   */
  version?: number;
}

/** A Voronoi loss preset as a measure: value = the loss, blocks = each block's contribution (they add up to the loss, with `mass`). */
function voronoi(preset: string): (ctx: MeasureContext) => MeasureValue {
  return (ctx) => {
    const r = voronoiLoss(ctx.fit, ctx.truth, { loss: preset, x: ctx.design, seed: ctx.rng.uint32(), ...(ctx.options as VoronoiOptions) });
    return { value: r.loss, blocks: r.blocks };
  };
}

/** The same loss minimised over the invariance group of the gate (voronoi/infimum.ts); the fixed-point value when the gate has none. */
function voronoiInf(preset: string): (ctx: MeasureContext) => MeasureValue {
  return (ctx) => {
    const r = voronoiLoss(ctx.fit, ctx.truth, { loss: preset, x: ctx.design, seed: ctx.rng.uint32(), ...(ctx.options as VoronoiOptions), infimum: true });
    return r.infimum ? { value: r.infimum.loss, blocks: r.infimum.blocks } : { value: r.loss, blocks: r.blocks };
  };
}

/**
 * The x points of a Monte-Carlo distance. For a uniform (or grid) design in d = 1, stratified draws
 * (one uniform point in each of m equal strata): unbiased for E_X and far less noisy than i.i.d.
 * draws for the smooth per-x distances here. Otherwise i.i.d. draws from the design.
 */
function xPoints(ctx: MeasureContext, samples: number, stratify: boolean): XDesign | Float64Array {
  const des = ctx.design;
  if (!stratify || ctx.fit.d !== 1 || des.type === 'normal') return des;
  const X = new Float64Array(samples);
  const w = (des.high - des.low) / samples;
  for (let i = 0; i < samples; i++) X[i] = des.low + w * (i + ctx.rng.uniform());
  return X;
}

interface DistanceMeasureOptions {
  /** Number of x points (default: `densitySamples`). */
  samples?: number;
  /** Stratified x points for 1-d uniform/grid designs (default true). */
  stratify?: boolean;
  tol?: number;
}

/** x points of a density distance over a stratified 1-d design when the y-part is a quadrature (measure version 3). */
export const STRATIFIED_QUADRATURE_SAMPLES = 64;
/** x points otherwise: i.i.d. draws, or a y-part that is an exact sum over classes (cheap). */
export const DEFAULT_DENSITY_SAMPLES = 256;

/**
 * The default number of x points of a density distance. 64 when the points are stratified (d = 1,
 * uniform or grid design) and the y-integral is a quadrature (Gaussian responses): the distance costs
 * ≈ 250–450 integrand evaluations per x point and was 60–96 % of a study job's measure time at 256
 * points. With one point per stratum the Monte-Carlo error of E_X falls like m^{-3/2}: on 288 fits of
 * the committed stores (7 Gaussian presets, n = 1e2…1e5) the relative sd over x seeds is median
 * 1.3e-3, max 1.5e-2 at 64 points (1.5e-4 / 1.8e-3 at 256), at most 9 % (median 0.7 %) of the
 * replicate sd of log h at the same n. Every job of those stores re-measured at 64 points (its own
 * measure stream) gives the same rate verdict on all 16 hellinger/tv curves (OLS slopes move ≤ 4e-4,
 * the verdicts' quantile slopes ≤ 2.2e-3). Otherwise 256 (i.i.d. points: error m^{-1/2}; class
 * responses: the y-part is a sum, and the points cost nothing).
 */
function densitySamples(ctx: MeasureContext, stratify: boolean): number {
  const stratified = stratify && ctx.fit.d === 1 && ctx.design.type !== 'normal';
  return stratified && conditionalKind(ctx.fit) === 'gaussian' ? STRATIFIED_QUADRATURE_SAMPLES : DEFAULT_DENSITY_SAMPLES;
}

function density(metric: 'hellinger' | 'tv'): (ctx: MeasureContext) => MeasureValue {
  return (ctx) => {
    const o = ctx.options as DistanceMeasureOptions;
    const stratify = o.stratify ?? true;
    const samples = o.samples ?? densitySamples(ctx, stratify);
    const x = xPoints(ctx, samples, stratify);
    return { value: densityDistance(ctx.fit, ctx.truth, { metric, x, samples, seed: ctx.rng.uint32(), ...(o.tol !== undefined ? { tol: o.tol } : {}) }).distance };
  };
}

/** Block names of a Voronoi loss for models of this structure (the model against itself), plus `mass` for the loss itself. */
function voronoiBlocks(withMass: boolean): (model: MixtureOfExperts) => string[] {
  return (model) => {
    const r = voronoiLoss(model, model, { loss: 'D1' });
    return Object.keys(withMass ? r.blocks : r.blockMax);
  };
}

const VoronoiOptionsSchema = z.strictObject({
  metric: z.enum(['l2', 'l1']).optional(),
  raw: z.boolean().optional(),
  translation: z.enum(['reference', 'none']).optional(),
  scale: z.boolean().optional(),
  r: z.number().positive().optional(),
  rbar: z.record(z.string(), z.number().positive()).optional(),
  samples: z.number().int().min(1).optional(),
  maxIter: z.number().int().min(1).optional(),
});

const DistanceOptionsSchema = z.strictObject({
  samples: z.number().int().min(1).optional(),
  stratify: z.boolean().optional(),
  tol: z.number().positive().optional(),
});

/**
 * 3: 64 stratified x points by default for Gaussian responses in d = 1 (`densitySamples`; 256 before:
 * values move by the Monte-Carlo error, verdicts unchanged); class responses and i.i.d. points keep 256.
 * 2: the y-quadrature's default tolerances 1e-9 absolute / 1e-7 per panel and breakpoints merged
 * within half an sd (measure/distance.ts; values move by ≤ 1e-7 relative, far below the x average's
 * Monte-Carlo error); 1 (runs before it): 1e-12 / 1e-10, merged within a tenth of an sd.
 */
const DENSITY_VERSION = 3;

/** 2: the orbit restricted to non-empty cells and to weight shifts between the cell-mass matches (voronoi/infimum.ts); 1 (runs before it): the whole orbit, flat at Σ e^{β*₀} for far fits. */
const INF_VERSION = 2;

export const MEASURES: Record<string, MeasureEntry> = {
  D1: { options: VoronoiOptionsSchema, help: 'Voronoi loss D1, exponent 1 on every block (exact-specified, math-spec §2.3); D1:BLOCK = that block\'s term', fn: voronoi('D1'), blocks: voronoiBlocks(true) },
  D2: { options: VoronoiOptionsSchema, help: 'Voronoi loss D2 (over-specified: r̄ exponents for Gaussian linear experts, math-spec §2.3); D2:BLOCK = that block\'s term', fn: voronoi('D2'), blocks: voronoiBlocks(true) },
  D1inf: { version: INF_VERSION, options: VoronoiOptionsSchema, help: 'D1 minimised over the gate\'s invariance group (translations; the scale orbit of a temperature gate), from the fixed point (≤ D1); cells kept non-empty, weight shift between the cell-mass matches', fn: voronoiInf('D1'), blocks: voronoiBlocks(true) },
  D2inf: { version: INF_VERSION, options: VoronoiOptionsSchema, help: 'D2 minimised over the gate\'s invariance group, from the fixed point (≤ D2)', fn: voronoiInf('D2'), blocks: voronoiBlocks(true) },
  D2stronginf: { version: INF_VERSION, options: VoronoiOptionsSchema, help: 'D2strong minimised over the gate\'s invariance group, from the fixed point (≤ D2strong)', fn: voronoiInf('D2strong'), blocks: voronoiBlocks(true) },
  D2strong: { options: VoronoiOptionsSchema, help: 'Voronoi loss with exponent 2 in multi-atom cells (strongly identifiable, math-spec §5.3)', fn: voronoi('D2strong'), blocks: voronoiBlocks(true) },
  param: {
    options: VoronoiOptionsSchema,
    help: 'parameter error: param:BLOCK = max over fitted atoms of ‖θᵢ[BLOCK] − θ*_{j(i)}[BLOCK]‖ (normalised, Voronoi-assigned); value = the max over blocks',
    fn: (ctx) => {
      const r = voronoiLoss(ctx.fit, ctx.truth, { loss: 'D1', x: ctx.design, seed: ctx.rng.uint32(), ...(ctx.options as VoronoiOptions) });
      return { value: Math.max(...Object.values(r.blockMax)), blocks: r.blockMax };
    },
    blocks: voronoiBlocks(false),
  },
  cell: {
    options: VoronoiOptionsSchema.extend({ loss: z.enum(['D1', 'D2', 'D2strong']).optional() }),
    help: 'per-parameter rate the theorems bound: cell:BLOCK = max over Voronoi cells of (Σ_{i∈A} e^{β₀ᵢ}‖Δᵢ[BLOCK]‖^r / Σ_{i∈A} e^{β₀ᵢ})^{1/r}, r the exponent of `loss` (default D2) for that cell size (math-spec §1.4); value = the max over blocks',
    fn: (ctx) => {
      const { loss, ...rest } = ctx.options as VoronoiOptions & { loss?: string };
      const r = voronoiLoss(ctx.fit, ctx.truth, { x: ctx.design, seed: ctx.rng.uint32(), ...rest, loss: loss ?? 'D2' });
      return { value: Math.max(...Object.values(r.cellBlock)), blocks: r.cellBlock };
    },
    blocks: voronoiBlocks(false),
  },
  hellinger: { version: DENSITY_VERSION, options: DistanceOptionsSchema, help: 'E_X Hellinger distance between the fitted and true conditional densities (Monte Carlo over x: 64 stratified points for Gaussian responses in d = 1, else 256, option samples; exact in y)', fn: density('hellinger') },
  tv: { version: DENSITY_VERSION, options: DistanceOptionsSchema, help: 'E_X total-variation distance between the fitted and true conditional densities (x points as for hellinger)', fn: density('tv') },
  l2: {
    options: DistanceOptionsSchema.omit({ tol: true }),
    help: 'L²(μ) distance ‖f̂ − f*‖ between the fitted and true regression functions (math-spec §5.1)',
    fn: (ctx) => {
      const o = ctx.options as DistanceMeasureOptions;
      const samples = o.samples ?? 1024;
      return { value: regressionDistance(ctx.fit, ctx.truth, { x: xPoints(ctx, samples, o.stratify ?? true), samples, seed: ctx.rng.uint32() }).distance };
    },
  },
};

/** The current version of every measure (1 unless its entry says otherwise). */
export function measureVersions(): Record<string, number> {
  return Object.fromEntries(Object.entries(MEASURES).map(([k, e]) => [k, e.version ?? 1]));
}

/**
 * Add a measure (a plugin's loss, written `NAME` or `NAME:BLOCK` in configs). `options` defaults to
 * any object; a built-in measure cannot be replaced.
 */
export function registerMeasure(name: string, entry: Omit<MeasureEntry, 'options'> & { options?: MeasureEntry['options'] }): void {
  if (!/^[A-Za-z][\w-]*$/.test(name)) throw new OptionError(`registerMeasure: ${JSON.stringify(name)} is not a loss name (letters, digits, _ and -)`);
  if (Object.hasOwn(MEASURES, name) && BUILT_IN.has(name)) throw new OptionError(`registerMeasure: ${JSON.stringify(name)} is a built-in measure`);
  MEASURES[name] = { ...entry, options: entry.options ?? z.record(z.string(), z.unknown()) };
}

const BUILT_IN = new Set(Object.keys(MEASURES));

export function measureNames(): string[] {
  return Object.keys(MEASURES);
}

/** The measure of a config loss name: an own entry of MEASURES only (`toString`, `constructor` are not measures). */
export function measureEntry(name: string): MeasureEntry | undefined {
  return Object.hasOwn(MEASURES, name) ? MEASURES[name] : undefined;
}

/**
 * Compute every requested loss of a job. Returns name → value (NaN when a block is missing or the
 * value is not finite is kept as NaN; the store writes NULL).
 */
export function measureAll(losses: readonly { name: string; base: string; block?: string; options: Record<string, unknown> }[], ctx: Omit<MeasureContext, 'options'>): Record<string, number> {
  const cache = new Map<string, MeasureValue>();
  const out: Record<string, number> = {};
  for (const l of losses) {
    const key = `${l.base}\u0000${JSON.stringify(l.options)}`;
    let v = cache.get(key);
    if (!v) {
      const entry = measureEntry(l.base);
      if (!entry) throw new OptionError(`unknown loss ${JSON.stringify(l.base)}`);
      v = entry.fn({ ...ctx, rng: ctx.rng.split('measure', l.base), options: l.options });
      cache.set(key, v);
    }
    if (l.block) {
      const b = v.blocks && Object.hasOwn(v.blocks, l.block) ? v.blocks[l.block] : undefined;
      if (b === undefined) throw new OptionError(`loss ${l.name}: ${l.base} has no block ${JSON.stringify(l.block)} (blocks: ${Object.keys(v.blocks ?? {}).join(', ') || 'none'})`);
      out[l.name] = b;
    } else out[l.name] = v.value;
  }
  return out;
}
