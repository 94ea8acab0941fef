/**
 * Model selection over the number of experts: fit each k of a range (on the fit pool: one task per
 * k, the restarts of a k inside its task), tabulate ℓ, AIC, BIC, ICL, and choose the k with the
 * smallest criterion. The largest fit of the sweep is also the over-specified fit from which the
 * dendrogram of mixing measures is built (./dendrogram.ts).
 */
import type { Dataset } from '../model/data.js';
import { MixtureOfExperts, type ModelJSON, type ModelSpec } from '../model/model.js';
import { runFits, type FitTask, type PlainEMOptions } from '../estimate/fit-pool.js';
import { OptionError } from '../errors.js';
import { modelCriteria, type CriterionName } from './criteria.js';
import type { WarningJSON } from '../warnings.js';

export interface SelectionRow {
  k: number;
  logLikelihood: number;
  parameters: number;
  aic: number;
  bic: number;
  icl: number;
  converged: boolean;
  /** Fitted model (absent when the fit failed). */
  model?: ModelJSON;
  error?: string;
  /** The fit's warnings (JSON form). */
  warnings: WarningJSON[];
}

export interface SelectionResult {
  criterion: CriterionName;
  chosen: number;
  table: SelectionRow[];
  /** Worker threads used (1: the fits ran one after another in this thread). */
  threads: number;
}

/** Parse `1..6`, `2,3,5` or `4` into a sorted list of distinct k ≥ 1. */
export function parseKRange(s: string, option = '--k'): number[] {
  const out = new Set<number>();
  for (const part of s.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^(\d+)(?:\s*\.\.\s*(\d+))?$/.exec(part);
    if (!m) throw new OptionError(`${option}: expected k, k1..k2 or a comma list, got ${JSON.stringify(s)}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < 1 || b < a) throw new OptionError(`${option}: a range must run upwards from k ≥ 1, got ${JSON.stringify(part)}`);
    if (b - a > 50) throw new OptionError(`${option}: at most 50 values of k, got ${JSON.stringify(part)}`);
    for (let k = a; k <= b; k++) out.add(k);
  }
  if (out.size === 0) throw new OptionError(`${option}: no value of k in ${JSON.stringify(s)}`);
  return [...out].sort((x, y) => x - y);
}

export interface SweepOptions {
  criterion?: CriterionName;
  /** EM options of every fit (restarts, seed, tol, init kind …). */
  em?: PlainEMOptions;
  threads?: number;
  onDone?: (finished: number, total: number) => void;
}

/** Fit every k and choose by the criterion. `spec.k` is ignored. */
export async function selectK(spec: Omit<ModelSpec, 'k'>, data: Dataset, ks: readonly number[], options: SweepOptions = {}): Promise<SelectionResult> {
  const criterion = options.criterion ?? 'bic';
  const tasks: FitTask[] = ks.map((k) => ({ spec: { ...spec, k }, data, options: { ...options.em } }));
  const threads = Math.max(1, Math.min(options.threads ?? 1, tasks.length));
  const outcomes = await runFits(tasks, { threads, onDone: (_, f) => options.onDone?.(f, tasks.length) });
  const table: SelectionRow[] = outcomes.map((o, idx) => {
    const k = ks[idx];
    if (!o.model) return { k, logLikelihood: NaN, parameters: NaN, aic: NaN, bic: NaN, icl: NaN, converged: false, error: o.error, warnings: o.warnings };
    const m = MixtureOfExperts.fromJSON(o.model);
    const c = modelCriteria(m, data, o.logLikelihood);
    return { k, logLikelihood: o.logLikelihood, parameters: c.parameters, aic: c.aic, bic: c.bic, icl: c.icl, converged: o.converged, model: o.model, warnings: o.warnings };
  });
  const ok = table.filter((r) => r.model);
  if (ok.length === 0) throw new OptionError(`every fit failed: ${table.map((r) => `k=${r.k}: ${r.error}`).join('; ')}`);
  const chosen = ok.reduce((best, r) => (r[criterion] < best[criterion] ? r : best)).k;
  return { criterion, chosen, table, threads };
}
