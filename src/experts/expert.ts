/**
 * The expert-family contract (in the spirit of flexmix drivers: each family supplies its own
 * log-density, weighted M-step and gradient). All k experts of a model share one family; their
 * parameters live in one flat `Float64Array` θ of unconstrained working parameters
 * (e.g. log-variance), laid out expert after expert.
 *
 * y is a `Float64Array` of length n: real responses, or class codes 0..C−1 for classifiers.
 */
import type { BlockInfo } from '../family/blocks.js';
import type { ExpertMStepOptions } from '../family/mstep.js';
import type { Rng } from '../numeric/rng.js';

/** Re-exported from the shared floor (family/mstep.ts). */
export type { ExpertMStepOptions };

export interface ExpertJSON {
  type: string;
  [key: string]: unknown;
}

export interface ExpertFamily {
  readonly type: string;
  readonly k: number;
  readonly d: number;
  readonly nParams: number;
  readonly blocks: readonly BlockInfo[];
  /** Whether `mStep` honours `ExpertMStepOptions.bound` (projected Newton; compact Θ, EMOptions.expertBound). */
  readonly supportsBound?: boolean;

  /** log f(y_t | x_t, θ_i) for t < n, i < k, written to out (n×k). */
  logDensity(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, out: Float64Array): void;

  /**
   * Weighted M-step: for each expert i maximise Σ_t R_ti log f(y_t | x_t, θ_i), warm-started, in place.
   * Experts with negligible total weight keep their parameters.
   */
  mStep(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, R: Float64Array, options: ExpertMStepOptions): void;

  /** ∇_θ Σ_t Σ_i W_ti log f(y_t | x_t, θ_i) for arbitrary real W (n×k), written to grad. */
  gradQ(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, W: Float64Array, grad: Float64Array): void;

  /** Optional per-row terms of `gradQ` into out (n×nParams); see `Gate.rowGradQ`. */
  rowGradQ?(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, W: Float64Array, out: Float64Array): void;

  /** Optional: −∇² of `Q` (nParams×nParams, full) into H; see `Gate.negHessianQ`. */
  negHessianQ?(theta: Float64Array, X: Float64Array, y: Float64Array, n: number, W: Float64Array, H: Float64Array): void;

  /** E[y | x_t, expert i] written to out (n×k) (class families: the expected class code is not
   *  meaningful; they implement `classProbabilities` and may write NaN here). */
  mean(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void;

  /** Draw y from expert i at input row t of X. */
  sample(theta: Float64Array, i: number, X: Float64Array, t: number, rng: Rng): number;

  /** Validate the response vector for this family (throws DataError naming the row). */
  validateResponse(y: Float64Array, n: number): void;

  /** Canonical form in place (e.g. reference class of a multinomial expert); often a no-op. */
  canonicalize(theta: Float64Array): void;

  toJSON(theta: Float64Array): ExpertJSON;
  paramsFromJSON(json: ExpertJSON): Float64Array;
  spec(): ExpertJSON;

  /** Optional: whether θ lies in the domain (e.g. every variance ≥ the floor). See `Gate.feasible`. */
  feasible?(theta: Float64Array): boolean;

  /** Set the data-dependent guards (e.g. variance floor) before a fit. Optional. */
  prepare?(X: Float64Array, y: Float64Array, n: number): void;

  /**
   * Regression (LSE) families only (math-spec §5.1, §9.5): the model is y = f_G(x) + N(0, ν) with
   * f_G(x) = Σᵢ πᵢ(x)·mean_i(x), not a mixture of densities. Returns ν (throws ModelFormatError
   * when the model has none); `MixtureOfExperts.sample` then draws y that way.
   */
  regressionNoiseVariance?(): number;
}

export interface ExpertFactory {
  type: string;
  cliNames: string[];
  help: string;
  /** Whether the family models a density (MLE/EM) or a regression function (LSE). */
  kind: 'density' | 'regression';
  create(spec: ExpertJSON, k: number, d: number): ExpertFamily;
  dims(json: ExpertJSON, path: string): { k: number; d: number };
  parseCli(rest: string | undefined, spec: string): ExpertJSON;
}
