/**
 * Bootstrap standard errors and percentile intervals of a fitted model's JSON parameters, for any
 * fit (over-specified ones included, where the information matrix is singular).
 * - nonparametric: rows (x_t, y_t) drawn with replacement;
 * - parametric: y drawn from the fitted model at the observed x.
 * Each replicate is refitted by EM from the fitted model (warm start; `restarts` adds none by
 * default), on the fit pool. Replicate b draws from the stream Rng(seed).split('bootstrap', b), so
 * the result does not depend on the number of threads. Experts of each replicate are matched to the
 * fitted ones (label switching) by the permutation that minimises the standardised distance of the
 * expert blocks (all permutations up to k = 7, greedy above).
 */
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts } from '../model/model.js';
import { Rng } from '../numeric/rng.js';
import { runFits, type FitTask, type PlainEMOptions } from '../estimate/fit-pool.js';
import { flattenModel, type Naming, type ParameterLabel } from './parameters.js';
import { warning, type MoeWarning } from '../warnings.js';

export type BootstrapType = 'nonparametric' | 'parametric';

export interface BootstrapOptions {
  replicates: number;
  type?: BootstrapType;
  seed?: number;
  /** Coverage of the percentile interval. Default 0.95. */
  level?: number;
  /** Worker threads (≤ 1: inline). Default: every core. */
  threads?: number;
  /** EM options of the refits (init is the fitted model). */
  em?: Omit<PlainEMOptions, 'init' | 'seed'>;
  naming?: Partial<Naming>;
  onDone?: (finished: number, total: number) => void;
}

export interface BootstrapParameter extends ParameterLabel {
  estimate: number;
  /** Standard deviation over the replicates (null with fewer than 2). */
  se: number | null;
  lower: number | null;
  upper: number | null;
}

export interface BootstrapReport {
  type: BootstrapType;
  replicates: number;
  /** Replicates whose refit returned a model. */
  succeeded: number;
  /** Replicates whose refit converged (to the gradient tolerance). */
  converged: number;
  level: number;
  seed: number;
  parameters: BootstrapParameter[];
  warnings: MoeWarning[];
}

/** Draw one bootstrap dataset. */
export function bootstrapSample(model: MixtureOfExperts, data: Dataset, type: BootstrapType, rng: Rng): Dataset {
  const { n, d } = data;
  if (type === 'parametric') {
    const { y } = model.sample(data.X, n, rng);
    return { ...data, y };
  }
  const X = new Float64Array(n * d);
  const y = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const s = rng.int(n);
    for (let u = 0; u < d; u++) X[t * d + u] = data.X[s * d + u];
    y[t] = data.y[s];
  }
  return { ...data, X, y };
}

/** Quantile of sorted values (linear interpolation between order statistics, R type 7). */
export function quantileSorted(s: readonly number[], q: number): number {
  if (s.length === 1) return s[0];
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

function permutations(k: number): number[][] {
  if (k === 1) return [[0]];
  const out: number[][] = [];
  for (const p of permutations(k - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), k - 1, ...p.slice(i)]);
  return out;
}

/** Per-expert vectors of the expert blocks (the atoms' expert parameters). */
function expertVectors(model: MixtureOfExperts): number[][] {
  const flat = flattenModel(model);
  const v: number[][] = Array.from({ length: model.k }, () => []);
  flat.labels.forEach((l, e) => { if (l.part === 'experts' && l.expert !== null) v[l.expert - 1].push(flat.values[e]); });
  return v;
}

/** The permutation perm (new expert j = old perm[j]) that best matches `rep`'s experts to `ref`'s. */
export function matchExperts(ref: MixtureOfExperts, rep: MixtureOfExperts): number[] {
  const k = ref.k;
  const a = expertVectors(ref);
  const b = expertVectors(rep);
  const m = a[0]?.length ?? 0;
  const scale = Array.from({ length: m }, (_, c) => {
    const col = a.map((r) => r[c]);
    const mean = col.reduce((s, x) => s + x, 0) / k;
    const sd = Math.sqrt(col.reduce((s, x) => s + (x - mean) * (x - mean), 0) / k);
    return Math.max(sd, 1e-3 * (Math.abs(mean) + 1));
  });
  const cost = (i: number, j: number): number => {
    let s = 0;
    for (let c = 0; c < m; c++) s += ((a[i][c] - b[j][c]) / scale[c]) ** 2;
    return s;
  };
  if (k <= 7) {
    let best: number[] = [];
    let bestCost = Infinity;
    for (const p of permutations(k)) {
      let c = 0;
      for (let j = 0; j < k && c < bestCost; j++) c += cost(j, p[j]);
      if (c < bestCost) {
        bestCost = c;
        best = p;
      }
    }
    return best;
  }
  const used = new Set<number>();
  return a.map((_, i) => {
    let bj = -1;
    for (let j = 0; j < k; j++) if (!used.has(j) && (bj < 0 || cost(i, j) < cost(i, bj))) bj = j;
    used.add(bj);
    return bj;
  });
}

/** Bootstrap a fitted model on its data. */
export async function bootstrap(model: MixtureOfExperts, data: Dataset, options: BootstrapOptions): Promise<BootstrapReport> {
  const B = options.replicates;
  const type = options.type ?? 'nonparametric';
  const seed = options.seed ?? 1;
  const level = options.level ?? 0.95;
  const warnings: MoeWarning[] = [];
  const root = new Rng(seed);
  const spec = model.spec();
  const init = { type: 'model' as const, model: model.toJSON() };
  const tasks: FitTask[] = [];
  for (let b = 0; b < B; b++) {
    tasks.push({ spec, data: bootstrapSample(model, data, type, root.split('bootstrap', b)), options: { ...options.em, init, restarts: options.em?.restarts ?? 1 } });
  }
  const outcomes = await runFits(tasks, { threads: options.threads, onDone: (_, f) => options.onDone?.(f, B) });
  const ref = flattenModel(model, model.toJSON(), options.naming);
  const m = ref.values.length;
  const draws: number[][] = Array.from({ length: m }, () => []);
  let succeeded = 0;
  let converged = 0;
  let canPermute = true;
  const errors = new Map<string, number>();
  for (const o of outcomes) {
    if (!o.model) {
      errors.set(o.error ?? 'failed', (errors.get(o.error ?? 'failed') ?? 0) + 1);
      continue;
    }
    let rep = MixtureOfExperts.fromJSON(o.model);
    if (canPermute && model.k > 1) {
      try {
        rep = rep.permuteExperts(matchExperts(model, rep));
      } catch {
        canPermute = false;
        warnings.push(warning('BOOTSTRAP_UNALIGNED', `the ${model.gate.type} gate cannot relabel experts: replicates are not aligned (label switching is possible)`));
      }
    }
    const v = flattenModel(rep).values;
    if (v.length !== m) continue;
    succeeded++;
    if (o.converged) converged++;
    for (let e = 0; e < m; e++) draws[e].push(v[e]);
  }
  for (const [msg, count] of errors) warnings.push(warning('BOOTSTRAP_FIT_FAILED', `${count} replicate fit${count > 1 ? 's' : ''} failed: ${msg}`, { count, error: msg }));
  if (converged < succeeded) warnings.push(warning('BOOTSTRAP_NOT_CONVERGED', `${succeeded - converged} of ${succeeded} replicate fits did not converge to the gradient tolerance (kept)`, { count: succeeded - converged, of: succeeded }));
  if (succeeded < 2) warnings.push(warning('BOOTSTRAP_TOO_FEW', 'fewer than 2 replicates succeeded: no bootstrap standard errors'));
  const parameters: BootstrapParameter[] = [];
  for (let e = 0; e < m; e++) {
    const x = draws[e];
    const est = ref.values[e];
    if (x.length > 0 && x.every((v) => v === est)) continue; // fixed by the model (reference expert)
    let se: number | null = null;
    let lower: number | null = null;
    let upper: number | null = null;
    if (x.length >= 2) {
      const mean = x.reduce((s, v) => s + v, 0) / x.length;
      se = Math.sqrt(x.reduce((s, v) => s + (v - mean) * (v - mean), 0) / (x.length - 1));
      const s = x.slice().sort((p, q) => p - q);
      lower = quantileSorted(s, (1 - level) / 2);
      upper = quantileSorted(s, 1 - (1 - level) / 2);
    }
    parameters.push({ ...ref.labels[e], estimate: est, se, lower, upper });
  }
  return { type, replicates: B, succeeded, converged, level, seed, parameters, warnings };
}
