/**
 * Facts about a finished (or partial) study run read from its stores, for the reproduction report
 * (issue 15): wall time and throughput from the per-job `seconds` and `finished_at` columns, and per
 * setting the fits that did not converge, sit on the gate or the expert bound, or have expert
 * coefficients far beyond the truth's — the data a "why is this claim not reproduced" paragraph is built from.
 */
import type { ResolvedStudy } from './config.js';
import type { ResultRow } from './job.js';

export interface SettingFacts {
  setting: string;
  ok: number;
  failed: number;
  /** Fits reported not converged (converged = false). */
  nonConverged: number;
  /** The same among the largest third of the sample sizes. */
  nonConvergedLarge: number;
  /** Of those, the fits whose finish ended on a flat ridge (gradient still > 0 along a flat direction, the estimator's warning). */
  ridge: number;
  /** Fits with an expert variance at the floor (degenerate: the likelihood is unbounded there). */
  varianceFloor: number;
  largeJobs: number;
  /** `gateBound` of the setting (null: unbounded) and the fits with a gate coefficient on it. */
  gateBound: number | null;
  atBound: number;
  /**
   * `expertBound` of the setting (null: the experts are unbounded), the fits with an expert coefficient
   * on it (counted as `atBound` is for the gate) and those with one beyond it (a box the fit honoured
   * in other units than the stored model's, e.g. least squares before 5dc3489).
   */
  expertBound: number | null;
  atExpertBound: number;
  beyondExpertBound: number;
  /** Fits with an expert coefficient (means, slopes, class logits; not variances) above 10 × max(1, the truth's largest). */
  expertFar: number;
  expertFarSmall: number;
  smallJobs: number;
  expertMax: number;
  trueExpertMax: number;
  /** Smallest n of the largest third and largest n of the smallest third. */
  nLargeFrom: number;
  nSmallTo: number;
}

/** Every finite number under `obj`, skipping the keys in `skip`. */
function numbers(obj: unknown, skip: Set<string>, out: number[] = []): number[] {
  if (typeof obj === 'number') {
    if (Number.isFinite(obj)) out.push(obj);
  } else if (Array.isArray(obj)) {
    for (const v of obj) numbers(v, skip, out);
  } else if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj)) if (!skip.has(k)) numbers(v, skip, out);
  }
  return out;
}

const NOT_COEFFICIENTS = new Set(['type', 'classes', 'variance', 'noiseVariance', 'sigma', 'tau', 'map', 'bias', 'k', 'kbar', 'K']);
const GATE_COEFFICIENTS = new Set(['beta0', 'beta1']);

function gateCoefficients(gate: unknown): number[] {
  if (!gate || typeof gate !== 'object') return [];
  const out: number[] = [];
  for (const [k, v] of Object.entries(gate)) if (GATE_COEFFICIENTS.has(k)) numbers(v, new Set(), out);
  // hierarchical gates nest softmax cores
  for (const [k, v] of Object.entries(gate)) if (!GATE_COEFFICIENTS.has(k) && v && typeof v === 'object') out.push(...gateCoefficients(v));
  return out;
}

function maxAbs(v: number[]): number {
  let m = 0;
  for (const x of v) if (Math.abs(x) > m) m = Math.abs(x);
  return m;
}

/** A positive finite bound named `key` in a setting's options, else null. */
function boundOf(options: unknown, key: 'gateBound' | 'expertBound'): number | null {
  const v = (options as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Per-setting facts of a store's rows. */
export function settingFacts(study: ResolvedStudy, rows: ResultRow[]): SettingFacts[] {
  const ns = [...study.ns].sort((a, b) => a - b);
  const third = Math.max(1, Math.floor(ns.length / 3));
  const nLargeFrom = ns[ns.length - third] ?? Infinity;
  const nSmallTo = ns[third - 1] ?? -Infinity;
  const trueExpertMax = maxAbs(numbers((study.truth as { experts?: unknown }).experts, NOT_COEFFICIENTS));
  const limit = 10 * Math.max(1, trueExpertMax);
  return study.settings.map((s) => {
    const bound = boundOf(s.options, 'gateBound');
    const eBound = boundOf(s.options, 'expertBound');
    const f: SettingFacts = {
      setting: s.name, ok: 0, failed: 0, nonConverged: 0, nonConvergedLarge: 0, ridge: 0, varianceFloor: 0, largeJobs: 0, gateBound: bound, atBound: 0,
      expertBound: eBound, atExpertBound: 0, beyondExpertBound: 0,
      expertFar: 0, expertFarSmall: 0, smallJobs: 0, expertMax: 0, trueExpertMax, nLargeFrom, nSmallTo,
    };
    for (const r of rows) {
      if (r.setting !== s.name) continue;
      if (r.status !== 'ok') { f.failed++; continue; }
      f.ok++;
      const large = r.n >= nLargeFrom;
      const small = r.n <= nSmallTo;
      if (large) f.largeJobs++;
      if (small) f.smallJobs++;
      if (r.converged === false) {
        f.nonConverged++;
        if (large) f.nonConvergedLarge++;
        if (r.warnings !== null && /flat direction/.test(r.warnings)) f.ridge++;
      }
      if (r.warnings !== null && /variance of expert \d+ is at the floor/.test(r.warnings)) f.varianceFloor++;
      if (!r.model) continue;
      let m: { gate?: unknown; experts?: unknown };
      try {
        m = JSON.parse(r.model) as { gate?: unknown; experts?: unknown };
      } catch {
        continue;
      }
      if (bound !== null && maxAbs(gateCoefficients(m.gate)) >= bound * (1 - 1e-6)) f.atBound++;
      const e = maxAbs(numbers(m.experts, NOT_COEFFICIENTS));
      if (eBound !== null) {
        if (e > eBound * (1 + 1e-6)) f.beyondExpertBound++;
        else if (e >= eBound * (1 - 1e-6)) f.atExpertBound++;
      }
      if (e > f.expertMax) f.expertMax = e;
      if (e > limit) { f.expertFar++; if (small) f.expertFarSmall++; }
    }
    return f;
  });
}

export interface RunTiming {
  jobs: number;
  /** Σ of the per-job wall times (each job's simulate + fit + measure, inside its worker). */
  computeSeconds: number;
  firstFinished: string | null;
  lastFinished: string | null;
  /** lastFinished − firstFinished. */
  spanSeconds: number;
  /** The span without the pauses (gaps between consecutive finished jobs longer than max(120 s, 5 × the job's own seconds)). */
  activeSeconds: number;
  pauses: { from: string; seconds: number }[];
  jobsPerSecond: number;
  /** computeSeconds / activeSeconds: ≈ the worker count while the run was busy. */
  parallelism: number;
  /**
   * Median over (setting, n) of the ratio of the mean job seconds of the last replicate round to the
   * first (the same kind of job later in the run): far from 1 when the machine's load changed.
   */
  laterRoundRatio: number | null;
}

/** Timing of one or several stores' rows together (the presets of a reproduction ran one after another). */
export interface JobTiming { setting: string; n: number; rep: number; seconds: number; finishedAt: string }

export function runTiming(rowsByStore: { rows: JobTiming[] }[], chunk = 5): RunTiming {
  const all = rowsByStore.flatMap((s, i) => s.rows.map((r) => ({ ...r, store: i, t: Date.parse(r.finishedAt) }))).filter((r) => Number.isFinite(r.t)).sort((a, b) => a.t - b.t);
  const computeSeconds = all.reduce((s, r) => s + r.seconds, 0);
  if (!all.length) return { jobs: 0, computeSeconds, firstFinished: null, lastFinished: null, spanSeconds: 0, activeSeconds: 0, pauses: [], jobsPerSecond: 0, parallelism: 0, laterRoundRatio: null };
  let active = 0;
  const pauses: RunTiming['pauses'] = [];
  for (let i = 1; i < all.length; i++) {
    const gap = (all[i].t - all[i - 1].t) / 1000;
    if (gap > Math.max(120, 5 * all[i].seconds)) pauses.push({ from: new Date(all[i - 1].t).toISOString(), seconds: gap });
    else active += gap;
  }
  active += Math.min(all[0].seconds, 120); // the first job ran before its finish time
  const span = (all[all.length - 1].t - all[0].t) / 1000;
  // the same jobs early and late in the run
  const groups = new Map<string, { first: number[]; last: number[]; lastRound: number }>();
  for (const r of all) {
    const key = `${r.store}\u0000${r.setting}\u0000${r.n}`;
    const g = groups.get(key) ?? { first: [], last: [], lastRound: -1 };
    groups.set(key, g);
    const round = Math.floor(r.rep / chunk);
    if (round === 0) g.first.push(r.seconds);
    if (round > g.lastRound) { g.lastRound = round; g.last = []; }
    if (round === g.lastRound) g.last.push(r.seconds);
  }
  const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
  const ratios = [...groups.values()].filter((g) => g.lastRound > 0 && g.first.length && g.last.length).map((g) => mean(g.last) / Math.max(mean(g.first), 1e-9)).sort((a, b) => a - b);
  const laterRoundRatio = ratios.length ? ratios[Math.floor(ratios.length / 2)] : null;
  return {
    jobs: all.length, computeSeconds, firstFinished: new Date(all[0].t).toISOString(), lastFinished: new Date(all[all.length - 1].t).toISOString(),
    spanSeconds: span, activeSeconds: active, pauses, jobsPerSecond: all.length / Math.max(active, 1e-9), parallelism: computeSeconds / Math.max(active, 1e-9), laterRoundRatio,
  };
}
