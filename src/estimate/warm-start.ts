/**
 * Subsample warm start of the data-driven EM starts (k-means++, random; issue 16 item 3).
 *
 * A k-means++ clustering of (x, y) knows nothing of the regression structure or of the gate: from
 * it, EM spends most of its iterations getting into the basin of the maximum (d = 2, k = 3 at
 * n = 1e4: 21 of 30 evaluations, against 14 in all from the truth). Those iterations are just as
 * useful on a random subsample of m ≪ n rows, where each costs m/n of a full one: EM (SQUAREM) is
 * run there to a loose tolerance, and the full-data fit starts from the subsample's maximum, which
 * lies within O(m^-1/2) of the full one. The subsample is drawn from the restart's own stream, so
 * the fit stays reproducible. Off below `WARM_START_MIN_N` rows (a full iteration is cheap there)
 * and with `warmStart: false`. The start itself (k-means++ or random centres and its M-steps) is
 * drawn on the subsample too (`subsampleStart`): it only seeds the subsample fit, and on all n rows
 * it cost more than that fit (n = 1e5, k = 2, cold: 80 ms of k-means and M-steps).
 */
import type { Dataset } from '../model/data.js';
import type { MixtureOfExperts } from '../model/model.js';
import type { Rng } from '../numeric/rng.js';
import { clipToBox } from '../numeric/box.js';
import { EMWorkspace, eStep, type MStepSettings } from './em-step.js';
import { initialise, type InitSpec } from './init.js';
import { Squarem } from './squarem.js';

/** Fewer rows than this: no warm start. */
export const WARM_START_MIN_N = 8000;

/** Rows of the warm-start subsample for n rows (0: none): n/20 within [2000, 5000] (n/4 at n = 8000). */
export function warmStartSize(n: number): number {
  if (n < WARM_START_MIN_N) return 0;
  return Math.min(5000, Math.max(2000, Math.round(n / 20)));
}

/** m rows drawn without replacement (partial Fisher–Yates), kept in their original order. */
export function subsample(data: Dataset, m: number, rng: Rng): Dataset {
  const { n, d, X, y } = data;
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i);
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  const rows = idx.subarray(0, m).sort();
  const Xs = new Float64Array(m * d);
  const ys = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const t = rows[i];
    for (let u = 0; u < d; u++) Xs[i * d + u] = X[t * d + u];
    ys[i] = y[t];
  }
  return { X: Xs, y: ys, n: m, d };
}

export interface WarmStartSettings {
  mStep: MStepSettings;
  gateBound: number;
  /** Box on the expert parameters (EMOptions.expertBound); Infinity: none. */
  expertBound?: number;
  /** EM map evaluations on the subsample (default 40). */
  maxEvaluations?: number;
  /** Relative change of ℓ on the subsample that ends the warm start (default 1e-6). */
  tol?: number;
}

/**
 * θ0 moved by SQUAREM-accelerated EM on the subsample `sub` to the loose tolerance (see the
 * module comment); θ0 itself when the subsample fit fails (a row of zero likelihood).
 */
function subsampleFit(model: MixtureOfExperts, sub: Dataset, theta0: Float64Array, s: WarmStartSettings): Float64Array {
  const m = sub.n;
  const ws = new EMWorkspace(model, m);
  ws.gateBound = s.gateBound;
  ws.expertBound = s.expertBound ?? Infinity;
  const theta = theta0.slice();
  clipToBox(theta, 0, model.gate.nParams, s.gateBound);
  clipToBox(theta, model.gate.nParams, theta.length, ws.expertBound);
  let ll = eStep(model, theta, sub, ws);
  if (!Number.isFinite(ll)) return theta0;
  const cycle = new Squarem(theta.length, s.mStep, s.gateBound, ws.expertBound);
  const maxEvaluations = s.maxEvaluations ?? 40;
  const tol = s.tol ?? 1e-6;
  try {
    while (cycle.evaluations < maxEvaluations) {
      const next = cycle.step(model, theta, ll, sub, ws);
      if (!Number.isFinite(next)) return theta0;
      const change = next - ll;
      ll = next;
      if (Math.abs(change) <= tol * Math.abs(ll)) break;
    }
  } catch {
    return theta0; // an infeasible iterate on the subsample: start from θ0 as before
  }
  for (let i = 0; i < theta.length; i++) if (!Number.isFinite(theta[i])) return theta0;
  return theta;
}

/**
 * The start of a k-means++ / random restart with the warm start: the subsample (from `subRng`),
 * the start drawn on it (from `initRng`, the restart's stream), then `subsampleFit` there.
 * Below the row threshold: the start on the full data, as without the warm start.
 */
export function subsampleStart(model: MixtureOfExperts, data: Dataset, init: InitSpec, initRng: Rng, subRng: Rng, s: WarmStartSettings, budget: Parameters<typeof initialise>[4]): Float64Array {
  const m = warmStartSize(data.n);
  if (m === 0) return initialise(model, data, init, initRng, budget);
  const sub = subsample(data, m, subRng);
  const theta0 = initialise(model, sub, init, initRng, budget);
  return subsampleFit(model, sub, theta0, s);
}
