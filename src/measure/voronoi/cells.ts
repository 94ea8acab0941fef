/**
 * Voronoi cells (math-spec §1.3) and the loss evaluated on fixed atoms and cells (math-spec §2.3,
 * §3.5), with its per-block summary.
 */
import type { Atoms } from '../atoms.js';
import type { ExponentFunction } from './exponents.js';
import type { VoronoiMetric, VoronoiRegion, VoronoiResult } from './types.js';
import type { MoeWarning } from '../../warnings.js';


/**
 * Assign each fitted atom to its nearest true atom (math-spec §1.3), on the full coordinate vectors,
 * L2 or L1; ties go to the smallest true index. `out[i]` = true atom of fitted atom i.
 */
export function assignCells(fit: Atoms, truth: Atoms, metric: VoronoiMetric, out: Int32Array = new Int32Array(fit.k)): Int32Array {
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

/** Loss parts on fixed atoms and cells. */
export interface LossParts {
  loss: number;
  perTrue: Float64Array; // mass + block terms per true atom
  blocksPerTrue: Float64Array; // kStar × nBlocks block terms
  massPerTrue: Float64Array;
}

/**
 * Buffers for repeated `evaluateLoss` calls on atoms of one shape (the infimum's objective: thousands
 * of calls per measure), and the exponents per cell size, computed once per size (an exponent is a
 * function of (block, size) alone). The parts a call returns live in these buffers until the next call.
 */
export class LossWorkspace {
  readonly assign: Int32Array;
  readonly sizes: Int32Array;
  readonly massSum: Float64Array;
  readonly blocksPerTrue: Float64Array;
  readonly expCache: Float64Array;
  readonly massPerTrue: Float64Array;
  readonly perTrue: Float64Array;
  private readonly bySize = new Map<number, Float64Array>();

  constructor(k: number, kStar: number, private readonly blocks: readonly { name: string }[], private readonly exponent: ExponentFunction) {
    const nb = blocks.length;
    this.assign = new Int32Array(k);
    this.sizes = new Int32Array(kStar);
    this.massSum = new Float64Array(kStar);
    this.blocksPerTrue = new Float64Array(kStar * nb);
    this.expCache = new Float64Array(kStar * nb);
    this.massPerTrue = new Float64Array(kStar);
    this.perTrue = new Float64Array(kStar);
  }

  /** The exponents of every block in a cell of `m` atoms (the exponent function's errors propagate, uncached). */
  exponents(m: number): Float64Array {
    let e = this.bySize.get(m);
    if (!e) {
      e = Float64Array.from(this.blocks, (b) => this.exponent(b.name, m));
      this.bySize.set(m, e);
    }
    return e;
  }
}

/** Cell sizes of an assignment, into `out` (zeroed first). */
export function sizesInto(assign: Int32Array, out: Int32Array): Int32Array {
  out.fill(0);
  for (let i = 0; i < assign.length; i++) out[assign[i]]++;
  return out;
}

export function evaluateLoss(fit: Atoms, truth: Atoms, assign: Int32Array, exponent: ExponentFunction, sizes: Int32Array, regions: number[][] | null, ws?: LossWorkspace): LossParts {
  const kStar = truth.k;
  const nb = fit.blocks.length;
  const p = fit.p;
  const massSum = ws ? ws.massSum.fill(0) : new Float64Array(kStar);
  const blocksPerTrue = ws ? ws.blocksPerTrue.fill(0) : new Float64Array(kStar * nb);
  const expCache = ws ? ws.expCache : new Float64Array(kStar * nb);
  if (ws) {
    for (let j = 0; j < kStar; j++) {
      if (sizes[j] > 0) expCache.set(ws.exponents(sizes[j]), j * nb);
      else expCache.fill(NaN, j * nb, (j + 1) * nb);
    }
  } else {
    for (let j = 0; j < kStar; j++) for (let b = 0; b < nb; b++) expCache[j * nb + b] = sizes[j] > 0 ? exponent(fit.blocks[b].name, sizes[j]) : NaN;
  }
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
  const massPerTrue = ws ? ws.massPerTrue : new Float64Array(kStar);
  const perTrue = ws ? ws.perTrue : new Float64Array(kStar);
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

export function sizesOf(assign: Int32Array, kStar: number): Int32Array {
  const s = new Int32Array(kStar);
  for (let i = 0; i < assign.length; i++) s[assign[i]]++;
  return s;
}

/** The result of the loss on the chosen representative and cells (blocks, block maxima, exponents, regions). */
export function summarise(
  fa: Atoms, ta: Atoms, assign: Int32Array, sizes: Int32Array, parts: LossParts, exponent: ExponentFunction, lossName: string,
  regions: number[][] | null, regionMasses: number[], warnings: MoeWarning[], normalisation: VoronoiResult['normalisation'],
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
  const cellBlock: Record<string, number> = {};
  const exponents: Record<string, number[]> = {};
  const cellWeight = new Float64Array(kStar);
  for (let i = 0; i < fa.k; i++) cellWeight[assign[i]] += Math.exp(fa.logWeight[i]);
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
    // math-spec §1.4: Σ_{i∈Aⱼ} e^{ℓᵢ}‖Δᵢ‖^r ≲ n^{-1/2} ⇒ the cell's weighted r-th-root mean ≲ n^{-1/(2r)}
    let mCell = 0;
    for (let j = 0; j < kStar; j++) {
      if (sizes[j] === 0 || !(cellWeight[j] > 0)) continue;
      const e = exponent(name, sizes[j]);
      const v = Math.pow(parts.blocksPerTrue[j * nb + b] / cellWeight[j], 1 / e);
      if (v > mCell || Number.isNaN(v)) mCell = v;
    }
    cellBlock[name] = mCell;
    exponents[name] = Array.from(sizes, (m) => (m > 0 ? exponent(name, m) : NaN));
  }
  const result: VoronoiResult = {
    loss: parts.loss,
    cells: cellsFromAssignment(assign, kStar),
    blocks,
    blockMax,
    blockMaxMulti,
    cellBlock,
    lossName,
    exponents,
    normalisation,
    warnings,
  };
  if (regionList) result.regions = regionList;
  return result;
}
