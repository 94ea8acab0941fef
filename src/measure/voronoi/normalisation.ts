/**
 * Translation normalisation of the fitted atoms (math-spec §8.2; README wording in
 * `NORMALISATION_DOC`): the representative of the fitted translation class that matches the true
 * reference expert inside its own cell, found as a fixed point of (cells → reference shift) from
 * every fitted atom taken as the reference.
 */
import { OptionError } from '../../errors.js';
import { cloneAtoms, type Atoms } from '../atoms.js';
import { assignCells, evaluateLoss, sizesOf, type LossParts } from './cells.js';
import type { ExponentFunction } from './exponents.js';
import type { VoronoiMetric } from './types.js';

/** README wording of the normalisation conventions. */
export const NORMALISATION_DOC = [
  'Voronoi losses are translation-normalised by default. The softmax gate does not change when the same',
  '(t₁, t₀) is added to every (β₁ᵢ, β₀ᵢ), so before measuring, moelab moves the fitted model to the',
  'representative of its translation class that matches the true reference expert (the last true expert)',
  'inside its Voronoi cell A_ref: β₀ is shifted so that Σ_{i∈A_ref} exp(β₀ᵢ) = exp(β*₀,ref), and β₁ so that',
  'the exp(β₀)-weighted mean of β₁ over A_ref equals β*₁,ref (math-spec §8.2). Cells depend on β₁, so the',
  'shift and the cells are iterated to a fixed point, started from every fitted expert taken as the',
  'reference; the fixed point with the smallest loss is reported (it is not an infimum over all shifts;',
  'fixed points whose loss is undefined, e.g. a cell of 4+ atoms without r̄(4), are skipped). With',
  '`infimum: true` (study losses D1inf, D2inf, D2stronginf) the loss is also minimised over the',
  'invariance group from that fixed point (Nelder–Mead, cells recomputed) and both values are reported;',
  'the orbit is restricted to representatives that keep every cell non-empty as at the fixed point and',
  'whose weight shift lies between the cell-mass matches (min_j e^{β*₀ⱼ}/Mⱼ ≤ e^s ≤ max_j e^{β*₀ⱼ}/Mⱼ),',
  'else e^s → 0 would give every far fit the loss Σ_j e^{β*₀ⱼ}.',
  'Gates whose only invariance is a β₀ shift (activation) shift β₀ only; temperature gates are first',
  'rescaled so that the fitted τ equals the true τ (β₁ and β₀ scale with it: only β₁/τ and β₀/τ are',
  'identifiable). Gates without a registered invariance are measured as given. `raw` mode skips all of',
  "this and reproduces the authors' discrepancies.loss_SGaME_exact (L1 cells, their quirks included).",
].join('\n');


/** Shift every log-weight by s and every translated block by t (in place). */
export function translate(a: Atoms, s: number, blocks: { offset: number; dim: number }[], t: Float64Array[]): void {
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
export function referenceShift(fit: Atoms, truth: Atoms, assign: Int32Array, ref: number, blocks: { offset: number; dim: number }[]): { s: number; t: Float64Array[] } | null {
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

/** A representative of the fitted atoms with its cells, loss parts and the shift that produced it. */
export interface Representative {
  atoms: Atoms;
  assign: Int32Array;
  parts: LossParts;
  sizes: Int32Array;
  /** Log-weight shift and per translated block shift, relative to the atoms given. */
  s: number;
  t: Float64Array[];
}

/** The fixed point of (cells → reference shift) started from fitted atom c as the reference (its loss not yet evaluated). */
function fixedPointFrom(c: number, fa: Atoms, ta: Atoms, transBlocks: { offset: number; dim: number }[], metric: VoronoiMetric, maxIter: number): { rep: Atoms; assign: Int32Array; sTot: number; tTot: Float64Array[] } {
  const ref = ta.k - 1; // the true reference expert (canonical form, math-spec §1.2)
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
  return { rep, assign, sTot, tTot };
}

/**
 * Fixed points of (cells → reference shift), started from each fitted atom as the reference; the
 * one with the smallest loss. Starts whose loss is undefined (an OptionError, e.g. r̄ unknown for a
 * cell of 4+ atoms) are skipped; if every start is, the first such error is thrown.
 */
export function bestReferenceFixedPoint(
  fa: Atoms, ta: Atoms, transBlocks: { offset: number; dim: number }[], metric: VoronoiMetric, exponent: ExponentFunction, regions: number[][] | null, maxIter: number,
): Representative | null {
  const kStar = ta.k;
  let best: Representative | null = null;
  let firstError: OptionError | undefined;
  for (let c = 0; c < fa.k; c++) {
    const { rep, assign, sTot, tTot } = fixedPointFrom(c, fa, ta, transBlocks, metric, maxIter);
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
  return best;
}
