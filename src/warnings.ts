/**
 * Typed warnings: a result that may be wrong says so, with a stable `code` for programs and a
 * `message` for people (standards: "a wrong result must never look like success: warn, in text and
 * in --json"). Fit results (`fitEM`, `fitLSE`) and Voronoi losses carry `warnings: MoeWarning[]`;
 * the CLI prints each as `warning: MESSAGE [CODE]` and `--json` as `{"code", "message", …details}`;
 * a study stores the messages joined by "; ".
 *
 * To add a code: add it to `WARNING_CODES` with a one-line description (who raises it and what it
 * means), raise it with `warning(code, message, details)`, and test that it is raised.
 */

/** Every warning code, with what it means. */
export const WARNING_CODES = {
  /** fitEM: the EM iterations reached maxIter before the relative change fell below tol. Details: maxIter. */
  EM_MAX_ITER: 'EM reached maxIter before the relative change fell below tol: not converged',
  /** fitEM: the finish ended above gtol with the likelihood still rising along a flat direction. Details: gradientNorm. */
  EM_FLAT_DIRECTION: 'the finish stopped above gtol: the log-likelihood still rises slowly along a flat direction (over-specified fits)',
  /** fitEM: the gradient norm is above gtol after the finish (not a flat direction). Details: gradientNorm. */
  EM_GRADIENT_ABOVE_TOL: 'the gradient norm is above gtol after the finish: not converged',
  /** fitEM: the fit stopped at its time limit (timeLimit, fit --time-limit) before converging. Details: timeLimit, iterations. */
  EM_TIME_LIMIT: 'the fit stopped at its time limit before it converged',
  /** fitEM: an expert's variance ended at the variance floor (degenerate component). Details: experts (1-based list), floor. */
  EM_VARIANCE_AT_FLOOR: 'an expert variance is at the variance floor: a degenerate component, the likelihood is unbounded there',
  /** fitLSE: the solver (Levenberg–Marquardt or L-BFGS) stopped before its gradient tolerance was met. Details: reason. */
  LSE_NOT_CONVERGED: 'the least-squares solver stopped before the gradient tolerance was met: not converged',
  /** fitLSE: solver 'varpro' was asked for but cannot honour expertBound; Levenberg–Marquardt ran instead. Details: requested, used. */
  LSE_SOLVER_FALLBACK: "the requested least-squares solver cannot honour the options; another one ran (the result's solver says which)",
  /** fitLSE: the fit stopped at its time limit (timeLimit, fit --time-limit) before converging. Details: timeLimit, iterations. */
  LSE_TIME_LIMIT: 'the least-squares fit stopped at its time limit before it converged',
  /** fitEM / fitLSE: one of several restarts threw; the best of the others is returned. Details: restart (1-based), error. */
  RESTART_FAILED: 'a restart failed and was skipped',
  /** voronoiLoss: the fitted gate type has no registered Voronoi hook, so no translation normalisation. Details: gateType. */
  VORONOI_NO_GATE_HOOK: 'the gate has no registered Voronoi hook: measured without translation normalisation',
  /** voronoiLoss raw mode: the authors' code reads only the first input coordinate (d > 1). Details: d. */
  VORONOI_RAW_FIRST_COORDINATE: "raw mode reads only the first input coordinate of β₁ and a (the authors' code)",
  /** voronoiLoss: the loss is NaN or infinite (a fitted parameter overflows). Details: loss. */
  VORONOI_NOT_FINITE: 'the Voronoi loss is not finite: a fitted parameter is too large to be measured',
  /** voronoiLoss raw mode: a fitted atom is equidistant from two true atoms; the authors' misalignment is reproduced. */
  VORONOI_RAW_TIE: "raw mode: a tie in the cell assignment misaligns the authors' cell list (reproduced)",
  /** predict: the experts have no per-expert variance (or a regression model no noiseVariance): no predictive variance / log-density. */
  PREDICT_NO_VARIANCE: 'the model has no variance for y given x: predictive variance (and for regression models the log-density) not computed',
  /** predict: some rows have probability 0 under the model. Details: rows. */
  PREDICT_ZERO_PROBABILITY: 'rows with probability 0 under the model: log-density −Infinity, responsibilities NaN',
  /** parameterStandardErrors: the information matrix is not positive definite; no SEs (null). */
  SE_SINGULAR: 'the information matrix is singular: no standard errors',
  /** parameterStandardErrors: condition number above 1e10. Details: conditionNumber. */
  SE_ILL_CONDITIONED: 'the information matrix is ill-conditioned: the standard errors are unreliable',
  /** parameterStandardErrors: two experts within 3 SE in every expert parameter (an over-specified fit). Details: pairs. */
  SE_INDISTINGUISHABLE_EXPERTS: 'two experts are indistinguishable: the asymptotic standard errors do not hold',
  /** parameterStandardErrors: a delta-method variance ≤ 0; that SE is null. Details: count. */
  SE_NONPOSITIVE_VARIANCE: 'a delta-method variance is not positive: SE not reported',
  /** parameterStandardErrors: BHHH asked for, but a family has no per-row scores; the observed information was used. */
  SE_NO_ROW_SCORES: 'no per-row scores for BHHH: the observed information was used',
  /** bootstrap: some replicate refits threw. Details: count, error. */
  BOOTSTRAP_FIT_FAILED: 'bootstrap replicate fits failed',
  /** bootstrap: some replicate refits did not converge (kept). Details: count, of. */
  BOOTSTRAP_NOT_CONVERGED: 'bootstrap replicate fits did not converge',
  /** bootstrap: the gate cannot relabel experts, so replicates are not aligned. */
  BOOTSTRAP_UNALIGNED: 'bootstrap replicates are not aligned to the fit (label switching possible)',
  /** bootstrap: fewer than 2 replicates succeeded: no SEs. */
  BOOTSTRAP_TOO_FEW: 'fewer than 2 bootstrap replicates succeeded',
  /** select: the fit of one k failed or did not converge. Details: k. */
  SELECT_FIT_PROBLEM: 'a fit of the model-selection sweep failed or did not converge',
  /** select: no dendrogram for this gate/expert family. */
  DENDROGRAM_UNSUPPORTED: 'the dendrogram of mixing measures is implemented for softmax-gated Gaussian experts only',
  /** buildDendrogram: the EM refit of a level did not converge. Details: k. */
  DENDROGRAM_REFIT_NOT_CONVERGED: 'the EM refit of a dendrogram level did not converge',
} as const;

export type WarningCode = keyof typeof WARNING_CODES;

/** Extra fields of a warning (numbers, strings, booleans): printed in --json next to code and message. */
export type WarningDetails = Readonly<Record<string, number | string | boolean | null>>;

/** The JSON form of a warning: `{ code, message, ...details }`. */
export interface WarningJSON {
  code: WarningCode;
  message: string;
  [detail: string]: number | string | boolean | null;
}

/** A typed warning. `String(w)` and template literals give the message, JSON gives `{code, message, …}`. */
export class MoeWarning {
  constructor(readonly code: WarningCode, readonly message: string, readonly details: WarningDetails = {}) {}

  toString(): string {
    return this.message;
  }

  toJSON(): WarningJSON {
    return { ...this.details, code: this.code, message: this.message };
  }
}

/** A warning of a known code. */
export function warning(code: WarningCode, message: string, details: WarningDetails = {}): MoeWarning {
  return new MoeWarning(code, message, details);
}

/** The CLI's text line of a warning: `warning: MESSAGE [CODE]`. */
export function formatWarning(w: MoeWarning, prefix = 'warning'): string {
  return `${prefix}: ${w.message} [${w.code}]`;
}
