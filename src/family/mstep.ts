/**
 * The M-step contracts shared by gates, experts and the softmax core below both (family/):
 * the options of a weighted inner maximisation, what it reports, and the gate state the E-step
 * hands to the M-step. Re-exported by gates/gate.ts and experts/expert.ts.
 */

/** Options for a gate's weighted M-step. */
export interface GateMStepOptions {
  /** Maximum Newton (or inner) iterations. */
  maxIter: number;
  /** Stop when the relative change of the objective is below this. */
  tol: number;
  /**
   * Optional box |θ_i| ≤ bound on every working parameter (a compact Θ, math-spec §1.2 A.3).
   * Only gates with `supportsBound` honour it.
   */
  bound?: number;
  /**
   * Generalized EM (an inexact M-step: still an ascent on the objective, so ℓ stays monotone):
   * after `steps` Newton steps the M-step stops if they gained more than `above`·max(1, |Q|) (EM
   * is still far from converged); otherwise it continues to `tol`. Only the softmax core honours it.
   */
  inexact?: {
    steps: number;
    above: number;
    /**
     * The likelihood guard (EMOptions.gateInexactCheck 'likelihood'): with `steps` 1, a Newton step
     * whose predicted gain ½gᵀΔ exceeds `above`·max(1, |Q|) is taken without a trial pass and
     * `pending` is set: the caller must check that ℓ did not decrease and otherwise redo the M-step
     * without `defer` (estimate/em-step.ts emMap). Only the softmax core honours it.
     */
    defer?: { pending: boolean };
  };
}

export interface GateMStepInfo {
  /** Inner iterations used. */
  iterations: number;
  /** Objective Σ_t Σ_i R_ti log π_i(x_t) at the returned θ. */
  objective: number;
  converged: boolean;
}

/**
 * What the E-step already knows about the gate at the θ it was run at: the weights π(x_t; θ)
 * (n×k) and, for the posteriors R it produced, the objective Σ_t Σ_i R_ti log π_i(x_t; θ).
 * Gates whose M-step or gradient starts from π use it instead of recomputing it.
 */
export interface GateState {
  weights: Float64Array;
  objective: number;
  /**
   * The softmax core's first Newton system at θ for these R, when the E-step accumulated it
   * (estimate/e-step-kernel.ts, fused): gradient and full negative Hessian of the objective.
   */
  newton?: { g: Float64Array; negHessian: Float64Array };
}

/** Options for an expert family's weighted M-step. */
export interface ExpertMStepOptions {
  /** Inner iterations for iterative M-steps (IRLS); closed-form families ignore it. */
  maxIter: number;
  tol: number;
  /**
   * Optional box |θ_i| ≤ bound on every working parameter (compact Θ, math-spec §1.2 A.3).
   * Only expert families with `supportsBound` honour it.
   */
  bound?: number;
}
