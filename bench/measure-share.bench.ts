/**
 * Issue 16 item 6: the measure share per job type. One group per (preset, setting) of the
 * over-specified presets at their medium profile; its cases, timed over the same jobs in the same run:
 *   fit             (the baseline) the setting's estimator on each job's data;
 *   measure         every base loss of the setting once per job, as `measureAll` caches them;
 *   simulate+store  the job's data and one row written to a throw-away store.
 * The ratio column of `measure` is measure / fit, so its share of a job is about ratio / (1 + ratio)
 * (simulate + store add their own ratio to the denominator). Target: losses and distances < 10 %.
 * The medians are wall times; on a loaded machine read the CPU-time diagnostics of `measure`
 * instead: measureCpuMs (each loss the smallest of 3 runs), fitCpuMs (per job the smaller of two
 * untimed setup fits when short), sharePct = measure / (fit + measure) over the jobs.
 *
 * Jobs: replicate 0 at every third size of the medium profile (4 of its 12 sizes, as
 * study-jobs.bench.ts), up to MOELAB_BENCH_MAX_N (default 2e4: the cheap fits, where the share is
 * largest; the 1e5 fits take seconds each). Diagnostics of `measure` also: the largest per-job
 * share and each loss's part of the measure time.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchCase } from './types.js';
import { loadStudy, presetPath, type ResolvedStudy } from '../src/study/config.js';
import { planJobs, type Job } from '../src/study/plan.js';
import { jobTruthJSON, simulateJob } from '../src/study/job.js';
import { estimatorEntry } from '../src/study/estimators.js';
import { measureEntry } from '../src/study/measures.js';
import { StudyStore } from '../src/study/store.js';
import { MixtureOfExperts } from '../src/model/model.js';
import type { Dataset } from '../src/model/data.js';
import { Rng, deriveSeed } from '../src/numeric/rng.js';

const PRESETS = ['softmax-over', 'topk-over', 'topk-over-small', 'activation', 'temperature', 'lse-linear', 'multinomial-softmax'];
const MAX_N = Number(process.env.MOELAB_BENCH_MAX_N ?? 2e4);

type Setting = ResolvedStudy['settings'][number];
interface JobState { job: Job; truth: MixtureOfExperts; data: Dataset; fit: MixtureOfExperts; fitMs: number }
interface State { study: ResolvedStudy; setting: Setting; jobs: JobState[] }

const cpuMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e3;
};

function fitJob(study: ResolvedStudy, setting: Setting, job: Job, truth: MixtureOfExperts, data: Dataset): MixtureOfExperts {
  const est = estimatorEntry(setting.estimator);
  if (!est) throw new Error(`no estimator ${setting.estimator}`);
  return est.run({
    spec: { gate: setting.gate, experts: setting.experts, k: setting.k, d: study.d }, data, truth, init: setting.init,
    restarts: setting.restarts, tol: setting.tol, maxIter: setting.maxIter, seed: deriveSeed(BigInt(job.seed), 'fit'), options: setting.options,
  }).model;
}

/** The unique base losses of a setting (measureAll computes each once per job). */
function baseLosses(setting: Setting): Setting['losses'] {
  const seen = new Set<string>();
  return setting.losses.filter((l) => {
    const key = `${l.base}\u0000${JSON.stringify(l.options)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const states = new Map<string, State>();

// one throw-away store per setting (a study creates its store once), removed at exit
const stores = new Map<State, StudyStore>();
let written = 0;
let storeDir: string | undefined;
function storeOf(s: State): StudyStore {
  let st = stores.get(s);
  if (!st) {
    if (!storeDir) {
      const dir = mkdtempSync(join(tmpdir(), 'moelab-bench-share-'));
      storeDir = dir;
      process.on('exit', () => {
        for (const x of stores.values()) x.close();
        rmSync(dir, { recursive: true, force: true });
      });
    }
    st = StudyStore.create(join(storeDir, String(stores.size)), s.study);
    stores.set(s, st);
  }
  return st;
}

/** The jobs of one setting with their data and a fit (made once, shared by the group's cases). */
function stateOf(preset: string, settingName: string): State {
  const key = `${preset}/${settingName}`;
  const hit = states.get(key);
  if (hit) return hit;
  const study = loadStudy(readFileSync(presetPath(preset), 'utf8'), { profile: 'medium' });
  const setting = study.settings.find((s) => s.name === settingName);
  if (!setting) throw new Error(`no setting ${settingName} in ${preset}`);
  const ns = study.ns.filter((n, i) => i % 3 === 2 && n <= MAX_N);
  const jobs = planJobs(study).filter((j) => j.setting === settingName && j.rep === 0 && ns.includes(j.n)).map((job) => {
    const truth = MixtureOfExperts.fromJSON(jobTruthJSON(study, job.setting, job.n, job.rep), 'truth');
    const data = simulateJob(study, job);
    // CPU time of the fit: the smaller of two runs when it is short (the first pays for JIT and kernels)
    let t = cpuMs();
    const fit = fitJob(study, setting, job, truth, data);
    let fitMs = cpuMs() - t;
    if (fitMs < 500) {
      t = cpuMs();
      fitJob(study, setting, job, truth, data);
      fitMs = Math.min(fitMs, cpuMs() - t);
    }
    return { job, truth, data, fit, fitMs };
  });
  const s = { study, setting, jobs };
  states.set(key, s);
  return s;
}

/** CPU ms of every base loss of a job, each the smallest of REPEAT runs (a GC pause doubles a millisecond measure). */
const REPEAT = 3;
function measureJob(s: State, j: JobState, perLoss: Record<string, number>): number {
  let total = 0;
  for (const l of baseLosses(s.setting)) {
    const entry = measureEntry(l.base);
    if (!entry) throw new Error(`no measure ${l.base}`);
    let dt = Infinity;
    for (let r = 0; r < REPEAT; r++) {
      const t = cpuMs();
      entry.fn({ fit: j.fit, truth: j.truth, data: j.data, design: s.study.x, rng: new Rng(BigInt(j.job.seed)).split('measure').split('measure', l.base), options: l.options });
      dt = Math.min(dt, cpuMs() - t);
    }
    perLoss[l.base] = (perLoss[l.base] ?? 0) + dt;
    total += dt;
  }
  return total;
}

function buildCases(): BenchCase[] {
  const out: BenchCase[] = [];
  for (const preset of PRESETS) {
    const study = loadStudy(readFileSync(presetPath(preset), 'utf8'), { profile: 'medium' });
    for (const setting of study.settings) {
      const group = `measure share per job type: ${preset} ${setting.name} (medium profile, rep 0, every 3rd n ≤ ${MAX_N})`;
      const setup = (): State => stateOf(preset, setting.name);
      out.push({
        group, name: 'fit', baseline: true, setup,
        run: (st) => {
          const s = st as State;
          for (const j of s.jobs) fitJob(s.study, s.setting, j.job, j.truth, j.data);
          return { jobs: s.jobs.length, ns: s.jobs.map((j) => j.job.n).join('/') };
        },
      });
      out.push({
        group, name: 'measure (losses + distances)', setup,
        run: (st) => {
          const s = st as State;
          const perLoss: Record<string, number> = {};
          let total = 0;
          let fits = 0;
          let maxShare = 0;
          let maxJob = '';
          for (const j of s.jobs) {
            const m = measureJob(s, j, perLoss);
            total += m;
            fits += j.fitMs;
            if (m / (m + j.fitMs) > maxShare) {
              maxShare = m / (m + j.fitMs);
              maxJob = `n=${j.job.n}`;
            }
          }
          const parts = Object.entries(perLoss).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${((100 * v) / total).toFixed(0)}%`).join(',');
          // CPU-time shares (robust to load): measure / (fit + measure), over the jobs and the largest single job
          return { measureCpuMs: total, fitCpuMs: fits, sharePct: (100 * total) / (total + fits), maxJobSharePct: 100 * maxShare, maxJob, parts };
        },
      });
      out.push({
        group, name: 'simulate + store', setup,
        run: (st) => {
          const s = st as State;
          const store = storeOf(s);
          for (const j of s.jobs) {
            simulateJob(s.study, j.job);
            store.write({
              jobId: `${j.job.id}#${written++}`, setting: j.job.setting, n: j.job.n, rep: j.job.rep, seed: j.job.seed, status: 'ok', error: null, objectiveName: null, objectiveValue: -1234.5,
              iterations: 10, converged: true, seconds: 0.1, model: JSON.stringify(j.fit.toJSON()), losses: Object.fromEntries(s.setting.losses.map((l) => [l.name, 0.1])), warnings: null,
            });
          }
          return {};
        },
      });
    }
  }
  return out;
}

export const cases: BenchCase[] = buildCases();
