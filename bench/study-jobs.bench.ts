/**
 * Issue 16 item 6 (study throughput): the time split of real study jobs of the over-specified
 * presets at their medium profile, stage by stage as `runJob` runs them (study/job.ts): simulate,
 * fit, measure (each base loss once, as `measureAll` caches them) and store (one row written to a
 * throw-away store). Target: losses and distances cost < 10 % of a job.
 *
 * Each case runs replicate 0 of every setting at every third size of the medium profile (4 of its
 * 12 sizes, 1e2…1e5: every size has the same number of jobs in the plan, so this is an even sample
 * of the profile). Diagnostics, in CPU time (process.cpuUsage: comparable under load):
 *   jobsPerCpuS  jobs / CPU s of the sample (one thread);
 *   fitPct, measurePct, simulatePct, storePct  shares of the sample's CPU time;
 *   maxJobMeasurePct  the largest measure share of a single job (cheap fits at small n), and
 *     maxJob its setting@n;
 *   top  the costliest loss and its share.
 * Per-job shares of millisecond stages are noisy on a loaded machine (one GC pause doubles a
 * measure): the measure of every job is repeated REPEAT times and a fit shorter than 0.1 s as
 * well, keeping the smallest CPU time of each (both are deterministic: same values every time).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchCase } from './types.js';
import { loadStudy, presetPath, type ResolvedStudy } from '../src/study/config.js';
import { planJobs, type Job } from '../src/study/plan.js';
import { simulateJob } from '../src/study/job.js';
import { estimatorEntry } from '../src/study/estimators.js';
import { measureEntry } from '../src/study/measures.js';
import { StudyStore } from '../src/study/store.js';
import { MixtureOfExperts } from '../src/model/model.js';
import { Rng, deriveSeed } from '../src/numeric/rng.js';

const PRESETS = ['softmax-over', 'topk-over', 'activation', 'lse-linear', 'multinomial-softmax'];

interface State { study: ResolvedStudy; truth: MixtureOfExperts; jobs: Job[] }

function setup(preset: string): () => State {
  return () => {
    const study = loadStudy(readFileSync(presetPath(preset), 'utf8'), { profile: 'medium' });
    const ns = study.ns.filter((_, i) => i % 3 === 2);
    return { study, truth: MixtureOfExperts.fromJSON(study.truth, 'truth'), jobs: planJobs(study).filter((j) => j.rep === 0 && ns.includes(j.n)) };
  };
}

const REPEAT = 3;

const cpuS = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

function run(s: unknown): unknown {
  const { study, truth, jobs } = s as State;
  const dir = mkdtempSync(join(tmpdir(), 'moelab-bench-jobs-'));
  const T = { simulate: 0, fit: 0, measure: 0, store: 0 };
  const perLoss: Record<string, number> = {};
  let maxShare = 0;
  let maxJob = '';
  try {
    const store = StudyStore.create(dir, study);
    for (const job of jobs) {
      const setting = study.settings.find((x) => x.name === job.setting);
      if (!setting) throw new Error(`no setting ${job.setting}`);
      let t = cpuS();
      const data = simulateJob(study, job);
      T.simulate += cpuS() - t;
      const est = estimatorEntry(setting.estimator);
      if (!est) throw new Error(`no estimator ${setting.estimator}`);
      const fitOnce = (): ReturnType<typeof est.run> => est.run({
        spec: { gate: setting.gate, experts: setting.experts, k: setting.k, d: study.d }, data, truth, init: setting.init,
        restarts: setting.restarts, tol: setting.tol, maxIter: setting.maxIter, seed: deriveSeed(BigInt(job.seed), 'fit'), options: setting.options,
      });
      t = cpuS();
      const fit = fitOnce();
      let jobFit = cpuS() - t;
      for (let r = 1; r < REPEAT && jobFit < 0.1; r++) {
        t = cpuS();
        fitOnce();
        jobFit = Math.min(jobFit, cpuS() - t);
      }
      T.fit += jobFit;
      const losses: Record<string, number> = {};
      let jobMeasure = 0;
      const seen = new Set<string>();
      for (const l of setting.losses) {
        const key = `${l.base}\u0000${JSON.stringify(l.options)}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const entry = measureEntry(l.base);
        if (!entry) throw new Error(`no measure ${l.base}`);
        let dt = Infinity;
        for (let r = 0; r < REPEAT; r++) {
          const rng = new Rng(BigInt(job.seed)).split('measure');
          t = cpuS();
          losses[l.name] = entry.fn({ fit: fit.model, truth, data, design: study.x, rng: rng.split('measure', l.base), options: l.options }).value;
          dt = Math.min(dt, cpuS() - t);
        }
        jobMeasure += dt;
        perLoss[l.base] = (perLoss[l.base] ?? 0) + dt;
      }
      T.measure += jobMeasure;
      if (jobMeasure / (jobFit + jobMeasure) > maxShare) {
        maxShare = jobMeasure / (jobFit + jobMeasure);
        maxJob = `${job.setting}@${job.n}`;
      }
      t = cpuS();
      store.write({
        jobId: job.id, setting: job.setting, n: job.n, rep: job.rep, seed: job.seed, status: 'ok', error: null, objectiveName: est.objective, objectiveValue: fit.objective,
        iterations: fit.iterations, converged: fit.converged, seconds: 0, model: JSON.stringify(fit.model.toJSON()), losses, warnings: null,
      });
      T.store += cpuS() - t;
    }
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const total = T.simulate + T.fit + T.measure + T.store;
  const pct = (v: number): number => (100 * v) / total;
  const [topName, topS] = Object.entries(perLoss).sort((a, b) => b[1] - a[1])[0] ?? ['none', 0];
  return {
    jobs: jobs.length, jobsPerCpuS: jobs.length / total, fitPct: pct(T.fit), measurePct: pct(T.measure),
    simulatePct: pct(T.simulate), storePct: pct(T.store), maxJobMeasurePct: 100 * maxShare, maxJob, top: `${topName}:${pct(topS).toFixed(2)}%`,
  };
}

export const cases: BenchCase[] = PRESETS.map((p, i) => ({
  group: 'study jobs (medium profile, every 3rd n, rep 0)',
  name: p,
  baseline: i === 0,
  iterations: 1,
  setup: setup(p),
  run,
}));
