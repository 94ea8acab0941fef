/**
 * What gates and experts share (the floor below both, docs/architecture.md): the description of a
 * named parameter block. Gates and experts import it from here, never from each other.
 */

/** A named parameter block, for reporting and for per-block Voronoi exponents. */
export interface BlockInfo {
  /** Name as it appears in the model JSON (`beta0`, `beta1`, `a`, `b`, `variance`, `tau`, …). */
  name: string;
  /** true when the JSON value is an array indexed by expert (first index = expert). */
  perExpert: boolean;
  /**
   * What kind of parameter this is, for the nearTruth initialisation noise scales
   * (math-spec §8.3): gate coefficients, expert coefficients, or a positive scale.
   */
  kind: 'gate' | 'expert' | 'scale';
  /**
   * Per-expert blocks only: the last (reference) expert's entry is fixed by the model rather than
   * removable by a translation (e.g. β₁ₖ = 0 of a non-linear activation gate), so initialisations
   * must copy it unperturbed.
   */
  fixedReference?: boolean;
}
