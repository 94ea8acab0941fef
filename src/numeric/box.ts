/**
 * Box constraints |θ_i| ≤ B on a block of parameters (a compact parameter space, math-spec §1.2
 * A.3): the active-set test of projected Newton / projected-gradient stopping rules, and clipping.
 */

/**
 * Whether coordinate θ_i sits at the bound of [−B, B] with the ascent direction g_i pointing out
 * of the box (then the constrained maximum holds it there and g_i does not count as non-stationary).
 */
export function atActiveBound(theta: number, g: number, B: number): boolean {
  const edge = B * (1 - 1e-12);
  return (theta >= edge && g > 0) || (theta <= -edge && g < 0);
}

/** The bound of coordinate i of θ = (gate block [0, pg), expert block [pg, p)): gateBound or expertBound. */
export function blockBound(i: number, pg: number, gateBound: number, expertBound: number): number {
  return i < pg ? gateBound : expertBound;
}

/** Clip θ[from..to) into [−B, B] in place. */
export function clipToBox(theta: Float64Array, from: number, to: number, B: number): void {
  if (B === Infinity) return;
  for (let i = from; i < to; i++) theta[i] = Math.min(B, Math.max(-B, theta[i]));
}
