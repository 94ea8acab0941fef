/**
 * Study layer: cost of one job (simulate → fit → measure) at the sizes of the softmax presets, of
 * storing rows, and of the rate computation of a full-size report. The whole-preset benchmark is the
 * CLI itself: `moelab study run --preset softmax-exact --out DIR` (see README "Studies").
 */
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchCase } from './types.js';
import { loadStudy, presetPath, type ResolvedStudy } from '../src/study/config.js';
import { planJobs, type Job } from '../src/study/plan.js';
import { runJob, type ResultRow } from '../src/study/job.js';
import { StudyStore } from '../src/study/store.js';
import { computeCurves } from '../src/study/report.js';

const exact = loadStudy(readFileSync(presetPath('softmax-exact'), 'utf8'));
const over = loadStudy(readFileSync(presetPath('softmax-over'), 'utf8'));

function jobAt(study: ResolvedStudy, setting: string, n: number): { study: ResolvedStudy; job: Job } {
  const s = { ...study, ns: [n] };
  const job = planJobs(s).find((j) => j.setting === setting && j.rep === 0);
  if (!job) throw new Error(`no job ${setting}/${n}`);
  return { study: s, job };
}

function info(row: ResultRow): Record<string, unknown> {
  return { status: row.status, iterations: row.iterations, converged: row.converged, ...row.losses };
}

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A throw-away store with `rows` synthetic finished jobs of the full softmax-exact plan. */
function syntheticStore(rows: number): { store: StudyStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'moelab-bench-study-'));
  tempDirs.push(dir);
  const store = StudyStore.create(dir, exact);
  const jobs = planJobs(exact).slice(0, rows);
  for (const j of jobs) {
    store.write({
      jobId: j.id, setting: j.setting, n: j.n, rep: j.rep, seed: j.seed, status: 'ok', error: null, objectiveName: 'logLikelihood', objectiveValue: -1,
      iterations: 5, converged: true, seconds: 0.1, model: '{}', warnings: null,
      losses: { D1: 3 / Math.sqrt(j.n) * (1 + 0.3 * Math.sin(j.rep * 7.1 + j.n)), hellinger: 1 / Math.sqrt(j.n) },
    });
  }
  return { store, dir };
}

export const cases: BenchCase[] = [
  { group: 'study job (softmax presets)', name: 'exact k=2, n=1e4 (fit + D1 + hellinger)', baseline: true, setup: () => jobAt(exact, 'exact', 10000), run: (s) => { const { study, job } = s as ReturnType<typeof jobAt>; return info(runJob(study, job)); } },
  { group: 'study job (softmax presets)', name: 'exact k=2, n=1e5', setup: () => jobAt(exact, 'exact', 100000), run: (s) => { const { study, job } = s as ReturnType<typeof jobAt>; return info(runJob(study, job)); } },
  { group: 'study job (softmax presets)', name: 'over k=3 (5 tries), n=1e3', iterations: 3, setup: () => jobAt(over, 'over3', 1000), run: (s) => { const { study, job } = s as ReturnType<typeof jobAt>; return info(runJob(study, job)); } },
  {
    group: 'study store',
    name: 'write 1000 job rows (one transaction each, WAL)',
    baseline: true,
    run: () => {
      const { store, dir } = syntheticStore(1000);
      const c = store.counts();
      store.close();
      rmSync(dir, { recursive: true, force: true });
      return { rows: c.ok };
    },
  },
  {
    group: 'study report',
    name: 'rate curves of the full softmax-exact store (8000 rows, 2 losses, B = 1000)',
    baseline: true,
    setup: () => syntheticStore(8000),
    run: (s) => {
      const { store } = s as ReturnType<typeof syntheticStore>;
      const { curves } = computeCurves(store);
      return { curves: curves.length, slope: curves[0].slope };
    },
  },
];
