/** Options and result of the Voronoi loss (math-spec §9.4). */
import type { XDesign } from '../../model/data.js';
import type { LossSpec } from './exponents.js';
import type { MoeWarning } from '../../warnings.js';

export type VoronoiMetric = 'l2' | 'l1';

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
  /**
   * Also minimise the loss over the gate's whole invariance group (translations, and the scale orbit of
   * a temperature gate), started from the fixed point; reported in `infimum` beside `loss`.
   */
  infimum?: boolean;
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
  /**
   * Per block, the per-parameter rate statistic the theorems bound (`cell:BLOCK` in studies): in each
   * cell Aⱼ the weighted r-th-root mean (Σ_{i∈Aⱼ} e^{ℓᵢ}‖Δᵢ‖^r / Σ_{i∈Aⱼ} e^{ℓᵢ})^{1/r} with r the loss's
   * exponent for that block and cell size, maximised over non-empty cells. The loss term is O_P(n^−1/2)
   * and the cell weight tends to e^{ℓ*ⱼ} > 0, so this is O_P(n^{−1/(2r)}) (math-spec §1.4, §2.3): an atom
   * of vanishing weight does not move it.
   */
  cellBlock: Record<string, number>;
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
  /**
   * With `infimum: true` and a gate with invariances: the infimum of the loss over the orbit (issue 15),
   * its blocks and cell statistics, and the group element relative to the fixed point (≤ `loss`).
   */
  infimum?: { loss: number; blocks: Record<string, number>; cellBlock: Record<string, number>; cells: number[][]; logWeightShift: number; translation: Record<string, number[]>; scale: number; evaluations: number };
  /** Typed warnings (codes in src/warnings.ts): VORONOI_NO_GATE_HOOK, VORONOI_NOT_FINITE, VORONOI_RAW_FIRST_COORDINATE, VORONOI_RAW_TIE. */
  warnings: MoeWarning[];
}
