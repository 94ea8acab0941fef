/** The result of a maximum-likelihood fit (`fitEM`), in its own module so that the standardising wrapper (standardize.ts) and the EM driver (em.ts) need not import each other. */
import type { MixtureOfExperts } from '../model/model.js';
import type { MoeWarning } from '../warnings.js';

export interface FitResult {
  model: MixtureOfExperts;
  /** Σ_t log p(y_t | x_t) at the returned model. */
  logLikelihood: number;
  /** Log-likelihood after each accepted cycle of the best restart (then the finish). */
  trace: number[];
  /** Counted evaluations of the best restart: EM map evaluations, L-BFGS iterations of its finish, and each pass over the data of the Newton finish (an observed information, an ℓ/∇ℓ trial). */
  iterations: number;
  /** The relative-change criterion was met and the gradient norm is below gtol (or no finish). */
  converged: boolean;
  /** Euclidean norm of ∇(ℓ/n) with respect to the working parameters, at the returned model. */
  gradientNorm: number;
  restarts: number;
  /** Log-likelihood reached by each restart. */
  restartLogLikelihoods: number[];
  /** Wall time of the fit (all restarts), in seconds. */
  seconds: number;
  /** Typed warnings (codes in src/warnings.ts): EM_MAX_ITER, EM_FLAT_DIRECTION, EM_GRADIENT_ABOVE_TOL, RESTART_FAILED. */
  warnings: MoeWarning[];
}
