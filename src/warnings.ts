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
  /** fitLSE: L-BFGS stopped before its gradient tolerance was met. Details: reason. */
  LSE_NOT_CONVERGED: 'L-BFGS stopped before the gradient tolerance was met: not converged',
  /** fitEM / fitLSE: one of several restarts threw; the best of the others is returned. Details: restart (1-based), error. */
  RESTART_FAILED: 'a restart failed and was skipped',
  /** voronoiLoss: the fitted gate type has no registered Voronoi hook, so no translation normalisation. Details: gateType. */
  VORONOI_NO_GATE_HOOK: 'the gate has no registered Voronoi hook: measured without translation normalisation',
  /** voronoiLoss raw mode: the authors' code reads only the first input coordinate (d > 1). Details: d. */
  VORONOI_RAW_FIRST_COORDINATE: "raw mode reads only the first input coordinate of β₁ and a (the authors' code)",
  /** voronoiLoss raw mode: a fitted atom is equidistant from two true atoms; the authors' misalignment is reproduced. */
  VORONOI_RAW_TIE: "raw mode: a tie in the cell assignment misaligns the authors' cell list (reproduced)",
  /** predict: the experts have no per-expert variance (or a regression model no noiseVariance): no predictive variance / log-density. */
  PREDICT_NO_VARIANCE: 'the model has no variance for y given x: predictive variance (and for regression models the log-density) not computed',
  /** predict: some rows have probability 0 under the model. Details: rows. */
  PREDICT_ZERO_PROBABILITY: 'rows with probability 0 under the model: log-density −Infinity, responsibilities NaN',
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
