/**
 * The claims of a reproduction (issue 15, item 6), read from the preset stores under DIR/run: per
 * claim the verdict of the rule (src/measure/rate-summary.ts) with every summary, and per preset what
 * the report needs to explain it (missing jobs, the estimator's record, timing). No text here: the
 * markdown (reproduce-markdown.ts) and the cause paragraphs (report-causes.ts) are written from this.
 */
import { join } from 'node:path';
import { loadStudyFile, presetNames, presetPath, type ResolvedStudy } from './config.js';
import { StudyStore } from './store.js';
import { planJobs } from './plan.js';
import { computeCurves, type CurveDetail } from './report.js';
import { VERDICT_RULE } from './rates.js';
import { LOCAL_VERDICT_RULE } from './worst-case.js';
import { epsilonOf, type LocalTruth } from './local-truth.js';
import { OptionError } from '../errors.js';
import { runTiming, settingFacts, type RunTiming, type SettingFacts, type JobTiming } from './run-facts.js';
import { FROM_MODEL, withPresetLosses, type RecomputeNote } from './report-view.js';
import { MixtureOfExperts } from '../model/model.js';
import { voronoiLoss } from '../measure/voronoi.js';

export interface ClaimRow {
  preset: string;
  setting: string;
  loss: string;
  theory: number | null;
  /** Which summary the verdict read (`q0.8`, `q0.8 upper half`). */
  summary: string;
  slope: number | null;
  ci: [number, number] | null;
  verdict: 'reproduced' | 'contradicted' | 'inconclusive' | 'not run';
  kind: string | null;
  reason: string;
  meanSlope: number | null;
  meanCi: [number, number] | null;
  medianSlope: number | null;
  medianCi: [number, number] | null;
  localSlopes: { nFrom: number; nTo: number; slope: number }[];
  bestModel: string | null;
  nMin: number | null;
  nMax: number | null;
  reps: number;
  /** Voronoi-family losses: the share of fits with a loss above 1 among the smallest and the largest third of n (far fits). */
  aboveOne?: { small: number; large: number; nSmallTo: number; nLargeFrom: number };
  /** Voronoi losses with ≥ 20 % far fits at the largest third of n: the block whose term dominates them. */
  farFits?: FarFits;
  /**
   * Local alternatives (src/study/local-truth.ts): the summary is the worst case over `truths` truths
   * per n; at the largest n, the worst truth's median loss against its ε (the distance of that truth
   * from the centre along the moved field).
   */
  local?: { truths: number; reading: string; rate: number; worstTruth: number[]; lastMedian: number; lastEpsilon: number };
}

export interface FarFits {
  /** Far fits (loss > 1) at n ≥ nFrom and the block with the largest share of their summed loss. */
  count: number;
  nFrom: number;
  block: string;
  share: number;
  /** Median over those fits of the block's largest error (over atoms) and of its largest exponent. */
  medianError: number;
  exponent: number;
  medianN: number;
}

export interface PresetStatus {
  preset: string;
  profile: string;
  planned: number;
  ok: number;
  failed: number;
  missing: number;
  computeSeconds: number;
  firstStarted: string | null;
  lastFinished: string | null;
  /** Settings with missing jobs: how many per setting, and the sample sizes that lack replicates. */
  missingBySetting: { setting: string; missing: number; ns: number[] }[];
  /** Losses the report computed from the stored models (added by the preset, or recomputed: a newer measure version or --recompute). */
  computedAtReport?: RecomputeNote;
  /** Per setting: non-converged fits, fits on the gate bound, expert coefficients far beyond the truth's. */
  facts?: SettingFacts[];
  /** Wall time of this preset's jobs (the span of their finish times without pauses, see run-facts.ts). */
  timing?: RunTiming;
}

export interface Reproduction {
  claims: ClaimRow[];
  presets: PresetStatus[];
  rule: string;
  /** Wall time and throughput of the whole run (every store's jobs together). */
  timing?: RunTiming;
}

/** Which block's term makes the far fits' loss (D1/D2/D2strong and their infima, measured at the fixed point). */
export function farFitsOf(base: string, rows: { n: number; model: string }[], truth: MixtureOfExperts, nFrom: number): FarFits | undefined {
  const loss = base.replace(/inf$/, '');
  if (!['D1', 'D2', 'D2strong'].includes(loss) || !rows.length) return undefined;
  const sums = new Map<string, number>();
  const errs: { block: string; err: number; e: number; n: number }[][] = [];
  for (const r of rows) {
    let v;
    try {
      v = voronoiLoss(JSON.parse(r.model) as never, truth, { loss });
    } catch {
      continue;
    }
    const per: { block: string; err: number; e: number; n: number }[] = [];
    for (const [b, x] of Object.entries(v.blocks)) {
      sums.set(b, (sums.get(b) ?? 0) + x);
      if (b !== 'mass') per.push({ block: b, err: v.blockMax[b] ?? NaN, e: Math.max(...(v.exponents[b] ?? [1]).filter(Number.isFinite)), n: r.n });
    }
    errs.push(per);
  }
  const total = [...sums.values()].reduce((a, b) => a + b, 0);
  if (!(total > 0)) return undefined;
  const [block, top] = [...sums.entries()].sort((a, b) => b[1] - a[1])[0];
  const of = errs.map((p) => p.find((x) => x.block === block)).filter((x): x is NonNullable<typeof x> => x !== undefined).sort((a, b) => a.err - b.err);
  const mid = of[Math.floor(of.length / 2)];
  const ns = rows.map((r) => r.n).sort((a, b) => a - b);
  return { count: rows.length, nFrom, block, share: top / total, medianError: mid ? mid.err : NaN, exponent: mid ? mid.e : NaN, medianN: ns[Math.floor(ns.length / 2)] };
}

export function storeDir(out: string, preset: string): string {
  return join(out, 'run', preset);
}

export function resolvePresets(names: string[] | undefined): string[] {
  const all = presetNames();
  if (!names || !names.length) return all;
  for (const n of names) if (!all.includes(n)) throw new OptionError(`--preset: no preset named ${JSON.stringify(n)} (presets: ${all.join(', ')})`);
  return names;
}

export function resolvedPreset(preset: string, profile: string | undefined): ResolvedStudy {
  return loadStudyFile(presetPath(preset), profile && profile !== 'full' ? { profile } : {});
}

function presetStatus(preset: string, store: StudyStore): PresetStatus {
  const st = store.study;
  const planned = planJobs(st);
  const finished = store.finishedIds();
  const c = store.counts();
  const missingBySetting: PresetStatus['missingBySetting'] = [];
  for (const s of st.settings) {
    const miss = planned.filter((j) => j.setting === s.name && !finished.has(j.id));
    if (miss.length) missingBySetting.push({ setting: s.name, missing: miss.length, ns: [...new Set(miss.map((j) => j.n))].sort((a, b) => a - b) });
  }
  return {
    preset, profile: st.profile, planned: planned.length, ok: c.ok, failed: c.failed, missing: planned.length - finished.size,
    computeSeconds: c.seconds, firstStarted: store.meta('created_at') ?? null, lastFinished: store.meta('last_run_finished') ?? null, missingBySetting,
  };
}

function claimRow(preset: string, c: CurveDetail): ClaimRow {
  const v = c.verdict;
  return {
    preset, setting: c.setting, loss: c.loss, theory: c.theory ?? null,
    summary: v?.summary ?? `q${c.quantileSlope.q}`, slope: v ? v.slope : c.quantileSlope.slope, ci: v ? v.ci : c.quantileSlope.ci,
    verdict: v?.verdict ?? 'inconclusive', kind: v?.kind ?? null, reason: v?.reason ?? 'no theory stated',
    meanSlope: c.slope, meanCi: c.ci, medianSlope: c.medianSlope, medianCi: c.summary.median.ci,
    localSlopes: c.localSlopes.map((w) => ({ nFrom: w.nFrom, nTo: w.nTo, slope: w.slope })), bestModel: c.summary.models.best,
    nMin: c.nMin, nMax: c.nMax, reps: c.reps,
  };
}

/** The local-alternatives facts of a curve (worst truth at the largest n: its median loss and its ε). */
function localFacts(c: CurveDetail, spec: LocalTruth | undefined): ClaimRow['local'] {
  if (!c.local || !spec || !c.points.length) return undefined;
  const last = c.points[c.points.length - 1];
  const t = c.local.worstTruth[c.local.worstTruth.length - 1];
  return { truths: c.local.truths, reading: c.local.reading, rate: c.local.rate, worstTruth: c.local.worstTruth, lastMedian: last.median, lastEpsilon: Math.abs(epsilonOf(spec, last.n, t)) };
}

/** Curves and claims of every preset store found under DIR/run (missing stores give `not run` rows). */
export function collectReproduction(out: string, options: { presets?: string[]; profile?: string; bootstrap?: number; recompute?: string[] } = {}): { reproduction: Reproduction; curves: Map<string, { store: ResolvedStudy; curves: CurveDetail[] }> } {
  const presets = resolvePresets(options.presets);
  const claims: ClaimRow[] = [];
  const status: PresetStatus[] = [];
  const curves = new Map<string, { store: ResolvedStudy; curves: CurveDetail[] }>();
  const allTimings: { rows: JobTiming[] }[] = [];
  for (const p of presets) {
    const dir = storeDir(out, p);
    if (!StudyStore.exists(dir)) {
      const st = resolvedPreset(p, options.profile);
      for (const s of st.settings) for (const l of s.losses) {
        claims.push({ preset: p, setting: s.name, loss: l.name, theory: l.theory ?? null, summary: 'q0.8', slope: null, ci: null, verdict: 'not run', kind: l.claim ?? null, reason: 'no store', meanSlope: null, meanCi: null, medianSlope: null, medianCi: null, localSlopes: [], bestModel: null, nMin: null, nMax: null, reps: 0 });
      }
      const planned = planJobs(st).length;
      status.push({ preset: p, profile: st.profile, planned, ok: 0, failed: 0, missing: planned, computeSeconds: 0, firstStarted: null, lastFinished: null, missingBySetting: st.settings.map((s) => ({ setting: s.name, missing: st.ns.length * st.replicates, ns: st.ns })) });
      continue;
    }
    const store = StudyStore.open(dir, { readonly: true }); // the report only reads: never switch a committed store to WAL
    try {
      const view = withPresetLosses(store, resolvedPreset(p, options.profile), options.recompute ? { recompute: options.recompute } : {});
      const values = view.lossValues(); // once: recomputed losses cost a Voronoi evaluation per job
      const notes = computeCurves({ study: view.study, lossValues: () => values }, { bootstrap: options.bootstrap ?? 1000 });
      const rows = store.rows();
      const facts = settingFacts(view.study, rows);
      const truth = MixtureOfExperts.fromJSON(view.study.truth, 'truth');
      const timings = store.timings();
      allTimings.push({ rows: timings });
      const ns = [...view.study.ns].sort((a, b) => a - b);
      const third = Math.max(1, Math.floor(ns.length / 3));
      const nSmallTo = ns[third - 1];
      const nLargeFrom = ns[ns.length - third];
      const share = (setting: string, loss: string): ClaimRow['aboveOne'] => {
        if (!FROM_MODEL.has(loss.split(':')[0])) return undefined;
        const v = values.filter((x) => x.setting === setting && x.name === loss && x.value !== null);
        const sm = v.filter((x) => x.n <= nSmallTo);
        const lg = v.filter((x) => x.n >= nLargeFrom);
        if (!sm.length || !lg.length) return undefined;
        return { small: sm.filter((x) => (x.value as number) > 1).length / sm.length, large: lg.filter((x) => (x.value as number) > 1).length / lg.length, nSmallTo, nLargeFrom };
      };
      curves.set(p, { store: view.study, curves: notes.curves });
      for (const s of view.study.settings) {
        for (const l of s.losses) {
          const c = notes.curves.find((x) => x.setting === s.name && x.loss === l.name);
          if (c) {
            const row = claimRow(p, c);
            const lf = localFacts(c, s.truth);
            const a = share(s.name, l.name);
            let ff: FarFits | undefined;
            // far fits are measured against the study truth: not for local alternatives (a truth per job)
            if (a && a.large >= 0.2 && !s.truth) {
              const farKeys = new Set(values.filter((x) => x.setting === s.name && x.name === l.name && x.n >= nLargeFrom && x.value !== null && x.value > 1).map((x) => `${x.n}/${x.rep}`));
              ff = farFitsOf(l.base, rows.filter((r) => r.setting === s.name && r.status === 'ok' && r.model && farKeys.has(`${r.n}/${r.rep}`)).map((r) => ({ n: r.n, model: r.model as string })), truth, nLargeFrom);
            }
            claims.push({ ...row, ...(a ? { aboveOne: a } : {}), ...(ff ? { farFits: ff } : {}), ...(lf ? { local: lf } : {}) });
          }
          else {
            const sk = notes.skipped.find((x) => x.setting === s.name && x.loss === l.name);
            claims.push({ preset: p, setting: s.name, loss: l.name, theory: l.theory ?? null, summary: 'q0.8', slope: null, ci: null, verdict: 'not run', kind: l.claim ?? null, reason: sk?.reason ?? 'no data', meanSlope: null, meanCi: null, medianSlope: null, medianCi: null, localSlopes: [], bestModel: null, nMin: null, nMax: null, reps: 0 });
          }
        }
      }
      status.push({ ...presetStatus(p, store), computedAtReport: view.note, facts, timing: runTiming([{ rows: timings }]) });
    } finally {
      store.close();
    }
  }
  return { reproduction: { claims, presets: status, rule: `${VERDICT_RULE}\n${LOCAL_VERDICT_RULE}`, timing: runTiming(allTimings) }, curves };
}
