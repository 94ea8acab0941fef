/**
 * Reproduction of the papers' claims (issue 15, item 6): run a profile of every preset (one resumable
 * study store per preset under DIR/run/<preset>/), then judge every claim of math-spec §7 with the
 * verdict rule of src/measure/rate-summary.ts and write DIR/reproduction.json, DIR/reproduction.md
 * and the figures under DIR/figures/. A partial store gives a partial report that says which jobs
 * are missing.
 */
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { loadStudyFile, presetNames, presetPath, studyHash, type ResolvedStudy } from './config.js';
import { StudyStore } from './store.js';
import { runStudy, type RunSummary } from './runner.js';
import { planJobs } from './plan.js';
import { computeCurves, figureSpec, renderSVG, svgToPNG, panelSpec, type CurveDetail } from './report.js';
import { VERDICT_RULE } from './rates.js';
import { LOCAL_VERDICT_RULE } from './worst-case.js';
import { epsilonOf, type LocalTruth } from './local-truth.js';
import { jobTruthJSON } from './job.js';
import { OptionError } from '../errors.js';
import { measureAll, measureVersions } from './measures.js';
import { staleMeasures, storedMeasureVersions } from './versions.js';
import { runTiming, settingFacts, type RunTiming, type SettingFacts, type JobTiming } from './run-facts.js';
import { MixtureOfExperts } from '../model/model.js';
import { voronoiLoss } from '../measure/voronoi.js';
import { Rng } from '../numeric/rng.js';
import type { LossValue } from './store.js';

export interface ReproduceOptions {
  presets?: string[];
  profile?: string;
  threads?: number;
  progress?: boolean;
  signal?: AbortSignal;
  /** Called after each preset's run. */
  onPreset?: (preset: string, summary: RunSummary, store: StudyStore) => void;
}

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

export function storeDir(out: string, preset: string): string {
  return join(out, 'run', preset);
}

function resolvePresets(names: string[] | undefined): string[] {
  const all = presetNames();
  if (!names || !names.length) return all;
  for (const n of names) if (!all.includes(n)) throw new OptionError(`--preset: no preset named ${JSON.stringify(n)} (presets: ${all.join(', ')})`);
  return names;
}

function resolvedPreset(preset: string, profile: string | undefined): ResolvedStudy {
  return loadStudyFile(presetPath(preset), profile && profile !== 'full' ? { profile } : {});
}

/** Open the store of a preset: the stored study if the directory has one (resume), else a new store for the preset's profile. */
function openStore(out: string, preset: string, profile: string | undefined, warn: (s: string) => void): StudyStore {
  const dir = storeDir(out, preset);
  const study = resolvedPreset(preset, profile);
  if (StudyStore.exists(dir)) {
    const store = StudyStore.open(dir);
    if (store.hash !== studyHash(study)) warn(`${dir}: the stored study differs from the current preset ${preset} (profile ${profile ?? 'full'}); resuming the stored one`);
    return store;
  }
  return StudyStore.create(dir, study);
}

/**
 * Run (or resume) the chosen profile of each preset. The presets are interleaved in rounds of
 * `chunk` replicates (every preset's first `chunk` replicates, then the next ones, …): a run stopped
 * at any time has every claim covered by as many replicates as the time allowed, instead of some
 * presets complete and the rest missing. Within a preset the runner's order is replicate waves too.
 */
export async function runReproduction(out: string, options: ReproduceOptions & { chunk?: number } = {}): Promise<{ preset: string; summary: RunSummary }[]> {
  const presets = resolvePresets(options.presets);
  const chunk = options.chunk ?? 5;
  if (!Number.isInteger(chunk) || chunk < 1) throw new OptionError(`chunk: expected a positive integer, got ${chunk}`);
  const done: { preset: string; summary: RunSummary }[] = [];
  for (let round = 0; ; round++) {
    let pendingAny = false;
    for (const [i, p] of presets.entries()) {
      if (options.signal?.aborted) return done;
      const store = openStore(out, p, options.profile, (s) => process.stderr.write(s + '\n'));
      try {
        const st = store.study;
        const planned = planJobs(st).length;
        const stored = store.finishedIds().size;
        if (stored >= planned) continue;
        pendingAny = true;
        const limit = st.settings.length * st.ns.length * chunk;
        process.stderr.write(`round ${round + 1}, [${i + 1}/${presets.length}] ${p} (profile ${st.profile}): ${stored}/${planned} jobs stored; next ${Math.min(limit, planned - stored)}\n`);
        const summary = await runStudy(store, { ...(options.threads !== undefined ? { threads: options.threads } : {}), progress: options.progress ?? true, limit, ...(options.signal ? { signal: options.signal } : {}) });
        options.onPreset?.(p, summary, store);
        done.push({ preset: p, summary });
        if (summary.aborted) return done;
      } finally {
        store.close();
      }
    }
    if (!pendingAny) return done;
  }
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

/** Losses a report can compute from a stored fitted model alone (no data): the Voronoi family. */
const FROM_MODEL = new Set(['D1', 'D2', 'D2strong', 'D1inf', 'D2inf', 'D2stronginf', 'param', 'cell']);

/** `--recompute` names must be losses a stored model alone determines. */
export function checkRecompute(names: string[]): void {
  for (const f of names) {
    const base = f.split(':')[0];
    if (!FROM_MODEL.has(base)) throw new OptionError(`--recompute: ${f} needs the fitted data, not only the stored model (recomputable measures: ${[...FROM_MODEL].join(', ')})`);
  }
}

/** What a report view computed itself instead of reading the store. */
export interface RecomputeNote {
  /** Losses the preset lists that the run did not record, per setting. */
  added: { setting: string; losses: string[] }[];
  /** Stored losses recomputed from the stored models, per setting, with the reason. */
  recomputed: { setting: string; losses: string[]; reason: string }[];
  /** Stale losses that cannot be recomputed from a model alone (they need the data): reported as stored. */
  stale: { setting: string; losses: string[] }[];
}

/**
 * The store as the report sees it: the stored study with the theory and claim of each loss taken
 * from the current preset (they are statements about the run, not part of it), plus
 * - the losses the current preset lists that the stored run did not record and that follow from the
 *   stored fitted model (e.g. `cell:BLOCK`, added after the run started), and
 * - the stored losses whose measure changed since the run (a version in study/measures.ts other than
 *   the one the store recorded, study/versions.ts) or that `recompute` names (loss or measure names),
 * both computed here exactly as a job would (same measure stream from the job seed) and replacing any
 * stored value. `preset` null: the store's own study (`study report`).
 */
export function withPresetLosses(store: StudyStore, preset: ResolvedStudy | null, options: { recompute?: string[]; strict?: boolean } = {}): { study: ResolvedStudy; lossValues: () => LossValue[]; note: RecomputeNote } {
  const stored = store.study;
  const stale = staleMeasures(store);
  const forced = new Set(options.recompute ?? []);
  checkRecompute([...forced]);
  if (options.strict) {
    for (const f of forced) if (!stored.settings.some((s) => s.losses.some((l) => l.name === f || l.base === f))) throw new OptionError(`--recompute: the study ${stored.name} has no loss ${JSON.stringify(f)} (losses: ${[...new Set(stored.settings.flatMap((s) => s.losses.map((l) => l.name)))].join(', ')})`);
  }
  // only a store of this preset takes its statements and extra losses
  const cur = preset && stored.name === preset.name ? preset : null;
  const todo = new Map<string, ResolvedStudy['settings'][number]['losses']>();
  const note: RecomputeNote = { added: [], recomputed: [], stale: [] };
  const settings = stored.settings.map((s) => {
    const cs = cur?.settings.find((x) => x.name === s.name);
    const losses = s.losses.map((l) => {
      const c = cs?.losses.find((x) => x.name === l.name);
      if (!c) return l;
      const { theory: _t, claim: _c, versus: _v, ...rest } = l;
      return { ...rest, ...(c.theory !== undefined ? { theory: c.theory } : {}), ...(c.claim !== undefined ? { claim: c.claim } : {}), ...(c.versus !== undefined ? { versus: c.versus } : {}) };
    });
    const add = (cs?.losses ?? []).filter((c) => !s.losses.some((l) => l.name === c.name) && FROM_MODEL.has(c.base));
    const redo = s.losses.filter((l) => FROM_MODEL.has(l.base) && (stale.has(l.base) || forced.has(l.name) || forced.has(l.base)));
    const staleData = s.losses.filter((l) => !FROM_MODEL.has(l.base) && stale.has(l.base));
    if (add.length) note.added.push({ setting: s.name, losses: add.map((l) => l.name) });
    if (redo.length) {
      const why = redo.map((l) => (stale.has(l.base) ? `${l.name}: measure ${l.base} is at version ${measureVersions()[l.base]}, the store's rows at ${storedMeasureVersions(store)[l.base] ?? 1}` : `${l.name}: asked (--recompute)`));
      note.recomputed.push({ setting: s.name, losses: redo.map((l) => l.name), reason: why.join('; ') });
    }
    if (staleData.length) note.stale.push({ setting: s.name, losses: staleData.map((l) => l.name) });
    if (add.length || redo.length) todo.set(s.name, [...redo, ...add]);
    return { ...s, losses: [...losses, ...add] };
  });
  const study = { ...stored, settings };
  const lossValues = (): LossValue[] => {
    if (!todo.size) return store.lossValues();
    const out = store.lossValues().filter((v) => !todo.get(v.setting)?.some((l) => l.name === v.name));
    const centre = MixtureOfExperts.fromJSON(stored.truth, 'truth');
    const local = new Set(stored.settings.filter((s) => s.truth).map((s) => s.name));
    for (const row of store.rows()) {
      const add = todo.get(row.setting);
      if (!add || row.status !== 'ok' || !row.model) continue;
      let values: Record<string, number>;
      try {
        // each job's own truth (local alternatives: a function of setting, n and rep)
        const truth = local.has(row.setting) ? MixtureOfExperts.fromJSON(jobTruthJSON(stored, row.setting, row.n, row.rep), 'truth') : centre;
        const fit = MixtureOfExperts.fromJSON(JSON.parse(row.model) as Parameters<typeof MixtureOfExperts.fromJSON>[0], 'fit');
        values = measureAll(add, { fit, truth, data: { X: new Float64Array(0), y: new Float64Array(0), n: 0, d: stored.d }, design: stored.x, rng: new Rng(BigInt(row.seed)).split('measure') });
      } catch {
        continue;
      }
      for (const [name, value] of Object.entries(values)) out.push({ setting: row.setting, name, n: row.n, rep: row.rep, value: Number.isFinite(value) ? value : null });
    }
    return out;
  };
  return { study, lossValues, note };
}

/** The JSON contract: {"claims":[{"preset","setting","loss","theory","summary","slope","ci","verdict"}, …]} plus details. */
export function reproductionJSON(r: Reproduction): Record<string, unknown> {
  return {
    claims: r.claims.map((c) => ({
      preset: c.preset, setting: c.setting, loss: c.loss, theory: c.theory, summary: c.summary, slope: c.slope, ci: c.ci, verdict: c.verdict,
      kind: c.kind, reason: c.reason, meanSlope: c.meanSlope, meanCi: c.meanCi, medianSlope: c.medianSlope, medianCi: c.medianCi,
      localSlopes: c.localSlopes, bestModel: c.bestModel, nMin: c.nMin, nMax: c.nMax, reps: c.reps, ...(c.aboveOne ? { aboveOne: c.aboveOne } : {}), ...(c.farFits ? { farFits: c.farFits } : {}),
    })),
    presets: r.presets,
    rule: r.rule,
    ...(r.timing ? { timing: r.timing } : {}),
  };
}

const MINUS = '\u2212';
function num(v: number | null | undefined, d = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return v < 0 ? `${MINUS}${Math.abs(v).toFixed(d)}` : v.toFixed(d);
}
function ci(c: [number, number] | null): string {
  return c ? `[${num(c[0])}, ${num(c[1])}]` : '—';
}
function theoryText(c: ClaimRow): string {
  if (c.kind === 'slow') return 'slower than any polynomial';
  if (c.kind === 'plateau' || (c.kind === null && c.theory === 0)) return 'no convergence';
  return c.theory === null ? '—' : `n^${num(c.theory, 3).replace(/0+$/, '')}`;
}

/** Side-by-side comparisons (issue 15 item 5): [title, [preset, setting, loss][]]. */
export const COMPARISONS: { name: string; title: string; panels: [string, string, string][] }[] = [
  { name: 'compare-lse-linear-gelu', title: 'P3: linear experts (slower than any polynomial) against GELU experts (polynomial), over-specified', panels: [['lse-linear', 'over', 'D2strong'], ['lse-gelu', 'over', 'D2strong'], ['lse-linear', 'over', 'param:a'], ['lse-gelu', 'over', 'param:a']] },
  { name: 'compare-multinomial-vanishing', title: 'P2: vanishing slope under the softmax gate (slower than any polynomial) against the modified gate (polynomial), over-specified', panels: [['multinomial-softmax-vanishing', 'over', 'D2'], ['multinomial-modified-vanishing', 'over', 'D2strong'], ['multinomial-softmax-vanishing', 'over', 'param:b'], ['multinomial-modified-vanishing', 'over', 'param:b']] },
  { name: 'compare-temperature-activation', title: 'P4: temperature gate (σ = identity) against the activation gate (σ = tanh), same parameters', panels: [['temperature', 'exact', 'D1'], ['activation', 'exact', 'D1'], ['temperature', 'over', 'D2'], ['activation', 'over', 'D2']] },
  { name: 'compare-local-multinomial', title: 'P2 minimax: worst case over local alternatives b₂ = ε_n → 0 (softmax gate against the modified gate), beside the fixed vanishing truth', panels: [['multinomial-local', 'over-local', 'cell:b'], ['multinomial-modified-local', 'over-local', 'cell:b'], ['multinomial-softmax-vanishing', 'over', 'cell:b'], ['multinomial-modified-vanishing', 'over', 'cell:b']] },
  { name: 'compare-local-lse', title: 'P3 minimax: worst case over split-intercept local alternatives (linear against GELU experts), beside the fixed-truth over-specified fits', panels: [['lse-linear-local', 'split-local', 'cell:b'], ['lse-gelu-local', 'split-local', 'cell:b'], ['lse-linear', 'over', 'cell:a'], ['lse-gelu', 'over', 'cell:a']] },
  { name: 'compare-topk-kbar', title: 'P1: K̄ = 2 below the bound (no convergence) against K̄ = 3 at the bound', panels: [['topk-over-small', 'over-kbar2', 'hellinger'], ['topk-over-small', 'over-kbar3', 'hellinger']] },
  { name: 'compare-softmax-over-bound', title: 'P0 over-specified: compact Θ (gateBound 50) against an unbounded Θ', panels: [['softmax-over', 'over3', 'D2'], ['softmax-over', 'over3-free', 'D2'], ['softmax-over', 'over3', 'param:beta1'], ['softmax-over', 'over3-free', 'param:beta1']] },
];

/** Write reproduction.json, reproduction.md and the figures into out. */
export async function writeReproduction(out: string, options: { presets?: string[]; profile?: string; bootstrap?: number; png?: boolean; wallSeconds?: number; note?: string; recompute?: string[] } = {}): Promise<{ json: string; md: string; figures: string[]; reproduction: Reproduction }> {
  const { reproduction: r, curves } = collectReproduction(out, options);
  mkdirSync(join(out, 'figures'), { recursive: true });
  const figures: string[] = [];
  const png = options.png ?? true;
  const writeFig = async (name: string, spec: TopLevelSpec): Promise<string> => {
    const svg = await renderSVG(spec);
    const svgPath = join(out, 'figures', `${name}.svg`);
    writeFileSync(svgPath, svg);
    figures.push(svgPath);
    if (png) {
      const pngPath = join(out, 'figures', `${name}.png`);
      writeFileSync(pngPath, await svgToPNG(svg));
      figures.push(pngPath);
      return pngPath;
    }
    return svgPath;
  };
  const figOf = new Map<string, string>();
  for (const [p, { store, curves: cs }] of curves) {
    for (const s of store.settings) {
      const sc = cs.filter((c) => c.setting === s.name);
      if (!sc.length) continue;
      figOf.set(`${p}\u0000${s.name}`, await writeFig(`${p}-${s.name}`, figureSpec(sc, store)));
    }
  }
  const compFigs: { title: string; path: string }[] = [];
  for (const cmp of COMPARISONS) {
    const panels: Record<string, unknown>[] = [];
    for (const [p, s, l] of cmp.panels) {
      const e = curves.get(p);
      const c = e?.curves.find((x) => x.setting === s && x.loss === l);
      if (e && c) {
        const spec = panelSpec(c, e.store) as { title: { text: string } };
        spec.title.text = `${p} · ${s} · ${l}`;
        panels.push(spec);
      }
    }
    if (panels.length < 2) continue;
    const spec = { ...figureSpec([], { name: cmp.name } as ResolvedStudy, 2), columns: 2, concat: panels, title: { text: cmp.title, fontSize: 14 } } as unknown as TopLevelSpec;
    compFigs.push({ title: cmp.title, path: await writeFig(cmp.name, spec) });
  }
  const json = join(out, 'reproduction.json');
  writeFileSync(json, JSON.stringify(reproductionJSON(r), null, 2) + '\n');
  const md = join(out, 'reproduction.md');
  writeFileSync(md, reproductionMarkdown(r, { figOf, compFigs, out, ...(options.wallSeconds !== undefined ? { wallSeconds: options.wallSeconds } : {}), ...(options.note ? { note: options.note } : {}) }));
  return { json, md, figures, reproduction: r };
}

/** The rows of math-spec §7 and the preset settings that test them (null: no preset covers the row). */
export const SPEC_ROWS: { row: string; theory: string; tests: [string, string][] | null; note?: string }[] = [
  { row: 'P0 softmax, Gaussian linear (ex)', theory: 'density, masses, every parameter n^−1/2', tests: [['softmax-exact', 'exact']] },
  { row: 'P0 (ov), cell size m = 2', theory: 'density n^−1/2; β₁, b n^−1/8; a, ν n^−1/4', tests: [['softmax-over', 'over3'], ['softmax-over', 'over3-free']] },
  { row: 'P0 (ov), cell size m = 3', theory: 'β₁, b n^−1/12; a, ν n^−1/6', tests: [['softmax-over', 'over4']], note: 'only D2 and the density are measured (the cells of k = 4 fits are 3 or 2 + 2 depending on the replicate)' },
  { row: 'P1 top-K (ex)', theory: 'parametric', tests: [['topk-exact', 'exact']] },
  { row: 'P1 top-K (ov), K̄ ≥ max Σ|A|', theory: 'as P0 (ov) per active cell', tests: [['topk-over', 'over-kbar3'], ['topk-over-small', 'over-kbar3']] },
  { row: 'P1 top-K (ov), K̄ below the bound', theory: 'the density does not converge', tests: [['topk-over-small', 'over-kbar2']] },
  { row: 'P2 MLMoE, slopes ≠ 0 (ex/ov)', theory: 'n^−1/2 / n^−1/4', tests: [['multinomial-softmax', 'exact'], ['multinomial-softmax', 'over']] },
  { row: 'P2 MLMoE, some slope = 0 (softmax gate)', theory: 'parameters slower than any polynomial', tests: [['multinomial-softmax-vanishing', 'exact'], ['multinomial-softmax-vanishing', 'over']], note: 'fixed truth: the pointwise rate' },
  { row: 'P2 MLMoE, some slope = 0, minimax (local alternatives)', theory: 'worst-case parameter risk slower than any polynomial', tests: [['multinomial-local', 'exact-local'], ['multinomial-local', 'over-local']], note: 'truths b₂ = ε_n → 0 around the vanishing slope; worst case over 2 truths per n' },
  { row: 'P2 modified gate M(x)', theory: 'n^−1/2 / n^−1/4', tests: [['multinomial-modified-vanishing', 'exact'], ['multinomial-modified-vanishing', 'over'], ['multinomial-modified-local', 'exact-local'], ['multinomial-modified-local', 'over-local']], note: 'the -local settings: the same local alternatives as multinomial-local' },
  { row: 'P3 LSE, strongly identifiable h', theory: 'n^−1/2 / n^−1/4', tests: [['lse-gelu', 'exact'], ['lse-gelu', 'over'], ['lse-sigmoid', 'exact'], ['lse-sigmoid', 'over'], ['lse-gelu-local', 'split-local']], note: 'lse-gelu-local: the split-intercept local alternatives of lse-linear-local' },
  { row: 'P3 LSE, linear h', theory: 'slower than any polynomial', tests: [['lse-linear', 'exact'], ['lse-linear', 'over']], note: 'fixed truth: the pointwise rate' },
  { row: 'P3 LSE, linear h, minimax (local alternatives)', theory: 'worst-case parameter risk slower than any polynomial', tests: [['lse-linear-local', 'split-local']], note: 'a duplicated expert whose intercepts split by ±ε_n; worst case over 2 truths per n' },
  { row: 'P4 dense-to-sparse with τ', theory: 'TV n^−1/2; parameters slower than any polynomial', tests: [['temperature', 'exact'], ['temperature', 'over']], note: 'no local-alternative preset: along the scale orbit (β₁, β₀, τ) → c(β₁, β₀, τ) every truth is the same model in canonical form, so such a family is refused (settings[i].truth.moves); see the local-alternatives section' },
  { row: 'P4 activation gate (ex)', theory: 'n^−1/2 (β₁, τ and experts)', tests: [['activation', 'exact']] },
  { row: 'P4 activation gate (ov)', theory: 'n^−1/2 … n^−1/4', tests: [['activation', 'over']] },
];

function minutes(sec: number): string {
  return sec >= 120 ? `${(sec / 60).toFixed(1)} min` : `${sec.toFixed(0)} s`;
}
function pct(x: number): string {
  return `${Math.round(100 * x)} %`;
}

/** The paragraph on the run's wall time, throughput and the machine (from the stores). */
export function timingText(t: RunTiming | undefined): string[] {
  if (!t || !t.jobs) return ['No jobs stored yet.'];
  const lines: string[] = [];
  lines.push(`${t.jobs} jobs finished between ${t.firstFinished} and ${t.lastFinished} (span ${minutes(t.spanSeconds)}); without the pauses ${t.pauses.length ? `(${t.pauses.map((p) => `${minutes(p.seconds)} after ${p.from}`).join(', ')})` : '(none)'} the run was busy for **${minutes(t.activeSeconds)}: ${t.jobsPerSecond.toFixed(2)} jobs/s**. The per-job times add up to ${t.computeSeconds.toFixed(0)} s, ${t.parallelism.toFixed(2)}× the busy wall time (about the worker count when every worker was busy).`);
  if (t.laterRoundRatio !== null) {
    const r = t.laterRoundRatio;
    lines.push(`The same jobs (same preset, setting and n) took ${r.toFixed(2)}× as long in their last replicate round as in the first (median over the groups)${r > 1.3 ? ': the machine was more loaded later in the run (it was shared), so the wall time overstates the cost on an idle machine' : r < 0.77 ? ': the machine was more loaded early in the run (it was shared), so the wall time overstates the cost on an idle machine' : ': no sign of a change of load during the run'}.`);
  }
  lines.push('Per-job seconds are wall-clock times inside a worker: on a shared machine they include the wait for a core. The stores do not record the machine\'s load; the note above says what the machine was doing, when given.');
  return lines;
}

/** The markdown report: status of the run, the verdict table, the rule, and the figures. */
export function reproductionMarkdown(r: Reproduction, ctx: { figOf: Map<string, string>; compFigs: { title: string; path: string }[]; out: string; wallSeconds?: number; note?: string }): string {
  const rel = (p: string): string => relative(ctx.out, p);
  const planned = r.presets.reduce((s, p) => s + p.planned, 0);
  const ok = r.presets.reduce((s, p) => s + p.ok, 0);
  const failed = r.presets.reduce((s, p) => s + p.failed, 0);
  const cpu = r.presets.reduce((s, p) => s + p.computeSeconds, 0);
  const count = (v: string): number => r.claims.filter((c) => c.verdict === v).length;
  const lines: string[] = [];
  lines.push('# Reproduction of the papers\' claims', '');
  lines.push(`Generated by \`moelab study reproduce\` from the study stores under \`run/\`. ${ok + failed} of ${planned} jobs stored (${ok} ok, ${failed} failed, ${planned - ok - failed} missing); ${cpu.toFixed(0)} s of compute in the stored jobs${ctx.wallSeconds !== undefined ? `; wall time of this command ${ctx.wallSeconds.toFixed(0)} s` : ''}.`);
  if (ctx.note) lines.push('', ctx.note);
  lines.push('', `Verdicts: ${count('reproduced')} reproduced, ${count('contradicted')} contradicted, ${count('inconclusive')} inconclusive, ${count('not run')} not run.`, '');
  lines.push('## The run: wall time and throughput', '', ...timingText(r.timing), '');
  lines.push('| preset | profile | jobs ok / planned | failed | missing | Σ job seconds | busy wall | jobs/s | first – last finished (UTC) |', '|---|---|---|---|---|---|---|---|---|');
  for (const p of r.presets) {
    const t = p.timing;
    lines.push(`| ${p.preset} | ${p.profile} | ${p.ok} / ${p.planned} | ${p.failed} | ${p.missing} | ${p.computeSeconds.toFixed(0)} | ${t && t.jobs ? minutes(t.activeSeconds) : '—'} | ${t && t.jobs ? t.jobsPerSecond.toFixed(2) : '—'} | ${t?.firstFinished ? `${t.firstFinished.slice(11, 19)} – ${(t.lastFinished ?? '').slice(11, 19)}` : '—'} |`);
  }
  const perPreset = r.presets.reduce((a, p) => a + (p.timing?.activeSeconds ?? 0), 0);
  lines.push('', `A preset's busy wall time is the span of its own jobs' finish times without pauses (one \`study reproduce\` interleaves the presets in rounds of replicates, so this includes the other presets' stretches between its rounds only when they are shorter than a pause).${r.timing && perPreset > 1.05 * r.timing.activeSeconds ? ` Here the presets' busy times add up to ${minutes(perPreset)}, more than the whole run's ${minutes(r.timing.activeSeconds)}: some presets ran at the same time (e.g. in a second process), so the whole run's figure above is the wall time.` : ''}`, '');
  lines.push('## math-spec §7, row by row', '');
  lines.push('| §7 setting | theory | tested by | verdicts |', '|---|---|---|---|');
  for (const row of SPEC_ROWS) {
    const cell = (t: string): string => t.replace(/\|/g, '\\|'); // a | inside a table cell (Σ|A|) must be escaped
    if (!row.tests) { lines.push(`| ${cell(row.row)} | ${cell(row.theory)} | — | not tested: ${row.note ?? ''} |`); continue; }
    const cs = r.claims.filter((c) => row.tests!.some(([p, s]) => c.preset === p && c.setting === s));
    const by = (v: string): number => cs.filter((c) => c.verdict === v).length;
    const list = cs.map((c) => `${c.loss} ${c.verdict === 'reproduced' ? '✓' : c.verdict === 'contradicted' ? '✗' : c.verdict === 'not run' ? '·' : '?'}`).join(', ');
    lines.push(`| ${cell(row.row)} | ${cell(row.theory)} | ${row.tests.map(([p, s]) => `${p} · ${s}`).join(', ')} | ${by('reproduced')} reproduced, ${by('contradicted')} contradicted, ${by('inconclusive')} inconclusive${by('not run') ? `, ${by('not run')} not run` : ''}: ${list}${row.note ? ` (${row.note})` : ''} |`);
  }
  lines.push('', '✓ reproduced, ✗ contradicted, ? inconclusive, · not run.', '');
  lines.push('## Verdict rule', '', ...r.rule.split('\n').map((l) => `- ${l}`), '');
  lines.push('## Claims', '');
  lines.push('| preset · setting | loss | theory | verdict (summary: slope [95% CI]) | mean slope [CI] | median slope [CI] | local slopes per decade (q0.8) | best trend | n range | reps |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const c of r.claims) {
    const local = c.localSlopes.map((w) => num(w.slope)).join(', ') || '—';
    lines.push(`| ${c.preset} · ${c.setting} | ${c.loss} | ${theoryText(c)} | **${c.verdict}** (${c.summary}: ${num(c.slope)} ${ci(c.ci)}) | ${num(c.meanSlope)} ${ci(c.meanCi)} | ${num(c.medianSlope)} ${ci(c.medianCi)} | ${local} | ${c.bestModel ?? '—'} | ${c.nMin ?? '—'}–${c.nMax ?? '—'} | ${c.reps} |`);
  }
  const computed = r.presets.filter((p) => p.computedAtReport && (p.computedAtReport.added.length || p.computedAtReport.recomputed.length || p.computedAtReport.stale.length));
  if (computed.length) {
    lines.push('', '### Computed at report time', '', 'From the stored fitted models, with each job\'s own measure stream (exactly as the job would have):', '');
    for (const p of computed) {
      const n = p.computedAtReport!;
      for (const a of n.added) lines.push(`- ${p.preset} · ${a.setting}: ${a.losses.join(', ')} (listed by the preset, not recorded by the run)`);
      for (const a of n.recomputed) lines.push(`- ${p.preset} · ${a.setting}: ${a.losses.join(', ')} recomputed (${a.reason})`);
      for (const a of n.stale) lines.push(`- ${p.preset} · ${a.setting}: ${a.losses.join(', ')} were stored by an older measure version and need the data: reported as stored`);
    }
  }
  const missing = r.presets.filter((p) => p.missing > 0);
  if (missing.length) {
    lines.push('', '### Missing jobs', '');
    for (const p of missing) for (const m of p.missingBySetting) lines.push(`- ${p.preset} · ${m.setting}: ${m.missing} jobs missing, at n = ${m.ns.join(', ')}`);
  }
  const locals = r.claims.filter((c) => c.local);
  if (locals.length) {
    lines.push('', '## Minimax claims: local alternatives', '');
    lines.push('Settings with a `truth:` block (src/study/local-truth.ts): the truth of a job is the centre with the named fields moved by ε_{n,t} = scale_t·(n/n0)^−rate, truth t = rep mod T, and the estimator starts from the centre. The summary is the worst case over the T truths at each n (the sup of the minimax statement, math-spec §1.6); the rule is the last line of the verdict rule above. Every claim of these settings, with the worst truth\'s median loss at the largest n against its ε:', '');
    for (const c of locals) {
      const l = c.local!;
      const f = r.presets.find((p) => p.preset === c.preset)?.facts?.find((x) => x.setting === c.setting);
      lines.push(`- **${c.preset} · ${c.setting} · ${c.loss}: ${c.verdict}** (${c.summary}: ${num(c.slope)} ${ci(c.ci)}; ${l.truths} truths, ${l.reading}${l.rate ? `, ε ∝ n^−${num(l.rate, 4).replace(/0+$/, '')}` : ''}; worst truth per n ${l.worstTruth.join(' ')}). ${c.reason}. ${localCause(c, f)}`);
    }
  }
  const reasons = r.claims.filter((c) => c.verdict !== 'reproduced' && c.verdict !== 'not run');
  if (reasons.length) {
    lines.push('', '## Claims contradicted or inconclusive: why, and the run that would settle it', '');
    lines.push('Generated from the data: the rule\'s reason, the estimator\'s record in the store (fits that did not converge, sit on the gate or the expert bound, or have expert coefficients far beyond the truth\'s), the share of far fits, the summaries that disagree and the trend of the local slopes; then the cause these point to and the run that would decide. The figure is the preset\'s panel of that setting.', '');
    for (const c of reasons) {
      const fig = ctx.figOf.get(`${c.preset}\u0000${c.setting}`);
      const facts = r.presets.find((p) => p.preset === c.preset)?.facts?.find((f) => f.setting === c.setting);
      const sibling = c.loss.startsWith('param:') ? r.claims.find((x) => x.preset === c.preset && x.setting === c.setting && x.loss === `cell:${c.loss.slice(6)}`) : undefined;
      lines.push(`- **${c.preset} · ${c.setting} · ${c.loss}: ${c.verdict}.** ${c.reason}. ${diagnose(c, facts, sibling)}${fig ? ` Figure: [${c.preset}-${c.setting}](${rel(fig)}).` : ''}`);
    }
  }
  if (ctx.compFigs.length) {
    lines.push('', '## Side by side', '');
    for (const f of ctx.compFigs) lines.push(`### ${f.title}`, '', `![${f.title}](${rel(f.path)})`, '');
  }
  lines.push('', '## Figures per preset', '', 'Median loss with 25–75 % and 10–90 % bands and the mean against n (log-log), the OLS line of the mean, and the theoretical slope (dashed).', '');
  for (const [key, path] of ctx.figOf) {
    const [p, s] = key.split('\u0000');
    lines.push(`### ${p} · ${s}`, '', `![${p} ${s}](${rel(path)})`, '');
  }
  return lines.join('\n') + '\n';
}

/**
 * Why a claim is not reproduced, from the data, and what run would decide it. The causes are tested in
 * a fixed order and the first that the data support is named (each test is stated in the text it writes).
 */
export function diagnose(c: ClaimRow, facts?: SettingFacts, cellSibling?: ClaimRow): string {
  const parts: string[] = [];
  const theory = c.theory;
  const ls = c.localSlopes.map((w) => w.slope).filter(Number.isFinite);
  const last = ls.length ? ls[ls.length - 1] : null;
  const lastWin = c.localSlopes.length ? c.localSlopes[c.localSlopes.length - 1] : null;
  // what the store says about the fits
  let far = false;
  let blowup = false;
  let stuck = false;
  if (facts && facts.ok > 0) {
    const f = facts;
    if (f.nonConverged > 0) {
      const limit = f.nonConverged - f.ridge;
      stuck = limit / f.ok >= 0.2;
      parts.push(`${f.nonConverged} of ${f.ok} fits (${pct(f.nonConverged / f.ok)}) are reported not converged, ${f.nonConvergedLarge} of the ${f.largeJobs} at n ≥ ${f.nLargeFrom}${f.ridge ? `; ${f.ridge === f.nonConverged ? 'all' : f.ridge} of them ended on a flat ridge (the gradient still positive along a flat direction after the finish: typical of over-specified fits, and of separation when coefficients run away)` : ''}${limit > 0 ? `; ${limit} stopped at the iteration or time limit` : ''}.`);
    }
    if (f.varianceFloor > 0) parts.push(`${f.varianceFloor} of ${f.ok} fits have an expert variance at the floor (degenerate fits: an expert on too few distinct points).`);
    if (f.gateBound !== null && f.atBound > 0) parts.push(`${f.atBound} of ${f.ok} fits (${pct(f.atBound / f.ok)}) have a gate coefficient on the bound ${f.gateBound}.`);
    if (f.expertBound !== null && f.atExpertBound > 0) parts.push(`${f.atExpertBound} of ${f.ok} fits (${pct(f.atExpertBound / f.ok)}) have an expert coefficient on the bound ${f.expertBound}.`);
    if (f.expertBound !== null && f.beyondExpertBound > 0) parts.push(`${f.beyondExpertBound} of ${f.ok} fits (${pct(f.beyondExpertBound / f.ok)}) have an expert coefficient beyond the bound ${f.expertBound} in the stored model's units (the fit honoured the box in other units, e.g. standardised ones).`);
    if (f.expertFar > 0) {
      blowup = f.smallJobs > 0 && f.expertFarSmall / f.smallJobs >= 0.2;
      parts.push(`${f.expertFar} of ${f.ok} fits have an expert coefficient above 10 × max(1, the truth's largest ${num(f.trueExpertMax, 1)}) (largest ${f.expertMax.toExponential(1)}), ${f.expertFarSmall} of the ${f.smallJobs} at n ≤ ${f.nSmallTo}: ${boundsText(f)}.`);
    }
  }
  if (c.aboveOne) {
    const a = c.aboveOne;
    far = a.large >= 0.2;
    parts.push(`The loss exceeds 1 in ${pct(a.small)} of the fits at n ≤ ${a.nSmallTo} and ${pct(a.large)} at n ≥ ${a.nLargeFrom}.`);
  }
  if (c.meanSlope !== null && c.medianSlope !== null && Math.abs(c.meanSlope - c.medianSlope) > 0.2) {
    parts.push(`The mean slope (${num(c.meanSlope)}) and the median slope (${num(c.medianSlope)}) differ by more than 0.2: a few replicates far from the rest dominate the mean.`);
  }
  if (ls.length >= 2) {
    const spread = Math.max(...ls) - Math.min(...ls);
    parts.push(`Local slopes per decade ${ls.map((v) => num(v)).join(' → ')}${spread > 0.5 ? ' (unstable across decades)' : last! > ls[0] + 0.1 ? ' (flattening toward large n)' : last! < ls[0] - 0.1 ? ' (steepening toward large n)' : ''}${lastWin && theory !== null && c.kind === 'rate' ? `; the last decade (n ${lastWin.nFrom}–${lastWin.nTo}) alone gives ${num(last)} against the theory ${num(theory, 3)}` : ''}.`);
  }
  // the cause, and the run that would decide
  const width = c.ci ? c.ci[1] - c.ci[0] : null;
  const reps = c.reps;
  if (c.local) {
    parts.push(localCause(c, facts));
  } else if (c.kind === 'slow' && c.verdict === 'contradicted') {
    if (blowup || stuck) parts.push(`The estimator's record above (${[blowup ? 'runaway expert coefficients at small n' : '', stuck ? 'fits stopped at the iteration or time limit' : ''].filter(Boolean).join(', ')}) already makes the measured slope unreliable: ${[blowup ? (facts?.expertBound != null ? expertBoxRun(facts) : 'a compact Θ for the experts') : '', stuck ? 'a larger iteration limit' : ''].filter(Boolean).join(' and ')} come${blowup && stuck ? '' : 's'} first.`);
    parts.push(`Cause: the estimator converges polynomially at this one fixed truth. The slow-rate result (math-spec §1.6) is a minimax lower bound — the infimum over estimators of the supremum over mixing measures in the class — so it says that some truths near this one are slow at each n, not that the MLE at a fixed truth is; a fixed-truth run measures the pointwise rate${c.preset === 'temperature' ? ', here of β/τ at τ̂ = τ* (the identified quantity; math-spec §6.1 [REC]), which the scale invariance leaves as a softmax-type parameter' : ''}. Run that would decide: truths that approach the degenerate configuration as n grows (local alternatives, e.g. the vanishing parameter at n^−1/4, one truth per n) beside the same design for the polynomial counterpart.`);
  } else if (c.loss.startsWith('param:') && cellSibling && cellSibling.verdict === 'reproduced') {
    parts.push(`Cause: the statistic — ${c.loss} is the largest error over the fitted atoms, unweighted, which the theorem does not bound (an atom of small weight may wander); the theorem bounds the weighted cell sums, and ${cellSibling.loss} on the same fits is reproduced (${cellSibling.summary}: ${num(cellSibling.slope)} ${ci(cellSibling.ci)}). Nothing to rerun: read ${cellSibling.loss}.`);
  } else if (c.kind === 'rate' && facts && onBound(facts) !== null && c.slope !== null && theory !== null && c.slope > theory) {
    const b = onBound(facts)!;
    parts.push(`Cause: the bound on Θ — ${pct(b.share)} of the fits have ${b.block === 'gate' ? 'a gate' : 'an expert'} coefficient on the bound ${b.bound}, where the error cannot shrink, and the 0.8-quantile reads the upper fifth of the fits. Run that would decide: the same design with a larger bound (or none) beside this one, to separate fits that want a larger coefficient from the truth's neighbourhood.`);
  } else if (blowup && c.slope !== null && theory !== null && c.slope >= theory - 0.2) {
    parts.push(`Cause: the estimator — runaway expert coefficients (quasi-separation, ${facts!.expertFarSmall} of the ${facts!.smallJobs} fits at n ≤ ${facts!.nSmallTo}) make the fits of that range unreliable; the slope is not steeper than the theory, so they do not explain it alone. Run that would decide: ${expertBoxRun(facts)} and n from 1e3 to 1e6.`);
  } else if (blowup && last !== null && theory !== null && Math.abs(last - theory) <= 0.3) {
    parts.push(`Cause: too small n — the small-n fits with runaway expert coefficients (quasi-separation) steepen the curve, while the last decade already agrees with the theory. Run that would decide: n from 1e3 to 1e6 (the same 3 decades shifted up one), or ${facts?.expertBound != null ? expertBoxRun(facts) : 'a bound on the expert coefficients'}.`);
  } else if (blowup) {
    parts.push(`Cause: the estimator — runaway expert coefficients at small n (quasi-separation) make the small-n losses huge and the slope too steep; the last decade does not yet agree with the theory. Run that would decide: ${expertBoxRun(facts)} and n up to 1e6.`);
  } else if (stuck) {
    parts.push(`Cause: the estimator — ${pct((facts!.nonConverged - facts!.ridge) / facts!.ok)} of the fits stopped at the iteration or time limit, so the losses are those of unfinished fits. Run that would decide: the same design with a larger iteration limit (or time limit) and a tighter check that the likelihood is no longer rising.`);
  } else if (far && c.kind === 'rate' && c.farFits && Number.isFinite(c.farFits.medianError) && c.farFits.exponent > 1) {
    const f = c.farFits;
    const rate = 1 / (2 * f.exponent);
    const C = f.medianError * f.medianN ** rate;
    const nBelow = C ** (2 * f.exponent);
    parts.push(`In the ${f.count} far fits at n ≥ ${f.nFrom} the ${f.block} term makes ${pct(f.share)} of the loss; their median largest ${f.block} error is ${num(f.medianError)} (exponent ${num(f.exponent, 0)} in its cell, rate n^−1/${num(2 * f.exponent, 0)}). Cause: a large constant — at n ≈ ${f.medianN} that error is C·n^−1/${num(2 * f.exponent, 0)} with C ≈ ${num(C, 1)}, so its term ≈ w·C^${num(f.exponent, 0)}·n^−1/2 (w the cell's weight) stays above w at n below ≈ ${nBelow.toExponential(0)}; the loss is the ${num(f.exponent, 0)}th power of a slowly shrinking error, and its upper quantile is correspondingly noisy. Run that would decide: far more replicates (the interval of a 4th-power loss narrows slowly), or the per-parameter statistic cell:${f.block} on the same fits, whose rate this is.`);
  } else if (far && c.kind === 'rate') {
    parts.push(`Cause: the estimator (local maxima / a wandering atom) or a large constant — ${pct(c.aboveOne!.large)} of the fits at the largest n are still far (loss > 1), and the 0.8-quantile reads them; whether their share falls with n is what the claim turns on. Run that would decide: more tries per fit (restarts) to separate local maxima from the MLE, and n up to 1e6 with ≥ 40 replicates.`);
  } else if (width !== null && width > 0.5) {
    const factor = Math.ceil((width / 0.4) ** 2);
    parts.push(`Cause: too few replicates for the spread of this loss (interval ${num(width)} wide with ${reps} per n). Run that would decide: about ${factor}× the replicates (${factor * reps} per n; the width falls like 1/√replicates), or one more decade of n at the same cost.`);
  } else if (c.verdict === 'inconclusive') {
    parts.push('Cause: the interval is narrow but straddles the threshold. Run that would decide: one more decade of n (or 4× the replicates).');
  } else if (c.verdict === 'contradicted' && c.kind === 'rate') {
    parts.push(`Cause: not visible in the estimator's record (no runaway coefficients, few far fits); the quantile falls more slowly than the theorem allows on this range, which a large constant (pre-asymptotic) or the claim itself can do. Run that would decide: one more decade of n; the last decade's local slope is the best current estimate.`);
  }
  if (c.bestModel) parts.push(`Best trend model of the 0.8-quantile: ${c.bestModel}.`);
  return parts.join(' ');
}

/** Which blocks of Θ the setting bounds, and by what (its `gateBound` and `expertBound`). */
function boundsText(f: SettingFacts): string {
  if (f.gateBound !== null && f.expertBound !== null) return `the gate is bounded by ${f.gateBound} and the experts by ${f.expertBound} (\`gateBound\`, \`expertBound\`)`;
  if (f.gateBound !== null) return `only the gate is bounded (by ${f.gateBound}), the experts are not (Θ is compact in the theorems)`;
  if (f.expertBound !== null) return `only the experts are bounded (by ${f.expertBound}), the gate is not (Θ is compact in the theorems)`;
  return 'neither the gate nor the experts are bounded (Θ is compact in the theorems)';
}

/** The bounded block with the larger share of fits on its bound, when that share is ≥ 10 %. */
function onBound(f: SettingFacts): { block: 'gate' | 'expert'; bound: number; share: number } | null {
  const ok = Math.max(f.ok, 1);
  const gate = f.gateBound !== null ? { block: 'gate' as const, bound: f.gateBound, share: f.atBound / ok } : null;
  const expert = f.expertBound !== null ? { block: 'expert' as const, bound: f.expertBound, share: f.atExpertBound / ok } : null;
  const best = gate && expert ? (expert.share > gate.share ? expert : gate) : gate ?? expert;
  return best && best.share >= 0.1 ? best : null;
}

/** The run that bounds the experts, given what the setting already bounds. */
function expertBoxRun(f: SettingFacts | undefined): string {
  if (!f || f.expertBound === null) return 'a compact Θ for the experts (`expertBound`, a bound on their coefficients as gateBound is for the gate: EM\'s multinomial experts and least squares take it)';
  if (f.beyondExpertBound > 0) return `the expert bound ${f.expertBound} applied in the model's units`;
  return `a tighter expert bound than ${f.expertBound}`;
}

/** The cause paragraph of a local-alternatives claim: what the worst case says against the two predictions. */
function localCause(c: ClaimRow, facts: SettingFacts | undefined): string {
  const l = c.local!;
  const blowup = facts !== undefined && facts.smallJobs > 0 && facts.expertFarSmall / facts.smallJobs >= 0.2;
  // a density or regression distance is not a parameter error: no comparison with ε
  if (!FROM_MODEL.has(c.loss.split(':')[0])) return c.verdict === 'reproduced' ? '' : 'A distance between the fitted and the true model, not a parameter error: the alternatives do not enter it.';
  const ratio = l.lastEpsilon > 0 ? l.lastMedian / l.lastEpsilon : NaN;
  const level = `At n = ${c.nMax} the worst truth's median loss is ${num(l.lastMedian, 3)} against its ε = ${num(l.lastEpsilon, 3)} (ratio ${num(ratio)}).`;
  const wide = c.ci !== null && c.ci[1] - c.ci[0] > 0.5;
  if (blowup) return `${level} Cause: the estimator — runaway expert coefficients make the worst case (the upper fifth of the fits of one truth) a record of quasi-separation, not of the alternatives; with both gates alike this says nothing about the PDE. Run that would decide: ${expertBoxRun(facts)}, then the same local alternatives.`;
  if (wide) return `${level} Cause: too few replicates per truth for the spread of this loss (${c.reps} per truth and n). Run that would decide: about ${Math.ceil(((c.ci![1] - c.ci![0]) / 0.4) ** 2)}× the replicates.`;
  if (c.kind === 'slow' && c.verdict === 'contradicted') return `${level} Cause: the estimator separates the alternatives from the centre at a polynomial rate in this direction, so this construction does not show the lower bound (another direction, or smaller ε, may). Run that would decide: a family that shrinks faster (a larger \`rate\`) or a direction along which the density moves at higher order.`;
  return `${level} ${Number.isFinite(ratio) && ratio > 0.5 ? 'The error is of the size of ε itself: the fits do not separate the alternatives from the centre.' : 'The error is well below ε: the fits separate the alternatives.'}`;
}

const README_START = '<!-- reproduction:start -->';
const README_END = '<!-- reproduction:end -->';

/** The compact verdict table for the README (between the reproduction markers). */
export function readmeTable(r: Reproduction, source: string): string {
  const rows = r.claims.map((c) => `| ${c.preset} · ${c.setting} | ${c.loss} | ${theoryText(c)} | ${c.verdict} | ${c.slope === null ? '—' : `${num(c.slope)} ${ci(c.ci)}`} | ${c.nMin ?? '—'}–${c.nMax ?? '—'}, ${c.reps} reps |`);
  const ok = r.presets.reduce((a, p) => a + p.ok, 0);
  const planned = r.presets.reduce((a, p) => a + p.planned, 0);
  return [
    README_START,
    `Generated from \`${source}\` by \`moelab study reproduce --readme README.md\` (${ok}/${planned} jobs of the run stored; slope = the 0.8-quantile's, the summary the verdict rule reads; per-claim details, figures and the rule in \`docs/reproduction/reproduction.md\`).`,
    '',
    '| preset · setting | loss | theory | verdict | slope [95% CI] | n, replicates |',
    '|---|---|---|---|---|---|',
    ...rows,
    README_END,
  ].join('\n');
}

/** Replace the README's reproduction block (between the markers) with the table. */
export function updateReadme(path: string, r: Reproduction, source: string): boolean {
  const text = readFileSync(path, 'utf8');
  const a = text.indexOf(README_START);
  const b = text.indexOf(README_END);
  if (a < 0 || b < a) throw new OptionError(`${path}: no ${README_START} … ${README_END} block to replace`);
  const next = text.slice(0, a) + readmeTable(r, source) + text.slice(b + README_END.length);
  if (next === text) return false;
  writeFileSync(path, next);
  return true;
}

/** Read a reproduction.json back (for the README table). */
export function readReproduction(path: string): { claims: ClaimRow[] } {
  return JSON.parse(readFileSync(path, 'utf8')) as { claims: ClaimRow[] };
}
