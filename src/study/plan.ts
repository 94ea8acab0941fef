/**
 * Plan: expand a resolved study into deterministic jobs (setting × n × replicate). Each job's seed is
 * deriveSeed(studySeed, setting, n, rep) (src/numeric/rng.ts), so a job depends only on the study
 * and its coordinates: any job re-run alone, in any order, on any worker, gives the same result.
 */
import { deriveSeed } from '../numeric/rng.js';
import type { ResolvedStudy } from './config.js';

export interface Job {
  /** `setting/n/rep`: the store's unique key. */
  id: string;
  setting: string;
  n: number;
  rep: number;
  /** 64-bit seed as a decimal string (JSON- and SQLite-safe). */
  seed: string;
  /** Relative cost estimate (for scheduling and the progress ETA). */
  cost: number;
}

export function jobId(setting: string, n: number, rep: number): string {
  return `${setting}/${n}/${rep}`;
}

/** Relative cost: ∝ n · k² · restarts (a rough EM model; over-specified fits also iterate more). */
export function jobCost(study: ResolvedStudy, setting: string, n: number): number {
  const s = study.settings.find((x) => x.name === setting);
  if (!s) return n;
  const over = s.k > study.kTrue ? 20 : 1;
  return (n + 200) * s.k * s.k * s.restarts * over;
}

/** All jobs of the study in canonical order (setting, n, rep). */
export function planJobs(study: ResolvedStudy): Job[] {
  const jobs: Job[] = [];
  for (const s of study.settings) {
    for (const n of study.ns) {
      const cost = jobCost(study, s.name, n);
      for (let rep = 0; rep < study.replicates; rep++) {
        jobs.push({ id: jobId(s.name, n, rep), setting: s.name, n, rep, seed: deriveSeed(study.seed, s.name, n, rep).toString(), cost });
      }
    }
  }
  return jobs;
}

/**
 * Execution order: replicate waves (all settings and n of replicate 0, then 1, …) so an interrupted
 * run already has every n covered; inside a wave the costliest jobs first (longest-processing-time
 * scheduling keeps all workers busy until the end).
 */
export function executionOrder(jobs: Job[]): Job[] {
  return jobs.slice().sort((a, b) => a.rep - b.rep || b.cost - a.cost || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Number of jobs of the study (settings × sample sizes × replicates), without expanding them. */
export function plannedCount(study: ResolvedStudy): number {
  return study.settings.length * study.ns.length * study.replicates;
}

/**
 * The jobs not in `finished`, lazily, in `executionOrder` (replicate waves, costliest first, then by
 * id): a plan of any size is walked without being held in memory.
 */
export function* pendingJobs(study: ResolvedStudy, finished: ReadonlySet<string> = new Set()): Generator<Job> {
  const cells = study.settings.flatMap((s) => study.ns.map((n) => ({ setting: s.name, n, cost: jobCost(study, s.name, n), key: `${s.name}/${n}/` })));
  // ids of one wave share the rep suffix, so comparing the `setting/n/` prefixes orders them as executionOrder does
  cells.sort((a, b) => b.cost - a.cost || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let rep = 0; rep < study.replicates; rep++) {
    for (const c of cells) {
      const id = jobId(c.setting, c.n, rep);
      if (finished.has(id)) continue;
      yield { id, setting: c.setting, n: c.n, rep, seed: deriveSeed(study.seed, c.setting, c.n, rep).toString(), cost: c.cost };
    }
  }
}

/** Total cost of the pending jobs (for the progress ETA), from per-cell counts of finished jobs. */
export function pendingCost(study: ResolvedStudy, finished: ReadonlySet<string>): { jobs: number; cost: number } {
  const done = new Map<string, number>();
  for (const id of finished) {
    const cut = id.lastIndexOf('/');
    const cell = id.slice(0, cut);
    done.set(cell, (done.get(cell) ?? 0) + 1);
  }
  let jobs = 0;
  let cost = 0;
  for (const s of study.settings) {
    for (const n of study.ns) {
      const left = Math.max(0, study.replicates - (done.get(`${s.name}/${n}`) ?? 0));
      jobs += left;
      cost += left * jobCost(study, s.name, n);
    }
  }
  return { jobs, cost };
}
