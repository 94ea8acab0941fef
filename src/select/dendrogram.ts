/**
 * Dendrogram of mixing measures for a softmax-gated Gaussian mixture of experts (arXiv 2510.12744,
 * adapting Do, Do, McKinley, Terhorst & Nguyen's dendrogram of mixing measures to SGMoE): from ONE
 * over-specified fit with K atoms, merge the two closest atoms, (optionally) refit from the merged
 * model, and repeat down to one atom; the heights of the merges and the likelihoods of the levels
 * choose k without fitting each k from scratch.
 *
 * This is an implementation of the idea, not of the paper's exact formulas (the paper is not in the
 * repository):
 * - atom i has mass wᵢ = mean over the data of πᵢ(x_t) and coordinates ωᵢ free of the units of x
 *   and y and of the gate's translation: the gate profile √(πᵢ(x_t)/Σ_s πᵢ(x_s)) over (at most 256)
 *   rows — a unit vector, so its part of a squared distance is at most 2 (the Hellinger geometry of
 *   the gate rather than β₁, whose over-specified MLE can run off) — then aᵢ·sd(x)/sd(y),
 *   (aᵢᵀx̄ + bᵢ − ȳ)/sd(y) (the expert mean at the centre of x) and ½·log(νᵢ/var y);
 * - dissimilarity (Ward-type, as in the dendrogram of mixing measures):
 *   h(i, j) = wᵢwⱼ/(wᵢ + wⱼ) · ‖ωᵢ − ωⱼ‖²;
 * - merge: weights add (β₀ = log(e^β₀ᵢ + e^β₀ⱼ)), the other blocks are w-weighted means; then EM
 *   from the merged model (refit: true, default) or not (the merged model as is);
 * - selection (the dendrogram selection criterion, DSC): κ̂ = argmax_κ h_κ + ω_n·ℓ̄_κ, where h_κ is
 *   the height of the merge that takes level κ to κ − 1 (h_1 = 0), ℓ̄_κ the average log-likelihood
 *   of level κ, and ω_n = log n by default. Atoms that estimate one true atom merge at heights that
 *   vanish as n grows, the first merge of two distinct true atoms has a height of order one, and
 *   below k* the likelihood drops by O(1) per row, which ω_n → ∞ makes dominant.
 * The same path also gives a BIC on the path (−2nℓ̄_κ + p_κ log n), reported as `pathBic`.
 */
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelJSON } from '../model/model.js';
import { fitEM, type EMOptions } from '../estimate/em.js';
import { OptionError } from '../errors.js';

export interface DendrogramOptions {
  /** Refit by EM from each merged model (default true). */
  refit?: boolean;
  /** EM options of the refits (init is the merged model). Default maxIter 500. */
  em?: Omit<EMOptions, 'init'>;
  /** ω_n of the selection criterion. Default log n. */
  omega?: number;
  /**
   * Compact Θ for the gate (EMOptions.gateBound) of the first refit and every level's refit, or
   * null for none. Default 25·(1 + max_u |x̄_u|/sd(x_u)) / min_u sd(x_u): slopes up to 25 per sd of
   * x. Without a bound, the gate of an atom that splits a true atom can run off to a step
   * (|β| ≈ 1e12 was seen), which no merge or refit recovers from.
   */
  gateBound?: number | null;
}

export interface DendrogramLevel {
  k: number;
  model: ModelJSON;
  logLikelihood: number;
  /** ℓ/n. */
  averageLogLikelihood: number;
  /** Height of the merge that takes this level to k − 1 (0 at k = 1). */
  height: number;
  /** h_k + ω_n·ℓ̄_k (larger is better). */
  dsc: number;
  /** −2ℓ + p log n of this level. */
  pathBic: number;
  converged: boolean;
}

export interface DendrogramMerge {
  /** Node ids: 0..K−1 are the atoms of the over-specified fit, K, K+1, … the merged nodes in order. */
  left: number;
  right: number;
  node: number;
  height: number;
  /** The level the merge starts from (it produces level − 1). */
  level: number;
}

export interface Dendrogram {
  K: number;
  omega: number;
  refit: boolean;
  /** The gate bound of the refits (null: none). */
  gateBound: number | null;
  /** Levels K, K−1, …, 1. */
  levels: DendrogramLevel[];
  merges: DendrogramMerge[];
  /** k chosen by the DSC. */
  chosen: number;
  /** k minimising the BIC along the path. */
  chosenPathBic: number;
}

interface AtomView {
  w: number[];
  coords: number[][];
}

function dataMoments(data: Dataset): { xMean: number[]; xSd: number[]; yMean: number; ySd: number } {
  const { n, d, X, y } = data;
  const xMean = new Array<number>(d).fill(0);
  const xSd = new Array<number>(d).fill(0);
  for (let t = 0; t < n; t++) for (let u = 0; u < d; u++) xMean[u] += X[t * d + u] / n;
  for (let t = 0; t < n; t++) for (let u = 0; u < d; u++) xSd[u] += (X[t * d + u] - xMean[u]) ** 2 / n;
  let yMean = 0;
  for (let t = 0; t < n; t++) yMean += y[t] / n;
  let yv = 0;
  for (let t = 0; t < n; t++) yv += (y[t] - yMean) ** 2 / n;
  return { xMean, xSd: xSd.map((v) => Math.sqrt(v) || 1), yMean, ySd: Math.sqrt(yv) || 1 };
}

/** Rows of the data at which the gate profiles are compared (at most PROFILE_ROWS, evenly spaced). */
const PROFILE_ROWS = 256;

function atomView(model: MixtureOfExperts, data: Dataset, mom: ReturnType<typeof dataMoments>): AtomView {
  const { k, d } = model;
  const P = model.gateProbabilities(data.X, data.n);
  const w = new Array<number>(k).fill(0);
  for (let t = 0; t < data.n; t++) for (let i = 0; i < k; i++) w[i] += P[t * k + i] / data.n;
  const m = Math.min(PROFILE_ROWS, data.n);
  const rows = Array.from({ length: m }, (_, r) => Math.floor((r * data.n) / m));
  const j = model.toJSON();
  const a = j.experts.a as number[][];
  const b = j.experts.b as number[];
  const v = j.experts.variance as number[];
  const coords = Array.from({ length: k }, (_, i) => {
    const c: number[] = [];
    // the gate as a function: the unit vector √(πᵢ(x_t) / Σ_s πᵢ(x_s)) over the profile rows
    // (translation-free; two atoms that split one true atom have the same profile; bounded, so an
    // atom whose gate slope runs off does not dominate the heights)
    let tot = 0;
    for (const t of rows) tot += P[t * k + i];
    for (const t of rows) c.push(tot > 0 ? Math.sqrt(P[t * k + i] / tot) : 0);
    for (let u = 0; u < d; u++) c.push((a[i][u] * mom.xSd[u]) / mom.ySd);
    let centre = b[i] - mom.yMean;
    for (let u = 0; u < d; u++) centre += a[i][u] * mom.xMean[u];
    c.push(centre / mom.ySd);
    c.push(0.5 * Math.log(v[i] / (mom.ySd * mom.ySd)));
    return c;
  });
  return { w, coords };
}

/** Ward-type dissimilarity of atoms i and j. */
function height(view: AtomView, i: number, j: number): number {
  let s = 0;
  const ci = view.coords[i];
  const cj = view.coords[j];
  for (let c = 0; c < ci.length; c++) s += (ci[c] - cj[c]) ** 2;
  const wi = view.w[i];
  const wj = view.w[j];
  return wi + wj > 0 ? ((wi * wj) / (wi + wj)) * s : 0;
}

/** Merge atoms i < j of a softmax/Gaussian model JSON (weights w), removing j. */
export function mergeAtoms(json: ModelJSON, i: number, j: number, w: readonly number[]): ModelJSON {
  const wi = w[i];
  const wj = w[j];
  const s = wi + wj > 0 ? wi + wj : 1;
  const f = wi + wj > 0 ? wi / s : 0.5;
  const mix = (p: number, q: number): number => f * p + (1 - f) * q;
  const mixVec = (p: number[], q: number[]): number[] => p.map((v, u) => mix(v, q[u]));
  const drop = <T>(arr: T[], merged: T): T[] => arr.map((v, idx) => (idx === i ? merged : v)).filter((_, idx) => idx !== j);
  const g = json.gate;
  const e = json.experts;
  const b0 = g.beta0 as number[];
  const b1 = g.beta1 as number[][];
  // the gate of the heavier atom, its mass raised to wᵢ + wⱼ (averaging gate coefficients would mix
  // a sharp, near-step gate into a smooth one); the refit then moves it
  const h = wi >= wj ? i : j;
  const lift = wi + wj > 0 && w[h] > 0 ? Math.log((wi + wj) / w[h]) : Math.log(2);
  return {
    gate: { ...g, beta0: drop(b0, b0[h] + lift), beta1: drop(b1, b1[h].slice()) },
    experts: {
      ...e,
      a: drop(e.a as number[][], mixVec((e.a as number[][])[i], (e.a as number[][])[j])),
      b: drop(e.b as number[], mix((e.b as number[])[i], (e.b as number[])[j])),
      variance: drop(e.variance as number[], mix((e.variance as number[])[i], (e.variance as number[])[j])),
    },
  };
}

/** Build the dendrogram from an over-specified fitted model. */
export function buildDendrogram(fitted: MixtureOfExperts, data: Dataset, options: DendrogramOptions = {}): Dendrogram {
  if (fitted.gate.type !== 'softmax' || fitted.expert.type !== 'gaussianLinear') {
    throw new OptionError(`the dendrogram of mixing measures is implemented for softmax-gated Gaussian experts, not ${fitted.gate.type}/${fitted.expert.type}`);
  }
  const refit = options.refit ?? true;
  const omega = options.omega ?? Math.log(data.n);
  const mom = dataMoments(data);
  const gateBound = options.gateBound === undefined
    ? (25 * (1 + Math.max(...mom.xMean.map((m, u) => Math.abs(m) / mom.xSd[u])))) / Math.min(...mom.xSd)
    : options.gateBound;
  const em: EMOptions = { maxIter: 500, ...options.em, ...(gateBound !== null ? { gateBound } : {}) };
  const K = fitted.k;
  let model = fitted;
  let ll = model.logLikelihood(data.X, data.y, data.n);
  let converged = true;
  if (refit && gateBound !== null) {
    // the over-specified fit itself, in the box (a no-op when it is inside already)
    let inside = true;
    for (let i = 0; i < model.gate.nParams; i++) if (Math.abs(model.theta[i]) > gateBound) inside = false;
    if (!inside) {
      const r = fitEM(model.spec(), data, { ...em, restarts: 1, init: { type: 'model', model } });
      model = r.model;
      ll = r.logLikelihood;
      converged = r.converged;
    }
  }
  let ids = Array.from({ length: K }, (_, i) => i);
  let next = K;
  const levels: DendrogramLevel[] = [];
  const merges: DendrogramMerge[] = [];
  for (let k = K; k >= 1; k--) {
    const view = atomView(model, data, mom);
    let bi = -1;
    let bj = -1;
    let bh = Infinity;
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        const h = height(view, i, j);
        if (h < bh) {
          bh = h;
          bi = i;
          bj = j;
        }
      }
    }
    const h = k > 1 ? bh : 0;
    const avg = ll / data.n;
    levels.push({ k, model: model.toJSON(), logLikelihood: ll, averageLogLikelihood: avg, height: h, dsc: h + omega * avg, pathBic: -2 * ll + model.nParams * Math.log(data.n), converged });
    if (k === 1) break;
    merges.push({ left: ids[bi], right: ids[bj], node: next, height: h, level: k });
    ids = ids.map((id, idx) => (idx === bi ? next : id)).filter((_, idx) => idx !== bj);
    next++;
    const merged = MixtureOfExperts.fromJSON(mergeAtoms(model.toJSON(), bi, bj, view.w));
    if (refit) {
      const r = fitEM(merged.spec(), data, { ...em, restarts: 1, init: { type: 'model', model: merged } });
      model = r.model;
      ll = r.logLikelihood;
      converged = r.converged;
    } else {
      model = merged;
      ll = model.logLikelihood(data.X, data.y, data.n);
      converged = true;
    }
  }
  let chosen = levels[0];
  let chosenBic = levels[0];
  for (const l of levels) {
    if (l.dsc > chosen.dsc) chosen = l;
    if (l.pathBic < chosenBic.pathBic) chosenBic = l;
  }
  return { K, omega, refit, gateBound, levels, merges, chosen: chosen.k, chosenPathBic: chosenBic.k };
}
