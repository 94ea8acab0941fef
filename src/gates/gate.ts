/**
 * The gate contract. A gate maps an input x ∈ R^d to log-weights over k experts.
 *
 * Every gate family works on a flat `Float64Array` θ of *unconstrained working parameters*
 * (e.g. log τ instead of τ; the reference expert's fixed parameters are not in θ). This one
 * representation serves the EM M-step, SQUAREM extrapolation, the L-BFGS finish, LSE and the
 * finite-difference checks. The JSON form (named blocks, natural parametrisation) is produced
 * by `toJSON` / read by `fromJSON`.
 *
 * Data layout everywhere: X is row-major n×d, per-sample per-expert arrays are row-major n×k.
 */
import type { BlockInfo } from '../family/blocks.js';
import type { GateMStepInfo, GateMStepOptions, GateState } from '../family/mstep.js';

/** Re-exported from the shared floor (family/mstep.ts), where the softmax core and experts import them from. */
export type { GateMStepInfo, GateMStepOptions, GateState };

/** JSON form of a gate: its `type`, its options, and named parameter blocks. */
export interface GateJSON {
  type: string;
  [key: string]: unknown;
}

/** Re-exported from the shared floor (family/blocks.ts), where experts import it from. */
export type { BlockInfo };

/**
 * The invariance group of a gate, on its JSON parameter blocks: the transformations that leave
 * π(x) unchanged for every x. Declared once, by the gate; read by the Voronoi loss (the reference
 * normalisation, the temperature scale, the infimum over the orbit: measure/voronoi/) and checked
 * against the gate's canonical form and its density (test/gates/invariance.test.ts).
 */
export interface GateInvariance {
  /**
   * Adding one number t₀ to every expert's `weight` entry and one vector t to every expert's row of
   * each of `blocks` (a softmax logit β₀ᵢ + β₁ᵢᵀx moves by t₀ + tᵀx for every i) leaves the gate
   * unchanged (math-spec §1.2). `blocks: []`: only the common shift of the weights. `null`: no
   * translation (the reference expert's parameters are part of the model).
   */
  translation: { weight: string; blocks: readonly string[] } | null;
  /**
   * Multiplying every listed block by one c > 0 leaves the gate unchanged (the temperature gate:
   * (β₁, β₀, τ) → c(β₁, β₀, τ), math-spec §6.1). `anchor` is the shared block a loss matches to the
   * truth's (c = anchor* / anchor̂). The atoms' log-weights must not change under it. `null`: none.
   */
  scale: { blocks: readonly string[]; anchor: string } | null;
}

/** The softmax-type gates (softmax, top-K, modified): the translation of (β₀, β₁), no scale. */
export const LINEAR_TRANSLATION: GateInvariance = { translation: { weight: 'beta0', blocks: ['beta1'] }, scale: null };
/** The temperature gate: the translation of (β₀, β₁) and the scale of (β₁, β₀, τ) (math-spec §6.1). */
export const TEMPERATURE_INVARIANCE: GateInvariance = { translation: { weight: 'beta0', blocks: ['beta1'] }, scale: { blocks: ['beta0', 'beta1', 'tau'], anchor: 'tau' } };
/** A gate with no invariance. */
export const NO_INVARIANCE: GateInvariance = { translation: null, scale: null };

/**
 * Generated source of a gate's logits for one row, for a caller's one-pass kernel (the fused
 * E-step, estimate/e-step-kernel.ts): `pre` runs once before the row loop and reads the gate's θ
 * from `thetaGate`; `row` runs per row inside a block of its own, reads the row's inputs `v1..vd`
 * and assigns the caller's `z0..z(k−1)` (declared by the caller) with exactly the values `logits`
 * writes. `key` identifies the source (shape and settings) for the kernel cache; `scope` binds
 * the free names the lines use. Identifiers declared in `pre` start with `gf_`.
 */
export interface LogitsFragment {
  key: string;
  pre: string[];
  row: string[];
  scope: Record<string, unknown>;
}

export interface Gate {
  /** Family name as in the JSON `type` (`softmax`, `topK`, `denseToSparse`, …). */
  readonly type: string;
  /** Number of experts. */
  readonly k: number;
  /** Input dimension. */
  readonly d: number;
  /** Length of θ. */
  readonly nParams: number;
  /** Named blocks of the JSON form. */
  readonly blocks: readonly BlockInfo[];
  /** Its invariance group (absent: none declared; the Voronoi loss then measures it as given, with a warning). */
  readonly invariance?: GateInvariance;

  /**
   * log π_i(x_t; θ) for t < n, i < k, written to out (n×k). Inactive experts (top-K) get −Infinity.
   * Must be exactly normalised in probability space (log-sum-exp of each row = 0).
   */
  logWeights(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void;

  /**
   * Optional: unnormalised log-weights ("logits") z, written to out (n×k), with
   * log π_ti = z_ti − log Σ_j exp(z_tj); −Infinity marks an inactive expert. The E-step uses it
   * when present: it needs no per-row normaliser of its own (one log-sum-exp less per row).
   */
  logits?(theta: Float64Array, X: Float64Array, n: number, out: Float64Array): void;

  /**
   * Optional: the source of `logits` for one row (see `LogitsFragment`), when the gate's E-step
   * state is nothing but π and Q (what a fused E-step computes from z). null: not available.
   */
  logitsFragment?(): LogitsFragment | null;

  /**
   * Gradient with respect to θ of Q(θ) = Σ_t Σ_i W_ti log π_i(x_t; θ), written to grad (length nParams).
   * W is an arbitrary real n×k matrix (rows need NOT sum to one: LSE passes signed weights).
   * Entries of W for inactive experts are ignored. By Fisher's identity, with W = posterior
   * responsibilities this is the gate part of ∇ log-likelihood. `weights`, when given, are
   * π(x_t; θ) (n×k) at this θ, already computed by the caller; gates may use or ignore them.
   */
  gradQ(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, grad: Float64Array, weights?: Float64Array): void;

  /**
   * Optional: the per-row terms of `gradQ`: row t of out (n×nParams) is ∇θ Σ_i W_ti log π_i(x_t; θ).
   * With posterior weights these are the per-observation scores; the EM finish uses their outer
   * product (BHHH / empirical Fisher information) to precondition L-BFGS, and they give
   * sandwich standard errors.
   */
  rowGradQ?(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, out: Float64Array): void;

  /** Optional: −∇²θ Σ_t Σ_i W_ti log π_i(x_t; θ) (nParams×nParams, full) into H; the EM Newton finish (finish.ts). */
  negHessianQ?(theta: Float64Array, X: Float64Array, n: number, W: Float64Array, H: Float64Array): void;

  /**
   * Weighted M-step: maximise Q(θ) = Σ_t Σ_i R_ti log π_i(x_t; θ) over θ, warm-started from θ,
   * updating θ in place. R has non-negative entries (rows usually sum to one). Must never return a
   * θ with a lower Q than the starting one. `start`, when given, holds π and Q at the starting θ
   * for these R (see `GateState`); gates may use it to skip their first evaluation.
   */
  mStep(theta: Float64Array, X: Float64Array, n: number, R: Float64Array, options: GateMStepOptions, start?: GateState): GateMStepInfo;

  /**
   * Map θ to the canonical representative of its equivalence class (same gate function for every x),
   * in place. For gates whose θ already excludes the non-identifiable directions this is a no-op.
   */
  canonicalize(theta: Float64Array): void;

  /** Natural-parameter JSON (canonical form). */
  toJSON(theta: Float64Array): GateJSON;
  /** Read parameters from JSON (validated; throws `ModelFormatError` naming the field). Returns θ. */
  paramsFromJSON(json: GateJSON): Float64Array;
  /** The options part of the JSON (type + settings, no parameters), enough to rebuild this gate. */
  spec(): GateJSON;

  /** Whether `mStep` honours `GateMStepOptions.bound` (projected Newton). */
  readonly supportsBound?: boolean;

  /**
   * Optional: whether θ lies in the parameter domain (e.g. a temperature within its bounds).
   * Optimisers treat infeasible points as having objective −∞ and backtrack.
   */
  feasible?(theta: Float64Array): boolean;
}

export interface GateFactory {
  /** JSON `type`. */
  type: string;
  /** Names accepted on the command line before the first ':' (e.g. `topk`). */
  cliNames: string[];
  /** One-line help for the CLI. */
  help: string;
  /** Build a gate for k experts and d inputs from its spec (type + options; parameters ignored). */
  create(spec: GateJSON, k: number, d: number): Gate;
  /** Infer (k, d) from the parameter blocks of a JSON gate. */
  dims(json: GateJSON, path: string): { k: number; d: number };
  /** Parse the part after `name:` of a CLI spec into a JSON spec (throws OptionError). */
  parseCli(rest: string | undefined, spec: string): GateJSON;
}
