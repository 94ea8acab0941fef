/**
 * The Voronoi loss as an infimum over the gate's invariance group (issue 15, item 2): the softmax-type
 * gate is unchanged by a common shift (t₀, t₁) of every (β₀ᵢ, β₁ᵢ) (math-spec §1.2), the temperature
 * gate also by the scale (β₁, β₀, τ) → c(β₁, β₀, τ) (math-spec §6.1), so the loss of a fitted mixing
 * measure is really a function of its orbit:
 *   D_inf(Ĝ, G*) = inf_{(c, t₀, t₁)} D(g_{c,t}·Ĝ, G*),
 * with the cells recomputed at every point of the orbit. The fixed point of the reference matching
 * (normalisation.ts) is one point of the orbit, so D_inf ≤ D(fixed point); the search starts there.
 *
 * D is piecewise smooth in (c, t) (cells switch), so the minimiser is derivative-free: Nelder–Mead
 * (Nelder & Mead 1965, standard coefficients 1, 2, ½, ½) restarted from its best point until a
 * restart no longer improves. Hand-written: a few dozen lines in 1 + d (+1) dimensions, fully
 * deterministic, no dependency for it.
 */
import { OptionError } from '../../errors.js';
import { cloneAtoms, type Atoms } from '../atoms.js';
import { assignCells, evaluateLoss, sizesOf } from './cells.js';
import type { ExponentFunction } from './exponents.js';
import { translate, type Representative } from './normalisation.js';
import type { VoronoiMetric } from './types.js';

/** The minimising representative; `s`, `t` and `scale` are relative to the fixed point it started from (scale first, then shift). */
export interface InfimumResult extends Representative {
  /** Scale factor applied to the scaled blocks (1 without a scale invariance). */
  scale: number;
  evaluations: number;
}

/** Minimise f over R^m by Nelder–Mead from x0 with initial steps `step`. */
export function nelderMead(f: (x: Float64Array) => number, x0: Float64Array, step: Float64Array, options: { maxEval?: number; tol?: number } = {}): { x: Float64Array; f: number; evaluations: number } {
  const m = x0.length;
  const maxEval = options.maxEval ?? 200 * (m + 1);
  const tol = options.tol ?? 1e-10;
  let evals = 0;
  const F = (x: Float64Array): number => {
    evals++;
    const v = f(x);
    return Number.isFinite(v) ? v : Infinity;
  };
  const pts: Float64Array[] = [x0.slice()];
  for (let i = 0; i < m; i++) {
    const p = x0.slice();
    p[i] += step[i];
    pts.push(p);
  }
  const vals = pts.map(F);
  const centroid = new Float64Array(m);
  const at = (a: Float64Array, b: Float64Array, t: number): Float64Array => {
    const r = new Float64Array(m);
    for (let u = 0; u < m; u++) r[u] = a[u] + t * (b[u] - a[u]);
    return r;
  };
  while (evals < maxEval) {
    const order = vals.map((_, i) => i).sort((a, b) => vals[a] - vals[b]);
    const sortedP = order.map((i) => pts[i]);
    const sortedV = order.map((i) => vals[i]);
    for (let i = 0; i <= m; i++) { pts[i] = sortedP[i]; vals[i] = sortedV[i]; }
    if (Math.abs(vals[m] - vals[0]) <= tol * (Math.abs(vals[0]) + 1e-300) && Number.isFinite(vals[m])) break;
    centroid.fill(0);
    for (let i = 0; i < m; i++) for (let u = 0; u < m; u++) centroid[u] += pts[i][u] / m;
    const xr = at(centroid, pts[m], -1);
    const fr = F(xr);
    if (fr < vals[0]) {
      const xe = at(centroid, pts[m], -2);
      const fe = F(xe);
      if (fe < fr) { pts[m] = xe; vals[m] = fe; } else { pts[m] = xr; vals[m] = fr; }
    } else if (fr < vals[m - 1]) {
      pts[m] = xr;
      vals[m] = fr;
    } else {
      const outside = fr < vals[m];
      const xc = outside ? at(centroid, xr, 0.5) : at(centroid, pts[m], 0.5);
      const fc = F(xc);
      if (fc < (outside ? fr : vals[m])) {
        pts[m] = xc;
        vals[m] = fc;
      } else {
        for (let i = 1; i <= m; i++) {
          pts[i] = at(pts[0], pts[i], 0.5);
          vals[i] = F(pts[i]);
        }
      }
    }
  }
  let bi = 0;
  for (let i = 1; i <= m; i++) if (vals[i] < vals[bi]) bi = i;
  return { x: pts[bi], f: vals[bi], evaluations: evals };
}

/**
 * The infimum of the loss over the orbit of `base` (the fixed-point representative): translations of
 * the log-weights and of `transBlocks`, and, when `scaleBlocks` is given, a common scale of those
 * blocks (the temperature gate: β₁ and τ; the weights exp(β₀/τ) do not change).
 */
export function infimumOverOrbit(
  base: Representative, ta: Atoms, transBlocks: { offset: number; dim: number }[], scaleBlocks: { offset: number; dim: number }[] | null,
  metric: VoronoiMetric, exponent: ExponentFunction, regions: number[][] | null, options: { maxEval?: number; restarts?: number } = {},
): InfimumResult {
  const dims = transBlocks.reduce((s, b) => s + b.dim, 0);
  const m = 1 + dims + (scaleBlocks ? 1 : 0);
  const kStar = ta.k;
  const build = (z: Float64Array): Atoms => {
    const a = cloneAtoms(base.atoms);
    if (scaleBlocks) {
      const c = Math.exp(z[m - 1]);
      for (let i = 0; i < a.k; i++) for (const { offset, dim } of scaleBlocks) for (let u = 0; u < dim; u++) a.coords[i * a.p + offset + u] *= c;
    }
    let o = 1;
    const t = transBlocks.map(({ dim }) => {
      const v = z.subarray(o, o + dim).slice();
      o += dim;
      return v;
    });
    translate(a, z[0], transBlocks, t);
    return a;
  };
  const lossAt = (z: Float64Array): number => {
    const a = build(z);
    const assign = assignCells(a, ta, metric);
    try {
      return evaluateLoss(a, ta, assign, exponent, sizesOf(assign, kStar), regions).loss;
    } catch (e) {
      if (e instanceof OptionError) return Infinity; // e.g. a cell of 4+ atoms without r̄(4)
      throw e;
    }
  };
  // initial steps: ½ on the log-weight shift, a tenth of the spread of the true translated coordinates, 0.1 on log c
  const step = new Float64Array(m).fill(0.5);
  let o = 1;
  for (const { offset, dim } of transBlocks) {
    for (let u = 0; u < dim; u++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let j = 0; j < kStar; j++) { const v = ta.coords[j * ta.p + offset + u]; lo = Math.min(lo, v); hi = Math.max(hi, v); }
      step[o + u] = 0.1 * Math.max(1, hi - lo);
    }
    o += dim;
  }
  if (scaleBlocks) step[m - 1] = 0.1;
  let z: Float64Array = new Float64Array(m);
  let fz = base.parts.loss;
  let evaluations = 0;
  const restarts = options.restarts ?? 4;
  for (let r = 0; r < restarts; r++) {
    const res = nelderMead(lossAt, z, step, { maxEval: options.maxEval ?? 300 * m });
    evaluations += res.evaluations;
    const improved = res.f < fz * (1 - 1e-9);
    if (res.f < fz) { z = res.x; fz = res.f; }
    if (!improved) break;
    for (let u = 0; u < m; u++) step[u] *= 0.5;
  }
  const atoms = build(z);
  const assign = assignCells(atoms, ta, metric);
  const sizes = sizesOf(assign, kStar);
  const parts = evaluateLoss(atoms, ta, assign, exponent, sizes, regions);
  o = 1;
  const t = transBlocks.map((b) => {
    const v = Float64Array.from(z.subarray(o, o + b.dim));
    o += b.dim;
    return v;
  });
  return { atoms, assign, parts, sizes, s: z[0], t, scale: scaleBlocks ? Math.exp(z[m - 1]) : 1, evaluations };
}
