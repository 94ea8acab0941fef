/** Options of the EM fit (`fitEM`, `runEM`); defaults are stated once, in each field's comment. */
import type { InitSpec } from './init.js';

export interface EMOptions {
  /** Stop when |ℓ_new − ℓ_old| ≤ tol·|ℓ_old| between successive accelerated cycles. Default 1e-8. */
  tol?: number;
  /** Maximum EM map evaluations per restart. Default 2000. */
  maxIter?: number;
  /** Number of starts; the best log-likelihood is kept. Default 1. */
  restarts?: number;
  /** Initialisation. Default kmeans++. */
  init?: InitSpec;
  /** Seed of the initialisations (restart r uses stream split('restart', r)). Default 1. */
  seed?: number | bigint;
  /** 'squarem' (default) or 'none' (plain EM). */
  accelerate?: 'squarem' | 'none';
  /**
   * Finish (default true): after the relative-change stop, keep iterating until ‖∇(ℓ/n)‖∞ ≤ gtol
   * (or EM stalls), then, if still above gtol, a trust-limited L-BFGS in the BHHH metric.
   */
  polish?: boolean;
  /** Gradient tolerance of the finish: ‖∇(ℓ/n)‖∞ ≤ gtol. Default 1e-7. */
  gtol?: number;
  /**
   * Budget of the accelerated-EM part of the finish, in EM map evaluations beyond the
   * relative-change stop. Default 10; then the L-BFGS part takes over.
   */
  finishMaxIter?: number;
  /** Maximum L-BFGS iterations of the finish. Default 300. */
  polishMaxIter?: number;
  /** L-BFGS iterations per round of the finish before the BHHH metric is recomputed. Default 10. */
  polishRound?: number;
  /**
   * Trust radius of the finish, in log-likelihood units: each L-BFGS step is capped so that the
   * quadratic model in the BHHH metric predicts a change of at most this much. It keeps the finish
   * in the basin EM was converging to; over-specified likelihoods have degenerate directions
   * (a component collapsing onto a few points) that an unconstrained quasi-Newton step can jump
   * into. Default 1.
   */
  polishTrust?: number;
  /**
   * Compact Θ for the gate (math-spec §1.2 A.3): every gate working parameter (for the softmax
   * gate β₀ⱼ and β₁ⱼ relative to the reference expert) is kept in [−gateBound, gateBound]. The gate
   * M-step becomes projected Newton, starts and extrapolations are clipped into the box, and the
   * gradient tests (and the reported gradient norm) ignore components that point out of the box at
   * an active bound (the KKT conditions). Default: no bound. Softmax and modified gates only.
   */
  gateBound?: number;
  /** Inner iterations / tolerance of the gate M-step (Newton). Defaults 50 / 1e-12. */
  gateMaxIter?: number;
  gateTol?: number;
  /** Inner iterations / tolerance of iterative expert M-steps (IRLS). Defaults 50 / 1e-12. */
  expertMaxIter?: number;
  expertTol?: number;
  /**
   * Fit on internally standardised x and y and map the result back (standardize.ts): scale-
   * equivariant fits and a variance floor relative to a robust scale of y. Default true.
   */
  standardize?: boolean;
  /** Wall-time limit of the whole fit (all restarts), in seconds: the fit stops, is returned with converged: false and an EM_TIME_LIMIT warning. Default none. */
  timeLimit?: number;
  /** Internal: the performance.now() deadline derived from timeLimit (set once for all restarts). */
  deadline?: number;
  /** Called after every accepted cycle with (iteration count, log-likelihood), and again with
   *  ‖∇(ℓ/n)‖∞ when the cycle computed the gradient (near convergence). */
  onProgress?: (iterations: number, logLikelihood: number, gradientNorm?: number) => void;
}
