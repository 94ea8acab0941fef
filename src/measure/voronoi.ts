/**
 * Voronoi cells and Voronoi losses between a fitted and a true mixing measure
 * (math-spec §1.3–1.6, §2.3, §3.5, §4.3, §5.3, §8.1–8.2, §9.4).
 *
 *   D(G, G*) = Σⱼ |Σ_{i∈Aⱼ} e^{ℓᵢ} − e^{ℓ*ⱼ}| + Σⱼ Σ_{i∈Aⱼ} e^{ℓᵢ} Σ_blocks ‖θᵢ[block] − θ*ⱼ[block]‖^{e(block, |Aⱼ|)}
 *
 * with Aⱼ the Voronoi cell of true atom j, ℓ the log-weights (β₀) and e the exponents of a preset
 * (D1, D2, D2strong, Dr) or given explicitly.
 *
 * Normalisation (default; README wording in `NORMALISATION_DOC`): the softmax gate is invariant under
 * a common shift of all (β₁ᵢ, β₀ᵢ), so the loss is computed on a canonical representative of the
 * fitted translation class, the one that matches the true reference expert (the last true atom)
 * inside its own cell: β₀ is shifted so that Σ_{i∈A_ref} e^{β₀ᵢ} = e^{β*₀,ref}, and β₁ so that the
 * e^{β₀}-weighted mean of β₁ over A_ref equals β*₁,ref (math-spec §8.2). Because cells depend on β₁,
 * this is a fixed point (cells → shift → cells); it is searched from every fitted atom taken as the
 * reference, and the fixed point with the smallest loss is kept. Temperature gates are first
 * rescaled to the true τ. `raw: true` instead reproduces the authors' `loss_SGaME_exact` exactly.
 */
import { MixtureOfExperts } from '../model/model.js';
import { sampleX, type XDesign } from '../model/data.js';
import { Rng } from '../numeric/rng.js';
import { ModelFormatError, OptionError } from '../errors.js';
import {
  atomsOf, blockOf, cloneAtoms, resolveModel, voronoiExpertHook, voronoiGateHook,
  type Atoms, type ExponentRule, type ModelInput,
} from './atoms.js';
import { readMatrix, readVector } from '../json-read.js';
import type { GateJSON } from '../gates/gate.js';

export type VoronoiMetric = 'l2' | 'l1';

/** README wording of the normalisation conventions. */
export const NORMALISATION_DOC = [
  'Voronoi losses are translation-normalised by default. The softmax gate does not change when the same',
  '(t₁, t₀) is added to every (β₁ᵢ, β₀ᵢ), so before measuring, moelab moves the fitted model to the',
  'representative of its translation class that matches the true reference expert (the last true expert)',
  'inside its Voronoi cell A_ref: β₀ is shifted so that Σ_{i∈A_ref} exp(β₀ᵢ) = exp(β*₀,ref), and β₁ so that',
  'the exp(β₀)-weighted mean of β₁ over A_ref equals β*₁,ref (math-spec §8.2). Cells depend on β₁, so the',
  'shift and the cells are iterated to a fixed point, started from every fitted expert taken as the',
  'reference; the fixed point with the smallest loss is reported (it is not an infimum over all shifts;',
  'fixed points whose loss is undefined, e.g. a cell of 4+ atoms without r̄(4), are skipped).',
  'Gates whose only invariance is a β₀ shift (activation) shift β₀ only; temperature gates are first',
  'rescaled so that the fitted τ equals the true τ (β₁ and β₀ scale with it: only β₁/τ and β₀/τ are',
  'identifiable). Gates without a registered invariance are measured as given. `raw` mode skips all of',
  "this and reproduces the authors' discrepancies.loss_SGaME_exact (L1 cells, their quirks included).",
].join('\n');

// ---------------------------------------------------------------------------------------------
// r̄ and exponent presets

/** r̄(m) of math-spec §1.5: r̄(1) = 1, r̄(2) = 4, r̄(3) = 6; m ≥ 4 only with a user value. */
export function rbar(m: number, user?: Record<number, number> | ((m: number) => number)): number {
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`r̄: cell size must be a positive integer, got ${m}`);
  if (m === 1) return 1;
  if (m === 2) return 4;
  if (m === 3) return 6;
  const v = typeof user === 'function' ? user(m) : user?.[m];
  if (v === undefined || !(v > 0)) {
    throw new OptionError(`r̄(${m}) is not known (math-spec §1.5 only gives r̄(m) ≥ 7 for m ≥ 4): a Voronoi cell has ${m} fitted atoms; supply a value with the rbar option (CLI: --rbar ${m}=VALUE) or use a loss that does not need r̄ (D1, D2strong, Dr:R)`);
  }
  return v;
}

/** Exponent of `block` in a cell of `m` fitted atoms. */
export type ExponentFunction = (block: string, m: number) => number;

/** An explicit exponent specification: per-block rules as functions of the cell size. */
export interface ExplicitExponents {
  name?: string;
  /** Per block: a constant exponent, or a function of the cell size m (including m = 1). */
  exponents: Record<string, number | ((m: number) => number)>;
  /** For blocks not listed (default: an error naming the block). */
  default?: number | ((m: number) => number);
}

export type LossSpec = string | ExplicitExponents;

/** Names accepted by `loss` (case-insensitive), for help texts. */
export const LOSS_PRESETS: readonly { name: string; help: string }[] = [
  { name: 'D1', help: 'exponent 1 on every block (exact-specified loss, math-spec §2.3)' },
  { name: 'D2', help: "over-specified loss of the expert family: 1 in single-atom cells; Gaussian linear (P0): β₁, b → r̄(m), a, ν → r̄(m)/2; other families 2" },
  { name: 'D2strong', help: 'strongly identifiable over-specified loss: 1 in single-atom cells, 2 in multi-atom cells (P1 restated, P2, P3)' },
  { name: 'Dr:R', help: 'exponent R on every block in every cell (math-spec §1.6 D_{·,r})' },
  { name: 'P0-D1 | P1-D1 | P2-D1 | P3-D1 | P4-D1', help: 'D1' },
  { name: 'P0-D2 | P1-D2', help: 'D2 with the r̄ pattern of P0 on (β₁, a, b, ν)' },
  { name: 'P2-D2 | P3-D2', help: 'D2strong' },
  { name: 'custom:BLOCK=EXPR,…', help: 'multi-atom cell exponents per block; EXPR is a number, rbar, rbar/N or N*rbar; single-atom cells get 1' },
];

function ruleValue(rule: ExponentRule, m: number, rb: (m: number) => number): number {
  return typeof rule === 'number' ? rule : rule(m, rb);
}

/** Parse a multi-atom-cell exponent expression: number | rbar | rbar/N | rbar*N | N*rbar. */
export function parseExponentExpr(expr: string, where: string): ExponentRule {
  const s = expr.trim().toLowerCase().replace(/\s+/g, '');
  const num = Number(s);
  if (s !== '' && Number.isFinite(num)) {
    if (!(num > 0)) throw new OptionError(`${where}: exponent must be > 0, got ${expr}`);
    return num;
  }
  let m = /^(?:r̄|rbar)(?:([/*])([\d.]+))?$/.exec(s);
  if (m) {
    const c = m[2] === undefined ? 1 : Number(m[2]);
    if (!(c > 0)) throw new OptionError(`${where}: bad factor in ${JSON.stringify(expr)}`);
    const f = m[1] === '/' ? 1 / c : c;
    return (cell, rb) => rb(cell) * f;
  }
  m = /^([\d.]+)\*(?:r̄|rbar)$/.exec(s);
  if (m) {
    const c = Number(m[1]);
    if (!(c > 0)) throw new OptionError(`${where}: bad factor in ${JSON.stringify(expr)}`);
    return (cell, rb) => rb(cell) * c;
  }
  throw new OptionError(`${where}: cannot read the exponent ${JSON.stringify(expr)} (expected a number, rbar, rbar/N or N*rbar)`);
}

/**
 * Resolve a loss name or explicit spec into an exponent function for these atoms. `k`/`kStar` pick
 * the default (D1 when k = k*, D2 otherwise).
 */
export function resolveExponents(
  spec: LossSpec | undefined,
  atoms: Atoms,
  kStar: number,
  options: { r?: number; rbar?: Record<number, number> | ((m: number) => number); gateJson?: GateJSON } = {},
): { name: string; exponent: ExponentFunction } {
  const rb = (m: number): number => rbar(m, options.rbar);
  const blockNames = atoms.blocks.map((b) => b.name);
  if (spec !== undefined && typeof spec !== 'string') {
    const ex = spec;
    for (const name of Object.keys(ex.exponents)) {
      if (!blockNames.includes(name)) throw new OptionError(`loss exponents: no block named ${JSON.stringify(name)} (blocks: ${blockNames.join(', ')})`);
    }
    return {
      name: ex.name ?? 'custom',
      exponent: (block, m) => {
        const r = ex.exponents[block] ?? ex.default;
        if (r === undefined) throw new OptionError(`loss exponents: no exponent for block ${JSON.stringify(block)} and no default`);
        const v = typeof r === 'number' ? r : r(m);
        if (!(v > 0) || !Number.isFinite(v)) throw new OptionError(`loss exponents: block ${block}, cell size ${m}: exponent must be > 0, got ${v}`);
        return v;
      },
    };
  }
  const raw = (spec ?? (atoms.k === kStar ? 'D1' : 'D2')).trim();
  const name = raw.toLowerCase();
  const gateHook = voronoiGateHook(atoms.gateType, options.gateJson).hook;
  const expertHook = voronoiExpertHook(atoms.expertType);
  const d1: ExponentFunction = () => 1;
  const familyD2: ExponentFunction = (block, m) => {
    if (m === 1) return 1;
    const rule = gateHook.d2?.[block] ?? expertHook.d2?.[block] ?? 2;
    return ruleValue(rule, m, rb);
  };
  const strong: ExponentFunction = (_block, m) => (m === 1 ? 1 : 2);
  const rbarPattern: Record<string, ExponentRule> = {
    beta1: (m, r) => r(m), b: (m, r) => r(m), a: (m, r) => r(m) / 2, variance: (m, r) => r(m) / 2,
  };
  const p0D2: ExponentFunction = (block, m) => (m === 1 ? 1 : ruleValue(rbarPattern[block] ?? 2, m, rb));
  if (/^(p[0-4]-)?d1$/.test(name)) return { name: raw, exponent: d1 };
  if (name === 'd2') return { name: 'D2', exponent: familyD2 };
  if (name === 'p0-d2' || name === 'p1-d2') return { name: raw, exponent: p0D2 };
  if (name === 'd2strong' || name === 'p2-d2' || name === 'p3-d2') return { name: raw, exponent: strong };
  const dr = /^dr(?::|=)?(.*)$/.exec(name);
  if (dr) {
    const r = dr[1] === '' ? options.r : Number(dr[1]);
    if (r === undefined || !Number.isFinite(r) || !(r >= 1)) {
      throw new OptionError(`loss ${JSON.stringify(raw)}: Dr needs an exponent r ≥ 1 (write Dr:2, or pass the r option)`);
    }
    return { name: `Dr:${r}`, exponent: () => r };
  }
  if (name.startsWith('custom:')) {
    const rules: Record<string, ExponentRule> = {};
    for (const part of raw.slice(7).split(',')) {
      const eq = part.indexOf('=');
      if (eq < 0) throw new OptionError(`loss ${JSON.stringify(raw)}: expected BLOCK=EXPR, got ${JSON.stringify(part)}`);
      const block = part.slice(0, eq).trim();
      if (!blockNames.includes(block)) throw new OptionError(`loss ${JSON.stringify(raw)}: no block named ${JSON.stringify(block)} (blocks: ${blockNames.join(', ')})`);
      rules[block] = parseExponentExpr(part.slice(eq + 1), `loss ${raw}, block ${block}`);
    }
    return {
      name: raw,
      exponent: (block, m) => {
        if (m === 1) return 1;
        const rule = rules[block];
        if (rule === undefined) throw new OptionError(`loss ${JSON.stringify(raw)}: no exponent for block ${JSON.stringify(block)}`);
        return ruleValue(rule, m, rb);
      },
    };
  }
  throw new OptionError(`loss: unknown loss ${JSON.stringify(raw)} (known: ${LOSS_PRESETS.map((p) => p.name).join('; ')})`);
}

// ---------------------------------------------------------------------------------------------
// Cells

/**
 * Assign each fitted atom to its nearest true atom (math-spec §1.3), on the full coordinate vectors,
 * L2 or L1; ties go to the smallest true index. `out[i]` = true atom of fitted atom i.
 */
export function assignCells(fit: Atoms, truth: Atoms, metric: VoronoiMetric, out = new Int32Array(fit.k)): Int32Array {
  const p = fit.p;
  const fc = fit.coords;
  const tc = truth.coords;
  for (let i = 0; i < fit.k; i++) {
    let best = -1;
    let bestD = Infinity;
    for (let j = 0; j < truth.k; j++) {
      let s = 0;
      if (metric === 'l2') {
        for (let u = 0; u < p; u++) {
          const df = fc[i * p + u] - tc[j * p + u];
          s += df * df;
        }
      } else {
        for (let u = 0; u < p; u++) s += Math.abs(fc[i * p + u] - tc[j * p + u]);
      }
      if (s < bestD) {
        bestD = s;
        best = j;
      }
    }
    out[i] = best < 0 ? 0 : best; // NaN coordinates: first cell
  }
  return out;
}

export function cellsFromAssignment(assign: Int32Array, kStar: number): number[][] {
  const cells: number[][] = Array.from({ length: kStar }, () => []);
  for (let i = 0; i < assign.length; i++) cells[assign[i]].push(i);
  return cells;
}

// ---------------------------------------------------------------------------------------------
// Options and result

export interface VoronoiOptions {
  /** Cell assignment metric: 'l2' (default, math-spec §1.3) or 'l1' (the authors' code). */
  metric?: VoronoiMetric;
  /** Loss preset or explicit exponents; default D1 when k = k*, D2 otherwise. */
  loss?: LossSpec;
  /** r for `Dr` written without a value. */
  r?: number;
  /** r̄(m) for m ≥ 4 (math-spec §1.5 gives only r̄(m) ≥ 7). */
  rbar?: Record<number, number> | ((m: number) => number);
  /** Reproduce the authors' `discrepancies.loss_SGaME_exact` exactly (math-spec §8.1). */
  raw?: boolean;
  /**
   * 'reference' (default): translation-normalise as documented (`NORMALISATION_DOC`); 'none': measure
   * the representative as given (a JSON object as written; a `MixtureOfExperts` in its canonical form).
   */
  translation?: 'reference' | 'none';
  /** Scale-normalise temperature-type gates (default true). */
  scale?: boolean;
  /** Input distribution used to find the regions of a sparse (top-K) true gate (default uniform on [0,1]^d). */
  x?: XDesign | Float64Array;
  /** Number of x draws for the regions (default 4096). */
  samples?: number;
  seed?: number;
  /** Maximum fixed-point iterations of the normalisation per start (default 50). */
  maxIter?: number;
}

export interface VoronoiRegion {
  /** True experts active on this input region. */
  active: number[];
  /** Fraction of the x draws in this region. */
  mass: number;
  /** Loss restricted to the region's true atoms. */
  loss: number;
}

export interface VoronoiResult {
  loss: number;
  /** Fitted atom indices (0-based, ascending) in the cell of each true atom. */
  cells: number[][];
  /**
   * Contribution of each block to the loss, Σ_cells Σ_{i∈A} e^{ℓᵢ}‖Δ‖^e, plus `mass` (the mass terms);
   * with regions (top-K), those of the region attaining the max. They add up to `loss`.
   */
  blocks: Record<string, number>;
  /** Per block, the largest parameter error max_i ‖θᵢ[block] − θ*_{j(i)}[block]‖ over fitted atoms (no weight, no exponent). */
  blockMax: Record<string, number>;
  /** The same over the fitted atoms of multi-atom cells only (0 when every cell has one atom). */
  blockMaxMulti: Record<string, number>;
  /** Name of the exponent preset used. */
  lossName: string;
  /** Per block, the exponent used in each true atom's cell (NaN for empty cells). */
  exponents: Record<string, number[]>;
  /** Input regions of a sparse true gate (top-K); absent otherwise. */
  regions?: VoronoiRegion[];
  /**
   * The normalisation applied to the fitted atoms, relative to their canonical form (last expert as the
   * reference): log-weight shift, shift of each translated block, and the temperature scale factor
   * τ* / τ̂ (null in raw mode, with translation 'none', or for gates without invariances).
   */
  normalisation: { logWeightShift: number; translation: Record<string, number[]>; scale: number | null } | null;
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------
// Loss evaluation on fixed atoms and cells

interface LossParts {
  loss: number;
  perTrue: Float64Array; // mass + block terms per true atom
  blocksPerTrue: Float64Array; // kStar × nBlocks block terms
  massPerTrue: Float64Array;
}

function evaluateLoss(fit: Atoms, truth: Atoms, assign: Int32Array, exponent: ExponentFunction, sizes: Int32Array, regions: number[][] | null): LossParts {
  const kStar = truth.k;
  const nb = fit.blocks.length;
  const p = fit.p;
  const massSum = new Float64Array(kStar);
  const blocksPerTrue = new Float64Array(kStar * nb);
  const expCache = new Float64Array(kStar * nb);
  for (let j = 0; j < kStar; j++) for (let b = 0; b < nb; b++) expCache[j * nb + b] = sizes[j] > 0 ? exponent(fit.blocks[b].name, sizes[j]) : NaN;
  for (let i = 0; i < fit.k; i++) {
    const j = assign[i];
    const w = Math.exp(fit.logWeight[i]);
    massSum[j] += w;
    for (let b = 0; b < nb; b++) {
      const { offset, dim } = fit.blocks[b];
      let s = 0;
      for (let u = 0; u < dim; u++) {
        const df = fit.coords[i * p + offset + u] - truth.coords[j * p + offset + u];
        s += df * df;
      }
      const norm = Math.sqrt(s);
      const e = expCache[j * nb + b];
      blocksPerTrue[j * nb + b] += w * (e === 1 ? norm : Math.pow(norm, e));
    }
  }
  const massPerTrue = new Float64Array(kStar);
  const perTrue = new Float64Array(kStar);
  for (let j = 0; j < kStar; j++) {
    massPerTrue[j] = Math.abs(massSum[j] - Math.exp(truth.logWeight[j])); // mass term, math-spec §2.3
    let s = massPerTrue[j];
    for (let b = 0; b < nb; b++) s += blocksPerTrue[j * nb + b];
    perTrue[j] = s;
  }
  let loss = 0;
  if (regions === null) {
    for (let j = 0; j < kStar; j++) loss += perTrue[j];
  } else {
    loss = -Infinity; // P1 (math-spec §3.5): max over the input regions of the true gate
    for (const act of regions) {
      let s = 0;
      for (const j of act) s += perTrue[j];
      if (s > loss) loss = s;
    }
  }
  return { loss, perTrue, blocksPerTrue, massPerTrue };
}

function sizesOf(assign: Int32Array, kStar: number): Int32Array {
  const s = new Int32Array(kStar);
  for (let i = 0; i < assign.length; i++) s[assign[i]]++;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Normalisation

/** Shift every log-weight by s and every translated block by t (in place). */
function translate(a: Atoms, s: number, blocks: { offset: number; dim: number }[], t: Float64Array[]): void {
  for (let i = 0; i < a.k; i++) {
    a.logWeight[i] += s;
    for (let b = 0; b < blocks.length; b++) {
      const { offset, dim } = blocks[b];
      for (let u = 0; u < dim; u++) a.coords[i * a.p + offset + u] += t[b][u];
    }
  }
}

/**
 * The shift that makes the reference cell match the true reference atom (math-spec §8.2):
 * Σ_{A_ref} e^{ℓ} = e^{ℓ*_ref}, and the e^{ℓ}-weighted mean of each translated block equals the truth's.
 */
function referenceShift(fit: Atoms, truth: Atoms, assign: Int32Array, ref: number, blocks: { offset: number; dim: number }[]): { s: number; t: Float64Array[] } | null {
  let mx = -Infinity;
  let count = 0;
  let only = -1;
  for (let i = 0; i < fit.k; i++) {
    if (assign[i] !== ref) continue;
    count++;
    only = i;
    if (fit.logWeight[i] > mx) mx = fit.logWeight[i];
  }
  if (count === 0) return null;
  const p = fit.p;
  if (count === 1) {
    return {
      s: truth.logWeight[ref] - fit.logWeight[only],
      t: blocks.map(({ offset, dim }) => {
        const t = new Float64Array(dim);
        for (let u = 0; u < dim; u++) t[u] = truth.coords[ref * p + offset + u] - fit.coords[only * p + offset + u];
        return t;
      }),
    };
  }
  let sw = 0;
  for (let i = 0; i < fit.k; i++) if (assign[i] === ref) sw += Math.exp(fit.logWeight[i] - mx);
  const s = truth.logWeight[ref] - (mx + Math.log(sw));
  const t = blocks.map(({ offset, dim }) => {
    const mean = new Float64Array(dim);
    for (let i = 0; i < fit.k; i++) {
      if (assign[i] !== ref) continue;
      const w = Math.exp(fit.logWeight[i] - mx) / sw;
      for (let u = 0; u < dim; u++) mean[u] += w * fit.coords[i * p + offset + u];
    }
    for (let u = 0; u < dim; u++) mean[u] = truth.coords[ref * p + offset + u] - mean[u];
    return mean;
  });
  return { s, t };
}

// ---------------------------------------------------------------------------------------------
// Regions of a sparse true gate

function findRegions(truthModel: MixtureOfExperts, options: VoronoiOptions): { regions: number[][]; masses: number[] } {
  const d = truthModel.d;
  let X: Float64Array;
  let n: number;
  if (options.x instanceof Float64Array) {
    X = options.x;
    if (X.length === 0 || X.length % d !== 0) throw new OptionError(`x: expected a non-empty row-major n×${d} array, got length ${X.length}`);
    n = X.length / d;
  } else {
    n = options.samples ?? 4096;
    if (!Number.isInteger(n) || n < 1) throw new OptionError(`samples: expected a positive integer, got ${n}`);
    X = sampleX(options.x ?? { type: 'uniform', low: 0, high: 1 }, n, d, new Rng(options.seed ?? 1).split('voronoi-regions'));
  }
  const k = truthModel.k;
  const lw = new Float64Array(n * k);
  truthModel.gate.logWeights(truthModel.gateTheta, X, n, lw);
  const counts = new Map<string, { active: number[]; count: number }>();
  for (let t = 0; t < n; t++) {
    const active: number[] = [];
    for (let i = 0; i < k; i++) if (lw[t * k + i] > -Infinity) active.push(i);
    const key = active.join(',');
    const e = counts.get(key);
    if (e) e.count++;
    else counts.set(key, { active, count: 1 });
  }
  // regions never drawn have (empirically) zero mass and are dropped (math-spec §3.5)
  const list = [...counts.values()].sort((a, b) => (a.active.join(',') < b.active.join(',') ? -1 : 1));
  return { regions: list.map((e) => e.active), masses: list.map((e) => e.count / n) };
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Voronoi loss between a fitted and a true model (math-spec §9.4). Both may be `MixtureOfExperts`,
 * model JSON objects or `fit --json` outputs.
 */
export function voronoiLoss(fit: ModelInput, truth: ModelInput, options: VoronoiOptions = {}): VoronoiResult {
  const F = resolveModel(fit, 'fit');
  const T = resolveModel(truth, 'truth');
  if (F.model.d !== T.model.d) throw new ModelFormatError(`fit has input dimension ${F.model.d} but truth has ${T.model.d}`);
  if (options.raw) return rawLoss(F.json, T.json, F.model.k, T.model.k, options);
  const metric = options.metric ?? 'l2';
  if (metric !== 'l2' && metric !== 'l1') throw new OptionError(`metric: expected l2 or l1, got ${JSON.stringify(metric)}`);
  const translation = options.translation ?? 'reference';
  if (translation !== 'reference' && translation !== 'none') throw new OptionError(`translation: expected reference or none, got ${JSON.stringify(translation)}`);
  const warnings: string[] = [];

  // Representatives: canonical JSON when normalising (the result does not depend on it), as given otherwise.
  const fitJson = translation === 'none' ? F.json : F.model.toJSON();
  const truthJson = translation === 'none' ? T.json : T.model.toJSON();
  const fa = atomsOf(F.model, fitJson, 'fit');
  const ta = atomsOf(T.model, truthJson, 'truth');
  const fNames = fa.blocks.map((b) => `${b.name}(${b.dim})`).join(', ');
  const tNames = ta.blocks.map((b) => `${b.name}(${b.dim})`).join(', ');
  if (fNames !== tNames) throw new ModelFormatError(`fit and truth have different atom blocks (fit: ${fNames}; truth: ${tNames})`);

  const { name: lossName, exponent } = resolveExponents(options.loss, fa, ta.k, { ...options, gateJson: fitJson.gate });
  const { hook: gateHook, registered } = voronoiGateHook(fa.gateType, fitJson.gate);
  const { hook: truthGateHook, registered: truthRegistered } = voronoiGateHook(ta.gateType, truthJson.gate);

  let scale: number | null = null;
  if (translation === 'reference' && options.scale !== false && gateHook.normaliseScale) {
    scale = gateHook.normaliseScale(fa, ta)?.scale ?? null;
  }

  let regions: number[][] | null = null;
  let regionMasses: number[] = [];
  if (truthGateHook.sparse || !truthRegistered) {
    const r = findRegions(T.model, options);
    // a dense gate has a single region with every expert active: no max to take
    if (!(r.regions.length === 1 && r.regions[0].length === ta.k)) {
      regions = r.regions;
      regionMasses = r.masses;
    }
  }

  const maxIter = options.maxIter ?? 50;
  const kStar = ta.k;
  const ref = kStar - 1; // the true reference expert (canonical form, math-spec §1.2)
  let best: { atoms: Atoms; assign: Int32Array; parts: LossParts; sizes: Int32Array; s: number; t: Float64Array[] } | null = null;

  const transBlocks = translation === 'reference' && gateHook.translation
    ? gateHook.translation.blocks.map((name) => {
      const b = blockOf(fa, name);
      if (!b) throw new ModelFormatError(`fit: the Voronoi hook of gate ${fa.gateType} translates block ${name}, which the atoms do not have`);
      return b;
    })
    : [];
  if (translation === 'reference' && !gateHook.translation && !registered) {
    warnings.push(`gate type ${JSON.stringify(fa.gateType)} has no registered Voronoi hook: measured without translation normalisation`);
  }

  let firstError: OptionError | undefined;
  if (translation === 'reference' && gateHook.translation) {
    // Fixed points of (cells → reference shift), started from each fitted atom as the reference.
    for (let c = 0; c < fa.k; c++) {
      const rep = cloneAtoms(fa);
      const p = fa.p;
      const s0 = ta.logWeight[ref] - fa.logWeight[c];
      const t0 = transBlocks.map(({ offset, dim }) => {
        const t = new Float64Array(dim);
        for (let u = 0; u < dim; u++) t[u] = ta.coords[ref * p + offset + u] - fa.coords[c * p + offset + u];
        return t;
      });
      translate(rep, s0, transBlocks, t0);
      let sTot = s0;
      const tTot = t0.map((t) => t.slice());
      let assign = assignCells(rep, ta, metric);
      for (let it = 0; it < maxIter; it++) {
        const sh = referenceShift(rep, ta, assign, ref, transBlocks);
        if (!sh) break;
        translate(rep, sh.s, transBlocks, sh.t);
        sTot += sh.s;
        sh.t.forEach((t, b) => { for (let u = 0; u < t.length; u++) tTot[b][u] += t[u]; });
        const next = assignCells(rep, ta, metric);
        let same = true;
        for (let i = 0; i < next.length; i++) if (next[i] !== assign[i]) { same = false; break; }
        assign = next;
        if (same) break;
      }
      const sizes = sizesOf(assign, kStar);
      let parts: LossParts;
      try {
        parts = evaluateLoss(rep, ta, assign, exponent, sizes, regions);
      } catch (e) {
        // e.g. r̄ unknown for a cell of 4+ atoms in this start's fixed point: skip the start
        if (!(e instanceof OptionError)) throw e;
        firstError ??= e;
        continue;
      }
      if (!best || parts.loss < best.parts.loss) best = { atoms: rep, assign, parts, sizes, s: sTot, t: tTot };
    }
    if (!best && firstError) throw firstError;
  }
  if (!best) {
    const assign = assignCells(fa, ta, metric);
    const sizes = sizesOf(assign, kStar);
    best = { atoms: fa, assign, parts: evaluateLoss(fa, ta, assign, exponent, sizes, regions), sizes, s: 0, t: [] };
  }

  return summarise(best.atoms, ta, best.assign, best.sizes, best.parts, exponent, lossName, regions, regionMasses, warnings,
    translation === 'reference' && gateHook.translation
      ? { logWeightShift: best.s, translation: Object.fromEntries(transBlocks.map((b, i) => [b.name, Array.from(best.t[i])])), scale }
      : translation === 'reference' && scale !== null ? { logWeightShift: 0, translation: {}, scale } : null);
}

function summarise(
  fa: Atoms, ta: Atoms, assign: Int32Array, sizes: Int32Array, parts: LossParts, exponent: ExponentFunction, lossName: string,
  regions: number[][] | null, regionMasses: number[], warnings: string[], normalisation: VoronoiResult['normalisation'],
): VoronoiResult {
  const kStar = ta.k;
  const nb = fa.blocks.length;
  const p = fa.p;
  // which true atoms count: all, or those of the region attaining the max
  let counted: number[] = Array.from({ length: kStar }, (_, j) => j);
  let regionList: VoronoiRegion[] | undefined;
  if (regions) {
    regionList = regions.map((act, r) => ({ active: act, mass: regionMasses[r], loss: act.reduce((s, j) => s + parts.perTrue[j], 0) }));
    let bi = 0;
    for (let r = 1; r < regionList.length; r++) if (regionList[r].loss > regionList[bi].loss) bi = r;
    counted = regions[bi];
  }
  const blocks: Record<string, number> = {};
  for (let b = 0; b < nb; b++) blocks[fa.blocks[b].name] = counted.reduce((s, j) => s + parts.blocksPerTrue[j * nb + b], 0);
  blocks.mass = counted.reduce((s, j) => s + parts.massPerTrue[j], 0);
  const blockMax: Record<string, number> = {};
  const blockMaxMulti: Record<string, number> = {};
  const exponents: Record<string, number[]> = {};
  for (let b = 0; b < nb; b++) {
    const { name, offset, dim } = fa.blocks[b];
    let mAll = 0;
    let mMulti = 0;
    for (let i = 0; i < fa.k; i++) {
      const j = assign[i];
      let s = 0;
      for (let u = 0; u < dim; u++) {
        const df = fa.coords[i * p + offset + u] - ta.coords[j * p + offset + u];
        s += df * df;
      }
      const norm = Math.sqrt(s);
      if (norm > mAll) mAll = norm;
      if (sizes[j] > 1 && norm > mMulti) mMulti = norm;
    }
    blockMax[name] = mAll;
    blockMaxMulti[name] = mMulti;
    exponents[name] = Array.from(sizes, (m) => (m > 0 ? exponent(name, m) : NaN));
  }
  const result: VoronoiResult = {
    loss: parts.loss,
    cells: cellsFromAssignment(assign, kStar),
    blocks,
    blockMax,
    blockMaxMulti,
    lossName,
    exponents,
    normalisation,
    warnings,
  };
  if (regionList) result.regions = regionList;
  return result;
}

/** Voronoi cells of the fitted atoms (fitted indices per true atom), on the same representative as `voronoiLoss`. */
export function voronoiCells(fit: ModelInput, truth: ModelInput, options: VoronoiOptions = {}): number[][] {
  return voronoiLoss(fit, truth, options).cells;
}

// ---------------------------------------------------------------------------------------------
// Raw mode: the authors' discrepancies.loss_SGaME_exact (math-spec §8.1), quirks included

const RAW_RBAR = [0, 1, 4, 6];

function rawLoss(fitJson: { gate: Record<string, unknown>; experts: Record<string, unknown> }, truthJson: { gate: Record<string, unknown>; experts: Record<string, unknown> }, K: number, Ks: number, options: VoronoiOptions): VoronoiResult {
  if (fitJson.gate.type !== 'softmax' || truthJson.gate.type !== 'softmax' || fitJson.experts.type !== 'gaussianLinear' || truthJson.experts.type !== 'gaussianLinear') {
    throw new OptionError('raw: the authors\' loss_SGaME_exact is defined for softmax-gated Gaussian linear experts only');
  }
  if (options.metric !== undefined && options.metric !== 'l1') throw new OptionError('raw: the authors\' code assigns cells with the L1 distance; do not combine raw with metric l2');
  if (options.loss !== undefined) {
    const want = K === Ks ? 'd1' : 'd2';
    if (typeof options.loss !== 'string' || options.loss.toLowerCase() !== want) {
      throw new OptionError(`raw: the authors' code chooses its own loss (${want.toUpperCase()} since k=${K}, k*=${Ks}); do not pass a different loss with raw`);
    }
  }
  if (options.translation !== undefined && options.translation !== 'none') throw new OptionError('raw: the authors\' code does not normalise; translation must be none or unset');
  const warnings: string[] = [];
  // Values as given (no canonical form): beta[0,i] = β₀ᵢ, beta[1,i] = β₁ᵢ[0], A[0,i] = bᵢ, A[1,i] = aᵢ[0], Sigma = νᵢ.
  const read = (j: { gate: Record<string, unknown>; experts: Record<string, unknown> }, k: number, who: string) => {
    const beta0 = readVector(j.gate.beta0, `${who}.gate.beta0`, k);
    const beta1 = readMatrix(j.gate.beta1, `${who}.gate.beta1`, k);
    const a = readMatrix(j.experts.a, `${who}.experts.a`, k);
    const b = readVector(j.experts.b, `${who}.experts.b`, k);
    const v = readVector(j.experts.variance, `${who}.experts.variance`, k);
    return { beta0, beta1: beta1.map((r) => r[0]), a: a.map((r) => r[0]), b, v, d: beta1[0]?.length ?? 1 };
  };
  const f = read(fitJson, K, 'fit');
  const t = read(truthJson, Ks, 'truth');
  if (f.d > 1) warnings.push(`raw: the authors' code reads only the first input coordinate of β₁ and a (d = ${f.d})`);
  const norm = (x: number): number => Math.sqrt(x * x); // np.linalg.norm of a scalar
  // gauss_dist_SGaME
  const D: number[][] = [];
  for (let i = 0; i < K; i++) {
    D.push([]);
    for (let j = 0; j < Ks; j++) {
      D[i].push(norm(t.beta1[j] - f.beta1[i]) + norm(t.b[j] - f.b[i]) + norm(t.a[j] - f.a[i]) + norm(t.v[j] - f.v[i]));
    }
  }
  // vor: every minimiser is appended (quirk: ties make vor longer than K and misalign it)
  const vor: number[] = [];
  for (let i = 0; i < K; i++) {
    const mn = Math.min(...D[i]);
    for (let j = 0; j < Ks; j++) if (D[i][j] === mn) vor.push(j);
  }
  if (vor.length > K) warnings.push('raw: a fitted atom is equidistant from two true atoms; the authors\' code appends both and misaligns its cell list (reproduced)');
  // np.unique(vor, return_counts=True): counts indexed by POSITION among the sorted unique values (quirk)
  const uniq = [...new Set(vor)].sort((x, y) => x - y);
  const counts = uniq.map((u) => vor.filter((v) => v === u).length);
  const countAt = (j: number): number => {
    if (j >= counts.length) {
      throw new OptionError(`raw: the authors' code fails on this input (IndexError: counts[${j}] with only ${counts.length} non-empty cells; some true atom has an empty cell)`);
    }
    return counts[j];
  };
  let summ = 0;
  const blocks: Record<string, number> = { beta1: 0, b: 0, a: 0, variance: 0, mass: 0 };
  const cells: number[][] = Array.from({ length: Ks }, () => []);
  for (let i = 0; i < K; i++) cells[vor[i]].push(i);
  const pieces = (i: number, j: number) => [norm(f.beta1[i] - t.beta1[j]), norm(f.b[i] - t.b[j]), norm(f.a[i] - t.a[j]), norm(f.v[i] - t.v[j])];
  if (Ks === K) {
    for (let i = 0; i < K; i++) {
      if (countAt(vor[i]) === 1) {
        const w = Math.exp(f.beta0[i]);
        summ += w * D[i][vor[i]];
        const [p1, pb, pa, pv] = [norm(t.beta1[vor[i]] - f.beta1[i]), norm(t.b[vor[i]] - f.b[i]), norm(t.a[vor[i]] - f.a[i]), norm(t.v[vor[i]] - f.v[i])];
        blocks.beta1 += w * p1;
        blocks.b += w * pb;
        blocks.a += w * pa;
        blocks.variance += w * pv;
      }
    }
  } else {
    for (let i = 0; i < K; i++) {
      const j = vor[i];
      const w = Math.exp(f.beta0[i]);
      const c = countAt(j);
      if (c === 1) {
        summ += w * D[i][j];
        const [p1, pb, pa, pv] = [norm(t.beta1[j] - f.beta1[i]), norm(t.b[j] - f.b[i]), norm(t.a[j] - f.a[i]), norm(t.v[j] - f.v[i])];
        blocks.beta1 += w * p1;
        blocks.b += w * pb;
        blocks.a += w * pa;
        blocks.variance += w * pv;
      } else {
        if (c >= RAW_RBAR.length) throw new OptionError(`raw: the authors' code fails on this input (IndexError: rbar[${c}]; a cell has ${c} fitted atoms and their r̄ table stops at 3)`);
        const rb = RAW_RBAR[c];
        const [p1, pb, pa, pv] = pieces(i, j);
        const b1 = Math.pow(p1, rb);
        const bd = Math.pow(pb, rb);
        const ad = Math.pow(pa, rb / 2);
        const sd = Math.pow(pv, rb / 2);
        summ += w * (b1 + bd + ad + sd);
        blocks.beta1 += w * b1;
        blocks.b += w * bd;
        blocks.a += w * ad;
        blocks.variance += w * sd;
      }
    }
  }
  for (let j = 0; j < Ks; j++) {
    let e = 0;
    for (let i = 0; i < K; i++) if (vor[i] === j) e += Math.exp(f.beta0[i]);
    const m = Math.abs(e - Math.exp(t.beta0[j]));
    summ += m;
    blocks.mass += m;
  }
  const blockMax: Record<string, number> = { beta1: 0, a: 0, b: 0, variance: 0 };
  const blockMaxMulti: Record<string, number> = { beta1: 0, a: 0, b: 0, variance: 0 };
  const sizes = cells.map((c) => c.length);
  for (let i = 0; i < K; i++) {
    const j = vor[i];
    const [p1, pb, pa, pv] = pieces(i, j);
    const vals: Record<string, number> = { beta1: p1, b: pb, a: pa, variance: pv };
    for (const key of Object.keys(vals)) {
      blockMax[key] = Math.max(blockMax[key], vals[key]);
      if (sizes[j] > 1) blockMaxMulti[key] = Math.max(blockMaxMulti[key], vals[key]);
    }
  }
  const exponents: Record<string, number[]> = {};
  for (const key of ['beta1', 'b', 'a', 'variance']) {
    exponents[key] = sizes.map((m) => {
      if (m === 0) return NaN;
      if (Ks === K || m === 1) return 1;
      const rb = m < RAW_RBAR.length ? RAW_RBAR[m] : NaN;
      return key === 'beta1' || key === 'b' ? rb : rb / 2;
    });
  }
  return { loss: summ, cells, blocks, blockMax, blockMaxMulti, lossName: K === Ks ? 'raw:D1' : 'raw:D2', exponents, normalisation: null, warnings };
}
