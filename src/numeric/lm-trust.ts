/**
 * The trust-region form of the damped step of lm.ts (its Newton phase, `trustRegion: true`): the
 * step h(μ) = (A + μD)⁻¹ b is taken with the smallest μ ≥ 0 for which A + μD is positive definite
 * and the scaled length ‖D^½ h(μ)‖ is at most the radius Δ (Moré, "The Levenberg–Marquardt algorithm:
 * implementation and theory", LNM 630, 1978, §2–§4: the LM step is the solution of the trust-region
 * subproblem min L(h), ‖D^½ h‖ ≤ Δ, for the μ at which the length equals Δ), and Δ is updated from the
 * gain ratio ρ (Nocedal & Wright, Numerical Optimization, 2nd ed., Alg. 4.1: ρ > 3/4 at the boundary
 * grows it, ρ < 1/4 shrinks it).
 *
 * Why, for the over-specified least-squares fits of lse.ts: their Newton phase walks a long curved
 * valley on which the exact Hessian is indefinite (two atoms of one cell separating, an atom's
 * weight falling). With the μ update of Alg. 3.16 the step length there swings by 10× between
 * steps (μ ÷ 3 after a good step lengthens the step along the nearly flat direction several-fold,
 * the next trial is rejected, μ doubles, …); fixing the length and solving for μ keeps every step
 * near the longest one the quadratic model supports (measured: 276 → 208 accepted steps, a quarter
 * fewer curvature passes, on the GELU k = 3 bench fit at n = 5e4).
 *
 * The μ for a radius is found by bisection on log μ (p ≤ ~30: a Cholesky factorisation of the p×p
 * system costs nothing beside a pass over the data), accepting a length in [0.9Δ, Δ].
 */
import { choleskyInPlace, choleskySolveInPlace } from './linalg.js';

/** The damped system's inputs and work buffers (views of lm.ts's state). */
export interface DampedSystem {
  readonly p: number;
  /** The first nb coordinates may be held (identity row and column, h_i = 0). */
  readonly nb: number;
  readonly held: Uint8Array;
  readonly anyHeld: boolean;
  /** Curvature model, p×p. */
  readonly A: Float64Array;
  /** Scaling (a zero entry counts as 1). */
  readonly D: Float64Array;
  /** Right-hand side Jᵀe. */
  readonly b: Float64Array;
  /** Factor buffer p×p, and the step out. */
  readonly M: Float64Array;
  readonly h: Float64Array;
}

/** Growth of Δ after a good step at the boundary; shrink factors after a poor and a rejected step. */
const GROW = 1.5;
const SHRINK_POOR = 0.5;
const SHRINK_REJECTED = 0.3;

/** h = (A + μD)⁻¹ b with the held set; false if A + μD is not positive definite. */
export function solveDamped(w: DampedSystem, mu: number): boolean {
  const { p, nb, held, A, D, b, M, h } = w;
  M.set(A);
  for (let i = 0; i < p; i++) M[i * p + i] += mu * (D[i] > 0 ? D[i] : 1);
  if (w.anyHeld) {
    for (let i = 0; i < nb; i++) {
      if (!held[i]) continue;
      for (let j = 0; j < p; j++) { M[i * p + j] = 0; M[j * p + i] = 0; }
      M[i * p + i] = 1;
    }
  }
  if (!choleskyInPlace(M, p)) return false;
  h.set(b);
  if (w.anyHeld) for (let i = 0; i < nb; i++) if (held[i]) h[i] = 0;
  choleskySolveInPlace(M, p, h);
  return true;
}

/** ‖D^½ h‖ (a zero scale counts as 1, as in the damping). */
export function scaledNorm(D: Float64Array, h: Float64Array): number {
  let v = 0;
  for (let i = 0; i < h.length; i++) v += (D[i] > 0 ? D[i] : 1) * h[i] * h[i];
  return Math.sqrt(v);
}

/** Smallest damping tried above zero (relative to D), and the bracket's growth factor. */
const MU_TINY = 1e-14;
const BRACKET = 4;

/**
 * The trust-region step into w.h for radius Δ: μ = 0 if A is positive definite and its Newton step
 * fits, else the smallest μ (to a factor 1 + 1e-6, or a length ≥ 0.9Δ) with A + μD positive
 * definite and ‖D^½ h‖ ≤ Δ (bisection on log μ between a too-long or indefinite μ and one that fits).
 * Returns μ, or NaN when no damping up to ~1e34 factors.
 */
export function trustRegionStep(w: DampedSystem, delta: number): number {
  // bracket [lo, hi]: at lo the step is too long or A + loD is not positive definite, at hi it fits
  let lo = 0;
  let hi: number;
  if (solveDamped(w, 0)) {
    if (scaledNorm(w.D, w.h) <= delta) return 0;
    hi = MU_TINY;
  } else {
    hi = MU_TINY;
    for (let t = 0; !solveDamped(w, hi); t++) {
      if (t > 80) return NaN;
      lo = hi;
      hi *= BRACKET;
    }
  }
  for (let t = 0; !(solveDamped(w, hi) && scaledNorm(w.D, w.h) <= delta); t++) {
    if (t > 80) return NaN;
    lo = hi;
    hi *= BRACKET;
  }
  if (scaledNorm(w.D, w.h) >= 0.9 * delta) return hi;
  if (lo === 0) lo = hi * 1e-12;
  for (let t = 0; t < 60 && hi > lo * (1 + 1e-6); t++) {
    const mid = Math.sqrt(lo * hi);
    if (!solveDamped(w, mid) || scaledNorm(w.D, w.h) > delta) lo = mid;
    else {
      hi = mid;
      if (scaledNorm(w.D, w.h) >= 0.9 * delta) return mid; // w.h holds h(mid)
    }
  }
  solveDamped(w, hi);
  return hi;
}

/** Δ after a step of scaled length `len` with gain ratio ρ (accepted or not). */
export function updateRadius(delta: number, len: number, rho: number, accepted: boolean): number {
  if (!accepted) return SHRINK_REJECTED * len;
  if (rho > 0.75 && len > 0.8 * delta) return GROW * delta;
  if (rho < 0.25) return SHRINK_POOR * len;
  return delta;
}
